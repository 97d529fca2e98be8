//! kill -9 of the real broker binary holding a committed and an unresolved
//! transaction: after a restart (async flush, the default) the unresolved
//! one is checked again — its check count carried over — and committed
//! once, and the committed one is neither checked nor delivered again.

mod support;

use std::rc::Rc;

use bolide_proto::codes::response_code as rsp;
use bolide_proto::header::transaction::commit_or_rollback::{COMMIT, NOT_TYPE};
use bolide_proto::message::RecordView;
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::Connection;
use support::process::spawn_broker;
use support::txn::*;
use support::*;

const TOPIC: &str = "TxRestart";
const GROUP: &str = "TxRestartProducers";

fn write_config(
    dir: &std::path::Path,
    port: u16,
    namesrv: std::net::SocketAddr,
) -> std::path::PathBuf {
    let text = format!(
        "[broker]\nlisten_host = \"127.0.0.1\"\nlisten_port = {port}\nvip_port = false\n\
         namesrv_addrs = [\"{namesrv}\"]\nshards = 2\nmax_message_bytes = 65536\n\n\
         [store]\ndata_dir = \"{}\"\nsegment_size_bytes = 1048576\n\n\
         [replication]\nlisten_port = {}\n\n\
         [transaction]\ncheck_interval_ms = 50\ntimeout_ms = 0\ncheck_max = 1000\n",
        dir.join("data").display(),
        free_ports(2),
    );
    let path = dir.join("broker.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A producer connection that heartbeated its group. Retried: a freshly
/// spawned broker may refuse or drop the first connections while it starts.
async fn producer(addr: std::net::SocketAddr) -> (Connection, Rc<Inbox>) {
    eventually("a producer connection", TIMEOUT, || async {
        let inbox = Rc::new(Inbox::default());
        let conn = Connection::connect(addr, inbox.clone(), 16 << 20, TIMEOUT)
            .await
            .ok()?;
        let answer = conn.invoke(producer_heartbeat("p1", GROUP), TIMEOUT).await;
        (answer.ok()?.code == rsp::SUCCESS).then_some((conn, inbox))
    })
    .await
}

/// END_TRANSACTION, again while the shard's book is still being rebuilt.
async fn end(conn: &Connection, half: &HalfSent, verdict: i32) -> RemotingCommand {
    eventually("the transaction book is open", TIMEOUT, || async {
        let request = end_request(GROUP, half, verdict, false);
        let answer = conn.invoke(request, TIMEOUT).await.unwrap();
        (answer.code != rsp::SERVICE_NOT_AVAILABLE).then_some(answer)
    })
    .await
}

fn check_times(check: &RemotingCommand) -> u32 {
    let record = RecordView::parse(&check.body).unwrap();
    let times = record.properties().get("TRANSACTION_CHECK_TIMES").unwrap();
    times.parse().unwrap()
}

fn checked_uniq(check: &RemotingCommand) -> String {
    check
        .ext_fields
        .get("transactionId")
        .unwrap_or_default()
        .to_owned()
}

/// First life: commits A, leaves B unknown until it has been checked; returns
/// B's highest check count seen.
fn first_life(addr: std::net::SocketAddr) -> u32 {
    let (tx, rx) = std::sync::mpsc::channel();
    run(move || async move {
        let (conn, inbox) = producer(addr).await;
        let created = conn.invoke(create_topic_request(TOPIC, 2), TIMEOUT).await;
        assert_eq!(created.unwrap().code, rsp::SUCCESS);
        let send =
            |queue, uniq: &'static str| half_request(TOPIC, queue, GROUP, uniq, uniq.as_bytes());
        let a = HalfSent::of(&conn.invoke(send(0, "U-A"), TIMEOUT).await.unwrap());
        assert_eq!(end(&conn, &a, COMMIT).await.code, rsp::SUCCESS);
        let b = HalfSent::of(&conn.invoke(send(1, "U-B"), TIMEOUT).await.unwrap());
        assert_eq!(end(&conn, &b, NOT_TYPE).await.code, rsp::SUCCESS);
        let checked = eventually("B checked before the kill", TIMEOUT, || async {
            let checks = inbox.checks();
            (checks.len() >= 2).then_some(checks)
        })
        .await;
        assert!(checked.iter().all(|c| checked_uniq(c) == "U-B"));
        tx.send(checked.iter().map(check_times).max().unwrap())
            .unwrap();
    });
    rx.recv().unwrap()
}

#[test]
fn after_kill_9_the_unresolved_transaction_is_checked_again_and_the_committed_one_stays_once() {
    let ns = start_namesrv();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, ns.addr());
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();

    let mut child = spawn_broker(&config, port);
    let checks_before = first_life(addr);
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = spawn_broker(&config, port);
    run(move || async move {
        let (conn, inbox) = producer(addr).await;
        let check = eventually("B checked after the restart", TIMEOUT, || async {
            inbox.checks().into_iter().next()
        })
        .await;
        assert_eq!(checked_uniq(&check), "U-B", "only the unresolved one");
        assert!(
            check_times(&check) > checks_before,
            "the check count survived"
        );
        let mut answer = end_request(GROUP, &checked_half(&check), COMMIT, true);
        answer.mark_oneway();
        conn.invoke_oneway(answer).await.unwrap();
        let b = eventually("B committed", TIMEOUT, || async {
            let got = pull_all(&conn, TOPIC, 1).await;
            (!got.is_empty()).then_some(got)
        })
        .await;
        assert_eq!(b, [(b"U-B".to_vec(), "U-B".to_owned())]);
        let a = pull_all(&conn, TOPIC, 0).await;
        assert_eq!(
            a,
            [(b"U-A".to_vec(), "U-A".to_owned())],
            "A once, not again"
        );
        assert!(inbox.checks().iter().all(|c| checked_uniq(c) == "U-B"));
    });
    child.kill().unwrap();
    child.wait().unwrap();
    ns.shutdown();
}
