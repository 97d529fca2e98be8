//! kill -9 of the real broker binary during production, in sync flush and
//! in the default (async) mode: every send the broker acknowledged must be
//! consumable after a restart. Then a SIGTERM must stop the restarted
//! broker cleanly.

mod support;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide_proto::codes::response_code as rsp;
use bolide_proto::message::records;
use support::process::spawn_broker;
use support::*;

const TOPIC: &str = "DurableTopic";
const QUEUES: i32 = 4;
const ACKS_BEFORE_KILL: usize = 300;
const SENDERS: usize = 8;

/// A broker config; `store_extra` adds `[store]` lines (the flush mode).
fn write_config(
    dir: &std::path::Path,
    port: u16,
    namesrv: std::net::SocketAddr,
    store_extra: &str,
) -> std::path::PathBuf {
    let replication = format!("listen_port = {}\n", free_ports(2));
    write_role_config(dir, port, namesrv, store_extra, &replication)
}

/// A broker config with `[replication]` lines (which set its ports and
/// maybe the role) and a broker id to match.
fn write_role_config(
    dir: &std::path::Path,
    port: u16,
    namesrv: std::net::SocketAddr,
    store_extra: &str,
    replication: &str,
) -> std::path::PathBuf {
    let id = match replication.contains("\"slave\"") {
        true => 1,
        false => 0,
    };
    let text = format!(
        "[broker]\nlisten_host = \"127.0.0.1\"\nlisten_port = {port}\nvip_port = false\n\
         namesrv_addrs = [\"{namesrv}\"]\nshards = 2\nmax_message_bytes = 65536\nbroker_id = {id}\n\n\
         [store]\ndata_dir = \"{}\"\nsegment_size_bytes = 1048576\n{store_extra}\n\
         [replication]\n{replication}",
        dir.join("data").display(),
    );
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("broker.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn body(sender: usize, seq: usize) -> Vec<u8> {
    // About 600 bytes: the sends of eight senders waiting at once can fill
    // more than a page, which lets sync mode start rounds beside one
    // another.
    let label = format!("sender-{sender}-seq-{seq}|");
    label.repeat(600 / label.len() + 1).into_bytes()
}

/// Acknowledged sends: (queue, queue offset) → body.
type Acks = BTreeMap<(i32, i64), Vec<u8>>;

/// Sends until `kill_after` acknowledgements, then kills the broker; sender
/// `sender` of round `round` sends bodies `round * 1_000_000 + seq`.
fn produce_until_killed(
    addr: std::net::SocketAddr,
    mut child: Child,
    round: usize,
    kill_after: usize,
) -> Acks {
    let (tx, rx) = std::sync::mpsc::channel();
    run(move || async move {
        let acks: Rc<RefCell<Acks>> = Rc::default();
        let killed = Rc::new(std::cell::Cell::new(false));
        let tasks: Vec<_> = (0..SENDERS)
            .map(|sender| {
                let (acks, killed) = (acks.clone(), killed.clone());
                glommio::spawn_local(async move {
                    // Right after a restart the first connection may land
                    // on the dead process's lingering listener: a send that
                    // gets no answer reconnects, until the kill.
                    let Some(mut conn) = connect_until_killed(addr, &killed).await else {
                        return;
                    };
                    for seq in (round * 1_000_000).. {
                        let queue = ((sender + seq) % QUEUES as usize) as i32;
                        let request = send_request(TOPIC, queue, &body(sender, seq), "t", "k");
                        let sent = conn.invoke(request, Duration::from_secs(2)).await;
                        if killed.get() {
                            return;
                        }
                        match sent {
                            Ok(rsp) if rsp.code == rsp::SUCCESS => {
                                let key = (queue, ext_i64(&rsp, "queueOffset"));
                                acks.borrow_mut().insert(key, body(sender, seq));
                            }
                            Ok(_) => glommio::timer::sleep(Duration::from_millis(20)).await,
                            Err(_) => match connect_until_killed(addr, &killed).await {
                                Some(c) => conn = c,
                                None => return,
                            },
                        }
                    }
                })
            })
            .collect();
        let started = Instant::now();
        while acks.borrow().len() < kill_after {
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!(
                    "only {} of {kill_after} sends acknowledged in 60 s",
                    acks.borrow().len()
                );
            }
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
        killed.set(true);
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        for t in tasks {
            t.await;
        }
        tx.send(acks.take()).unwrap();
    });
    rx.recv().unwrap()
}

/// A broker that must not outlive a failed test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connects, retrying (for at most 20 s) until the broker is killed.
async fn connect_until_killed(
    addr: std::net::SocketAddr,
    killed: &std::cell::Cell<bool>,
) -> Option<bolide_transport::remoting::Connection> {
    let started = Instant::now();
    while !killed.get() {
        let handler = Rc::new(bolide_transport::remoting::NoInbound);
        match bolide_transport::remoting::Connection::connect(addr, handler, 16 << 20, TIMEOUT)
            .await
        {
            Ok(c) => return Some(c),
            Err(e) => assert!(
                started.elapsed() < Duration::from_secs(20),
                "cannot connect: {e}"
            ),
        }
        glommio::timer::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Pulls one batch, reconnecting on transport errors: right after a
/// kill -9 the dead process's listening socket can linger while io_uring
/// tears down, so the first connections may be reset.
async fn pull_with_retry(
    conn: &mut bolide_transport::remoting::Connection,
    addr: std::net::SocketAddr,
    group: &str,
    queue: i32,
    offset: i64,
) -> bolide_proto::RemotingCommand {
    let started = Instant::now();
    loop {
        match conn
            .invoke(pull_request(group, TOPIC, queue, offset, "*", 0), TIMEOUT)
            .await
        {
            Ok(rsp) => return rsp,
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "broker unreachable after restart: {e}"
                );
                glommio::timer::sleep(Duration::from_millis(50)).await;
                *conn = connect_with_retry(addr).await;
            }
        }
    }
}

async fn connect_with_retry(addr: std::net::SocketAddr) -> bolide_transport::remoting::Connection {
    let started = Instant::now();
    loop {
        let handler = Rc::new(bolide_transport::remoting::NoInbound);
        match bolide_transport::remoting::Connection::connect(addr, handler, 16 << 20, TIMEOUT)
            .await
        {
            Ok(c) => return c,
            Err(e) => assert!(
                started.elapsed() < Duration::from_secs(20),
                "cannot connect after restart: {e}"
            ),
        }
        glommio::timer::sleep(Duration::from_millis(50)).await;
    }
}

fn consume_all(addr: std::net::SocketAddr) -> Acks {
    consume_all_as(addr, "G")
}

/// Every stored message, pulled as consumer group `group`.
fn consume_all_as(addr: std::net::SocketAddr, group: &'static str) -> Acks {
    try_consume_all_as(addr, group).expect("the broker knows the topic")
}

/// [`consume_all_as`], or `None` while the broker does not know the topic
/// (a restarted slave before its first metadata round).
fn try_consume_all_as(addr: std::net::SocketAddr, group: &'static str) -> Option<Acks> {
    let (tx, rx) = std::sync::mpsc::channel();
    run(move || async move {
        let mut conn = connect_with_retry(addr).await;
        let mut stored = Acks::new();
        for queue in 0..QUEUES {
            let mut offset = 0;
            loop {
                let rsp = pull_with_retry(&mut conn, addr, group, queue, offset).await;
                if rsp.code == rsp::TOPIC_NOT_EXIST {
                    tx.send(None).unwrap();
                    return;
                }
                if rsp.code != rsp::SUCCESS {
                    assert_eq!(rsp.code, rsp::PULL_NOT_FOUND, "{:?}", rsp.remark);
                    break;
                }
                for r in records(&rsp.body) {
                    let r = r.unwrap();
                    assert!(r.crc_ok());
                    stored.insert((queue, r.queue_offset().0 as i64), r.body().to_vec());
                }
                offset = ext_i64(&rsp, "nextBeginOffset");
            }
        }
        tx.send(Some(stored)).unwrap();
    });
    rx.recv().unwrap()
}

/// Sync mode keeps several rounds' writes in flight per shard (a round
/// starts beside the others once a page of sends waits): kills at
/// different points, each followed by recovery and more sends, lose
/// nothing acknowledged.
#[test]
fn acknowledged_sync_sends_survive_repeated_kill_9() {
    kill_9_rounds("flush_mode = \"sync\"\n", &[ACKS_BEFORE_KILL, 1500, 700]);
}

/// The default mode answers before the disk write; its unwritten tail
/// outlives the process. Several kills at different points, each followed
/// by recovery and more sends, lose nothing.
#[test]
fn acknowledged_default_mode_sends_survive_repeated_kill_9() {
    kill_9_rounds("", &[ACKS_BEFORE_KILL, 1500, 700, 3000]);
}

/// For each entry of `kills`: start the broker, send until that many
/// acknowledgements, kill -9. Then restart, check every acknowledged send
/// is stored, and stop with SIGTERM.
fn kill_9_rounds(store_extra: &str, kills: &[usize]) {
    let ns = start_namesrv();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, ns.addr(), store_extra);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    let mut acks = Acks::new();
    for (round, kill_after) in kills.iter().enumerate() {
        let round_acks =
            produce_until_killed(addr, spawn_broker(&config, port), round, *kill_after);
        assert!(round_acks.len() >= *kill_after);
        acks.extend(round_acks);
    }

    let mut restarted = KillOnDrop(spawn_broker(&config, port));
    assert_none_lost(&acks, &consume_all(addr));

    terminate(&mut restarted);
    ns.shutdown();
}

