//! Master-slave replication over loopback: a NameServer, a master and a
//! slave of one broker group, each with two shards. A sync master answers
//! a send once the slave holds it (and says so when no slave is there); the
//! slave serves what it copied and refuses sends; it catches up after its
//! own restart, after the master's, and cuts its log when the master comes
//! back with less than the slave already holds. Waits poll against a
//! deadline; nothing asserts on speed.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bolide_broker::config::{BrokerConfig, FlushModeName, Role};
use bolide_proto::codes::response_code as rsp;
use bolide_proto::message::records;
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::Connection;
use support::*;

const TOPIC: &str = "ReplTopic";
const GROUP: &str = "ReplGroup";
const QUEUES: i32 = 4;
const DEADLINE: Duration = Duration::from_secs(30);

fn master_config(data: &Path, ns: SocketAddr, role: Role) -> BrokerConfig {
    let mut c = broker_config(data, ns, FlushModeName::Async);
    c.replication.role = role;
    c
}

fn slave_of(master: &BrokerConfig, data: &Path, ns: SocketAddr) -> BrokerConfig {
    let mut c = broker_config(data, ns, FlushModeName::Async);
    c.broker.broker_id = 1;
    c.replication.role = Role::Slave;
    c.replication.master_addr = format!("127.0.0.1:{}", master.replication_port());
    c.replication.metadata_sync_interval_ms = 200;
    c
}

async fn send(conn: &Connection, queue: i32, body: &[u8]) -> RemotingCommand {
    let req = send_request(TOPIC, queue, body, "t", "k");
    conn.invoke(req, TIMEOUT).await.expect("send answered")
}

/// Every body in a queue of the broker at `conn`, from offset 0 (None
/// while the broker does not know the topic yet).
async fn bodies(conn: &Connection, queue: i32) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let req = pull_request(GROUP, TOPIC, queue, out.len() as i64, "*", 0);
        let rsp = conn.invoke(req, TIMEOUT).await.expect("pull answered");
        match rsp.code {
            rsp::SUCCESS => {}
            rsp::PULL_NOT_FOUND | rsp::PULL_RETRY_IMMEDIATELY | rsp::PULL_OFFSET_MOVED => {
                return Some(out)
            }
            _ => return None,
        }
        let body = rsp.body;
        for record in records(&body) {
            out.push(record.expect("a valid record").body().to_vec());
        }
    }
}

/// Every queue's bodies.
async fn all_bodies(conn: &Connection) -> Option<Vec<Vec<Vec<u8>>>> {
    let mut all = Vec::new();
    for q in 0..QUEUES {
        all.push(bodies(conn, q).await?);
    }
    Some(all)
}

/// Waits until the slave serves exactly what the master does.
async fn slave_matches(master: &Connection, slave: &Connection) -> Vec<Vec<Vec<u8>>> {
    let want = all_bodies(master)
        .await
        .expect("the master serves the topic");
    eventually(
        "the slave serves the master's messages",
        DEADLINE,
        || async { all_bodies(slave).await.filter(|got| *got == want) },
    )
    .await
}

#[test]
fn a_sync_master_answers_once_the_slave_holds_the_send() {
    let ns = start_namesrv();
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mconf = master_config(mdir.path(), ns.addr(), Role::SyncMaster);
    let sconf = slave_of(&mconf, sdir.path(), ns.addr());
    let master = start_broker(mconf);
    let maddr = master.addr();
    // No slave yet: stored, and said so.
    run(move || async move {
        let conn = connect(maddr).await;
        let rsp = send(&conn, 0, b"before the slave").await;
        assert_eq!(rsp.code, rsp::SLAVE_NOT_AVAILABLE, "{:?}", rsp.remark);
        assert!(
            rsp.ext_fields.contains_key("msgId"),
            "the message was stored"
        );
    });
    let slave = start_broker(sconf);
    let saddr = slave.addr();
    run(move || async move {
        let (m, s) = (connect(maddr).await, connect(saddr).await);
        // Every probe is stored, replicated or not.
        let mut probes = 0;
        eventually("the slave connects", DEADLINE, || {
            probes += 1;
            async { (send(&m, 1, b"probe").await.code == rsp::SUCCESS).then_some(()) }
        })
        .await;
        for i in 0..200u32 {
            let body = format!("message {i}").repeat(1 + i as usize % 7);
            let rsp = send(&m, (i % QUEUES as u32) as i32, body.as_bytes()).await;
            assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
        }
        let copied = slave_matches(&m, &s).await;
        assert_eq!(copied[0][0], b"before the slave");
        assert_eq!(copied.iter().map(Vec::len).sum::<usize>(), 201 + probes);
        let refused = send(&s, 0, b"to the slave").await;
        assert_eq!(
            refused.code,
            rsp::SERVICE_NOT_AVAILABLE,
            "a slave refuses sends"
        );
    });
    slave.shutdown().unwrap();
    run(move || async move {
        let m = connect(maddr).await;
        eventually("the master notices the slave left", DEADLINE, || async {
            (send(&m, 2, b"alone").await.code == rsp::SLAVE_NOT_AVAILABLE).then_some(())
        })
        .await;
    });
    master.shutdown().unwrap();
    ns.shutdown();
}

