//! A real crash: a child process appends on real files (O_DIRECT through
//! io_uring) and prints each acknowledged append; the test kills it with
//! SIGKILL mid-stream, reopens the store and checks that every
//! acknowledged message is present, byte-identical, and that the consume
//! queues agree with the log. In sync mode and in the default async mode
//! (whose unwritten tail outlives the process in a mapped ring).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bolide_proto::ids::{PhysicalOffset, ShardId};
use bolide_proto::message::{NewMessage, RecordView};
use bolide_store::io::dma::DmaStorage;
use bolide_store::store::{GetRequest, ShardStore};
use bolide_store::{FlushMode, StoreConfig};
use bytes::Bytes;

const DIR_ENV: &str = "BOLIDE_KILL9_DIR";
const MODE_ENV: &str = "BOLIDE_KILL9_MODE";
const TOPIC: &str = "K9";
const QUEUES: u32 = 4;
const APPENDERS: u32 = 16;
/// Acknowledgements to see before each kill: five lives of one store.
const ACKS_BEFORE_KILLS: [usize; 5] = [150, 400, 250, 600, 100];

fn config(mode: FlushMode) -> StoreConfig {
    StoreConfig {
        flush_mode: mode,
        // Async mode: keep a long unwritten, unsynced tail at the kill.
        flush_interval_ms: 60_000,
        flush_trigger_bytes: 1 << 30,
        // Sync mode: small buffers, several per round, and a round
        // overlaps another in flight once a page waits: several writes are
        // in flight at the kill.
        write_buffer_bytes: match mode {
            FlushMode::Sync => 16 << 10,
            _ => 256 << 10,
        },
        max_unflushed_bytes: 64 << 20,
        ..StoreConfig::for_tests()
    }
}

fn mode_from_env() -> FlushMode {
    match std::env::var(MODE_ENV).as_deref() {
        Ok("async") => FlushMode::Async,
        _ => FlushMode::Sync,
    }
}

/// Body of appender `task`'s `seq`-th message: recomputable by the checker.
fn body(task: u32, seq: u32) -> Vec<u8> {
    format!("task-{task}-seq-{seq}|")
        .repeat(1 + (seq % 40) as usize)
        .into_bytes()
}

fn message(task: u32, seq: u32) -> NewMessage {
    let host: SocketAddr = "127.0.0.1:10911".parse().expect("addr");
    NewMessage {
        topic: TOPIC.into(),
        queue_id: task % QUEUES,
        flag: 0,
        sys_flag: 0,
        born_timestamp: seq as i64,
        born_host: host,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: Bytes::from(body(task, seq)),
        properties: String::new(),
    }
}

fn run<F: std::future::Future<Output = ()> + 'static>(make: impl FnOnce() -> F + Send + 'static) {
    glommio::LocalExecutorBuilder::default()
        .spawn(make)
        .expect("executor")
        .join()
        .expect("executor thread");
}

/// The child: appends until killed, printing `ACK task seq physical queue_offset`.
#[test]
#[ignore = "child process of the kill9_* tests"]
fn kill9_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    run(move || async move {
        let (store, _) = ShardStore::open(
            DmaStorage::new(),
            config(mode_from_env()),
            &PathBuf::from(dir),
            ShardId(0),
        )
        .await
        .expect("open");
        let tasks: Vec<_> = (0..APPENDERS)
            .map(|task| {
                let store = store.clone();
                glommio::spawn_local(async move {
                    for seq in 0..u32::MAX {
                        let r = store.append(message(task, seq)).await.expect("append");
                        println!(
                            "ACK {task} {seq} {} {}",
                            r.physical_offset.0, r.queue_offset.0
                        );
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
}

#[derive(Clone)]
struct Ack {
    task: u32,
    seq: u32,
    physical: u64,
    queue_offset: u64,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut f = line
        .strip_prefix("ACK ")?
        .split(' ')
        .map(|x| x.parse::<u64>().ok());
    Some(Ack {
        task: f.next()?? as u32,
        seq: f.next()?? as u32,
        physical: f.next()??,
        queue_offset: f.next()??,
    })
}

fn acks_until_killed(dir: &std::path::Path, mode: &str, acks_before_kill: usize) -> Vec<Ack> {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "kill9_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .env(MODE_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let started = Instant::now();
    let mut lines = BufReader::new(stdout).lines();
    let mut acks = Vec::new();
    while acks.len() < acks_before_kill && started.elapsed() < Duration::from_secs(60) {
        match lines.next() {
            Some(Ok(line)) => acks.extend(parse_ack(&line)),
            _ => break,
        }
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // Lines printed before the kill were acknowledged too.
    acks.extend(lines.map_while(Result::ok).filter_map(|l| parse_ack(&l)));
    acks
}

#[test]
fn kill9_sync_acknowledged_appends_survive() {
    kill9_acknowledged_appends_survive("sync", FlushMode::Sync);
}

#[test]
fn kill9_async_acknowledged_appends_survive() {
    kill9_acknowledged_appends_survive("async", FlushMode::Async);
}

/// Three lives, each killed mid-stream; after each, every append any life
/// acknowledged is checked.
fn kill9_acknowledged_appends_survive(name: &str, mode: FlushMode) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut acks = Vec::new();
    for acks_before_kill in ACKS_BEFORE_KILLS {
        let life = acks_until_killed(tmp.path(), name, acks_before_kill);
        assert!(
            life.len() >= 50,
            "child acknowledged only {} appends",
            life.len()
        );
        acks.extend(life);
        check_after_kill(tmp.path().to_path_buf(), mode, &acks);
    }
}

fn check_after_kill(dir: PathBuf, mode: FlushMode, acks: &[Ack]) {
    let acks: Vec<Ack> = acks.to_vec();
    run(move || async move {
        let (store, report) = ShardStore::open(DmaStorage::new(), config(mode), &dir, ShardId(0))
            .await
            .expect("reopen after kill -9");
        assert!(
            !report.clean,
            "a killed process must be recovered as unclean"
        );
        for ack in &acks {
            let bytes = store
                .read_record(PhysicalOffset(ack.physical))
                .await
                .expect("acknowledged record");
            let view = RecordView::parse(&bytes).expect("valid record");
            assert!(view.crc_ok());
            assert_eq!(
                view.body(),
                &body(ack.task, ack.seq)[..],
                "task {} seq {}",
                ack.task,
                ack.seq
            );
            assert_eq!(view.queue_offset().0, ack.queue_offset);
            assert_eq!(view.queue_id(), ack.task % QUEUES);
        }
        for queue in 0..QUEUES {
            check_queue_agrees_with_log(&store, queue).await;
        }
        store.close().await.expect("close");
    });
}

async fn check_queue_agrees_with_log(store: &ShardStore<DmaStorage>, queue: u32) {
    let mut offset = store.min_offset(TOPIC, queue);
    let max = store.max_offset(TOPIC, queue);
    while offset < max {
        let req = GetRequest {
            topic: TOPIC,
            queue_id: queue,
            offset,
            max_count: 32,
            max_bytes: 1 << 20,
            tag_codes: None,
            record_filter: None,
        };
        let got = store.get_messages(&req).await.expect("pull");
        assert!(
            got.message_count > 0,
            "queue {queue} stalls at {offset} < {max}"
        );
        for record in bolide_proto::message::records(&got.messages) {
            let view = record.expect("pulled record decodes");
            assert!(view.crc_ok());
            assert_eq!(view.queue_offset().0, offset, "queue {queue} out of order");
            offset += 1;
        }
    }
}