fn assert_none_lost(acks: &Acks, stored: &Acks) {
    let lost: Vec<_> = acks
        .iter()
        .filter(|(key, body)| stored.get(key) != Some(body))
        .map(|(key, _)| *key)
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages lost or changed, first {:?}",
        lost.len(),
        acks.len(),
        &lost[..lost.len().min(5)]
    );
}

/// SIGTERM, which must stop the broker cleanly.
fn terminate(broker: &mut KillOnDrop) {
    let status = Command::new("kill")
        .args(["-TERM", &broker.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = broker.0.wait().unwrap();
    assert!(
        exit.success(),
        "SIGTERM should stop the broker cleanly: {exit:?}"
    );
}

/// A sync master killed with kill -9 at seeded moments under load: every
/// send it acknowledged is on the slave, which serves it while the master
/// is down; the restarted master begins a new epoch and streams on.
/// `BOLIDE_REPLICA_KILL_SEEDS=N` runs N kills (2 by default).
#[test]
fn sync_master_acknowledged_sends_are_on_the_slave_after_kill_9() {
    let kills: u64 = std::env::var("BOLIDE_REPLICA_KILL_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let ns = start_namesrv();
    let dir = tempfile::tempdir().unwrap();
    let pair = master_and_slave(dir.path(), ns.addr());
    let (maddr, saddr) = (pair.master_addr, pair.slave_addr);
    let mut slave = KillOnDrop(pair.spawn_slave());
    let mut acks = Acks::new();
    for round in 0..kills {
        let kill_after = 200 + (splitmix(round) % 1500) as usize;
        let master = pair.spawn_master();
        if round == 0 {
            slave_learns_the_topic(&pair);
        }
        acks.extend(produce_until_killed(
            maddr,
            master,
            round as usize,
            kill_after,
        ));
        // The master is down: the slave serves every acknowledged send.
        assert_none_lost(&acks, &consume_all_as(saddr, "SlaveReader"));
    }
    terminate(&mut slave);
    ns.shutdown();
}

/// A slave killed with kill -9 twice under load from a sync master: the
/// master keeps answering (the messages are stored there, SLAVE_NOT_AVAILABLE
/// while no slave is connected), and the restarted slave catches up to
/// hold exactly what the master holds.
#[test]
fn a_slave_killed_under_load_catches_up_with_its_master() {
    let ns = start_namesrv();
    let dir = tempfile::tempdir().unwrap();
    let pair = master_and_slave(dir.path(), ns.addr());
    let (maddr, saddr) = (pair.master_addr, pair.slave_addr);
    let mut master = KillOnDrop(pair.spawn_master());
    let first = pair.spawn_slave();
    slave_learns_the_topic(&pair);
    let mut acks = produce_until_killed(maddr, first, 0, 400);
    acks.extend(produce_until_killed(maddr, pair.spawn_slave(), 1, 900));
    let mut slave = KillOnDrop(pair.spawn_slave());
    let stored = consume_all(maddr);
    assert_none_lost(&acks, &stored);
    let started = Instant::now();
    while try_consume_all_as(saddr, "SlaveReader").as_ref() != Some(&stored) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the slave never caught up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    terminate(&mut slave);
    terminate(&mut master);
    ns.shutdown();
}

/// A sync master never answers SUCCESS for a send its slave does not hold:
/// with the slave frozen (SIGSTOP) a send waits out the timeout and answers
/// FLUSH_SLAVE_TIMEOUT (stored on the master); once the slave runs again,
/// sends succeed and the slave holds the timed-out one too.
#[test]
fn a_sync_master_does_not_acknowledge_what_a_frozen_slave_lacks() {
    let ns = start_namesrv();
    let dir = tempfile::tempdir().unwrap();
    let pair = master_and_slave(dir.path(), ns.addr());
    let (maddr, saddr) = (pair.master_addr, pair.slave_addr);
    let mut master = KillOnDrop(pair.spawn_master());
    let mut slave = KillOnDrop(pair.spawn_slave());
    slave_learns_the_topic(&pair);
    let signal = |sig: &str| {
        let pid = slave.0.id().to_string();
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    };
    let send_code = move |body: &'static [u8]| {
        let (tx, rx) = std::sync::mpsc::channel();
        run(move || async move {
            let m = connect_with_retry(maddr).await;
            let rsp = m
                .invoke(send_request(TOPIC, 1, body, "t", "k"), TIMEOUT)
                .await;
            tx.send(rsp.expect("answered").code).unwrap();
        });
        rx.recv().unwrap()
    };
    let until_success = |what| {
        let started = Instant::now();
        while send_code(b"probe") != rsp::SUCCESS {
            assert!(started.elapsed() < Duration::from_secs(30), "{what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    until_success("the slave never connected");
    signal("-STOP");
    assert_eq!(send_code(b"while frozen"), rsp::FLUSH_SLAVE_TIMEOUT);
    signal("-CONT");
    until_success("no success after the slave resumed");
    let on_slave = consume_all_as(saddr, "SlaveReader");
    assert!(
        on_slave.values().any(|b| b == b"while frozen"),
        "stored and copied"
    );
    terminate(&mut slave);
    terminate(&mut master);
    ns.shutdown();
}

/// A sync master and its slave, configured under one directory.
struct Pair {
    master_conf: std::path::PathBuf,
    slave_conf: std::path::PathBuf,
    master_addr: std::net::SocketAddr,
    slave_addr: std::net::SocketAddr,
}

impl Pair {
    fn spawn_master(&self) -> Child {
        spawn_broker(&self.master_conf, self.master_addr.port())
    }

    fn spawn_slave(&self) -> Child {
        spawn_broker(&self.slave_conf, self.slave_addr.port())
    }
}

/// Writes the configs of a sync master and its slave under `dir`.
fn master_and_slave(dir: &std::path::Path, ns: std::net::SocketAddr) -> Pair {
    let (mport, sport, repl) = (free_port(), free_port(), free_ports(2));
    let master_conf = write_role_config(
        &dir.join("master"),
        mport,
        ns,
        "",
        &format!("listen_port = {repl}\nrole = \"sync_master\"\n"),
    );
    let slave_conf = write_role_config(
        &dir.join("slave"),
        sport,
        ns,
        "",
        &format!(
            "listen_port = {}\nrole = \"slave\"\nmaster_addr = \"127.0.0.1:{repl}\"\n\
             metadata_sync_interval_ms = 200\n",
            free_ports(2)
        ),
    );
    let addr = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    Pair {
        master_conf,
        slave_conf,
        master_addr: addr(mport),
        slave_addr: addr(sport),
    }
}

fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Creates the topic on the master and waits until the slave copied it
/// (a slave serves only topics it knows, as RocketMQ's).
/// On failure it prints both brokers' logs.
fn slave_learns_the_topic(pair: &Pair) {
    let (master, slave) = (pair.master_addr, pair.slave_addr);
    let learned = std::panic::catch_unwind(|| {
        run(move || async move {
            let m = connect_with_retry(master).await;
            let s = connect_with_retry(slave).await;
            let create = send_request(TOPIC, 0, b"creates the topic", "t", "k");
            m.invoke(create, TIMEOUT).await.expect("send answered");
            eventually(
                "the slave knows the topic",
                Duration::from_secs(30),
                || async {
                    let pull = pull_request("SlaveReader", TOPIC, 0, 0, "*", 0);
                    let code = s.invoke(pull, TIMEOUT).await.ok()?.code;
                    (code != rsp::TOPIC_NOT_EXIST).then_some(())
                },
            )
            .await;
        })
    });
    if let Err(panic) = learned {
        for conf in [&pair.master_conf, &pair.slave_conf] {
            let log = std::fs::read_to_string(conf.with_extension("log")).unwrap_or_default();
            eprintln!("--- {}:\n{log}", conf.display());
        }
        std::panic::resume_unwind(panic);
    }
}