#[test]
fn a_slave_catches_up_after_its_own_restart_and_the_masters() {
    let ns = start_namesrv();
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mconf = master_config(mdir.path(), ns.addr(), Role::AsyncMaster);
    let sconf = slave_of(&mconf, sdir.path(), ns.addr());
    let master = start_broker(mconf.clone());
    let maddr = master.addr();
    let fill = move |from: u32, count: u32| {
        run(move || async move {
            let m = connect(maddr).await;
            for i in from..from + count {
                let body = vec![b'a' + (i % 26) as u8; 100 + (i as usize * 37) % 3000];
                let rsp = send(&m, (i % QUEUES as u32) as i32, &body).await;
                assert_eq!(rsp.code, rsp::SUCCESS);
            }
        })
    };
    // Enough to cross several 1 MiB segments before the slave exists.
    fill(0, 2000);
    let check = move |saddr: SocketAddr| {
        run(move || async move {
            let (m, s) = (connect(maddr).await, connect(saddr).await);
            slave_matches(&m, &s).await;
        })
    };
    let slave = start_broker(sconf.clone());
    check(slave.addr());
    slave.shutdown().unwrap();
    fill(2000, 300);
    let slave = start_broker(sconf.clone());
    check(slave.addr());
    master.shutdown().unwrap();
    let master = start_broker(mconf);
    let maddr = master.addr();
    run(move || async move {
        let m = connect(maddr).await;
        for i in 0..50 {
            assert_eq!(
                send(&m, i % QUEUES, b"after the restart").await.code,
                rsp::SUCCESS
            );
        }
    });
    check(slave.addr());
    slave.shutdown().unwrap();
    master.shutdown().unwrap();
    ns.shutdown();
}

/// Copies a stopped broker's data directory.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        match entry.file_type().unwrap().is_dir() {
            true => copy_dir(&entry.path(), &target),
            false => {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
}

#[test]
fn a_slave_cuts_what_a_master_that_came_back_shorter_no_longer_has() {
    let ns = start_namesrv();
    let (mdir, sdir, old) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mconf = master_config(mdir.path(), ns.addr(), Role::AsyncMaster);
    let sconf = slave_of(&mconf, sdir.path(), ns.addr());
    let send_all = |addr: SocketAddr, tag: &'static str, count: i32| {
        run(move || async move {
            let m = connect(addr).await;
            for i in 0..count {
                let body = format!("{tag} {i}");
                assert_eq!(
                    send(&m, i % QUEUES, body.as_bytes()).await.code,
                    rsp::SUCCESS
                );
            }
        })
    };
    let master = start_broker(mconf.clone());
    send_all(master.addr(), "kept", 100);
    master.shutdown().unwrap();
    // What a master that loses its newest records comes back with.
    copy_dir(mdir.path(), old.path());
    let master = start_broker(mconf.clone());
    let slave = start_broker(sconf);
    send_all(master.addr(), "lost", 100);
    let (maddr, saddr) = (master.addr(), slave.addr());
    run(move || async move {
        slave_matches(&connect(maddr).await, &connect(saddr).await).await;
    });
    master.shutdown().unwrap();
    std::fs::remove_dir_all(mdir.path()).unwrap();
    copy_dir(old.path(), mdir.path());
    let master = start_broker(mconf);
    send_all(master.addr(), "new", 150);
    let maddr = master.addr();
    run(move || async move {
        let copied = slave_matches(&connect(maddr).await, &connect(saddr).await).await;
        let all: Vec<String> = copied
            .concat()
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect();
        assert_eq!(all.len(), 250);
        assert!(
            all.iter().all(|b| !b.starts_with("lost")),
            "cut records never served"
        );
    });
    slave.shutdown().unwrap();
    master.shutdown().unwrap();
    ns.shutdown();
}
