//! Transactional messages over real sockets (2-shard broker): half
//! messages stay invisible, END_TRANSACTION commits once or rolls back,
//! RocketMQ's refusals, and the broker's check-back over the producer's own
//! connection, answered like a client answers it.

mod support;

use std::rc::Rc;

use bolide_proto::codes::response_code as rsp;
use bolide_proto::header::transaction::commit_or_rollback::{COMMIT, NOT_TYPE, ROLLBACK};
use bolide_proto::message::RecordView;
use bolide_transport::remoting::Connection;
use support::txn::*;
use support::*;

const TOPIC: &str = "TxTopic";
const GROUP: &str = "TxProducers";

/// Sends END_TRANSACTION until the shard's book is open (it is rebuilt
/// right after start), then returns the answer.
async fn end(conn: &Connection, half: &HalfSent, verdict: i32) -> bolide_proto::RemotingCommand {
    eventually("the transaction book is open", TIMEOUT, || async {
        let answer = conn
            .invoke(end_request(GROUP, half, verdict, false), TIMEOUT)
            .await
            .unwrap();
        (answer.code != rsp::SERVICE_NOT_AVAILABLE).then_some(answer)
    })
    .await
}

async fn send_half(conn: &Connection, queue: i32, uniq: &str) -> HalfSent {
    let request = half_request(TOPIC, queue, GROUP, uniq, uniq.as_bytes());
    HalfSent::of(&conn.invoke(request, TIMEOUT).await.unwrap())
}

#[test]
fn commit_delivers_once_and_rollback_never() {
    with_broker(
        |_| {},
        |addr, _| async move {
            let conn = connect(addr).await;
            let created = conn.invoke(create_topic_request(TOPIC, 4), TIMEOUT).await;
            assert_eq!(created.unwrap().code, rsp::SUCCESS);
            let to_commit = send_half(&conn, 1, "U-commit").await;
            let to_roll_back = send_half(&conn, 2, "U-rollback").await;
            assert!(
                pull_all(&conn, TOPIC, 1).await.is_empty(),
                "half is invisible"
            );

            let answer = end(&conn, &to_commit, COMMIT).await;
            assert_eq!(answer.code, rsp::SUCCESS, "{:?}", answer.remark);
            let delivered = pull_all(&conn, TOPIC, 1).await;
            assert_eq!(delivered, [(b"U-commit".to_vec(), "U-commit".to_owned())]);

            let answer = end(&conn, &to_roll_back, ROLLBACK).await;
            assert_eq!(answer.code, rsp::SUCCESS, "{:?}", answer.remark);
            assert!(pull_all(&conn, TOPIC, 2).await.is_empty());

            // The same verdict again (a check-back answer racing the
            // producer's own) changes nothing; another verdict is refused.
            let again = end(&conn, &to_commit, COMMIT).await;
            assert_eq!(again.code, rsp::SUCCESS);
            assert_eq!(again.remark.as_deref(), Some("already committed"));
            assert_eq!(
                end(&conn, &to_commit, ROLLBACK).await.code,
                rsp::SYSTEM_ERROR
            );
            assert_eq!(
                end(&conn, &to_roll_back, COMMIT).await.code,
                rsp::SYSTEM_ERROR
            );
            assert_eq!(pull_all(&conn, TOPIC, 1).await.len(), 1, "delivered once");
            assert!(pull_all(&conn, TOPIC, 2).await.is_empty());
        },
    );
}

#[test]
fn end_transaction_refusals_are_rocketmqs() {
    with_broker(
        |_| {},
        |addr, _| async move {
            let conn = connect(addr).await;
            let half = send_half(&conn, 0, "U-1").await;
            let plain = send_request(TOPIC, 0, b"plain", "t", "k");
            let plain = HalfSent::of(&conn.invoke(plain, TIMEOUT).await.unwrap());
            let unknown = HalfSent {
                commit_log_offset: half.commit_log_offset + (1 << 30),
                ..half.clone()
            };
            let wrong_offset = HalfSent {
                queue_offset: half.queue_offset + 1,
                ..half.clone()
            };
            let cases = [
                (unknown, GROUP, "Find prepared transaction message failed"),
                (plain, GROUP, "is not a half message"),
                (
                    wrong_offset,
                    GROUP,
                    "The transaction state table offset wrong",
                ),
                (half.clone(), "OtherGroup", "The producer group wrong"),
            ];
            for (target, group, why) in cases {
                let request = end_request(group, &target, COMMIT, false);
                let answer = conn.invoke(request, TIMEOUT).await.unwrap();
                assert_eq!(answer.code, rsp::SYSTEM_ERROR, "{why}");
                let remark = answer.remark.unwrap_or_default();
                assert!(remark.contains(why), "{remark:?} lacks {why:?}");
            }
            // An unknown state changes nothing; the message is still pending.
            assert_eq!(end(&conn, &half, NOT_TYPE).await.code, rsp::SUCCESS);
            assert!(
                pull_all(&conn, TOPIC, 0).await.len() == 1,
                "only the plain one"
            );
            assert_eq!(end(&conn, &half, COMMIT).await.code, rsp::SUCCESS);
            assert_eq!(pull_all(&conn, TOPIC, 0).await.len(), 2);
            // No half message in a batch (RocketMQ's store refuses them).
            let mut batch = half_request(TOPIC, 0, GROUP, "U-2", b"x");
            batch.ext_fields.insert("m", "true");
            let answer = conn.invoke(batch, TIMEOUT).await.unwrap();
            assert_eq!(answer.code, rsp::MESSAGE_ILLEGAL, "{:?}", answer.remark);
        },
    );
}

/// Connects a producer whose connection collects the broker's requests,
/// and heartbeats its group there.
async fn producer(addr: std::net::SocketAddr) -> (Connection, Rc<Inbox>) {
    let inbox = Rc::new(Inbox::default());
    let conn = Connection::connect(addr, inbox.clone(), 16 << 20, TIMEOUT)
        .await
        .unwrap();
    let answer = conn.invoke(producer_heartbeat("p1", GROUP), TIMEOUT).await;
    assert_eq!(answer.unwrap().code, rsp::SUCCESS);
    (conn, inbox)
}

fn quick_checks(c: &mut bolide_broker::config::BrokerConfig) {
    c.transaction.check_interval_ms = 50;
    c.transaction.timeout_ms = 0;
    c.transaction.check_max = 3;
}

#[test]
fn an_unknown_transaction_is_checked_over_the_producer_connection_and_committed_once() {
    with_broker(quick_checks, |addr, _| async move {
        let (conn, inbox) = producer(addr).await;
        let half = send_half(&conn, 3, "U-check").await;
        assert_eq!(end(&conn, &half, NOT_TYPE).await.code, rsp::SUCCESS);

        let check = eventually("a check-back", TIMEOUT, || async {
            inbox.checks().into_iter().next()
        })
        .await;
        assert!(check.is_oneway());
        assert_eq!(check.ext_fields.get("transactionId"), Some("U-check"));
        assert_eq!(check.ext_fields.get("msgId"), Some("U-check"));
        assert!(check.ext_fields.get("offsetMsgId").is_some());
        let shown = RecordView::parse(&check.body).unwrap();
        assert_eq!((shown.topic(), shown.queue_id()), (TOPIC, 3));
        assert_eq!(shown.properties().get("PGROUP"), Some(GROUP));
        assert_eq!(shown.body(), b"U-check");

        // Answered like a C++ producer: oneway, from the check.
        let asked = checked_half(&check);
        let mut answer = end_request(GROUP, &asked, COMMIT, true);
        answer.mark_oneway();
        conn.invoke_oneway(answer).await.unwrap();
        let delivered = eventually("the commit", TIMEOUT, || async {
            let got = pull_all(&conn, TOPIC, 3).await;
            (!got.is_empty()).then_some(got)
        })
        .await;
        assert_eq!(delivered, [(b"U-check".to_vec(), "U-check".to_owned())]);
        // The producer's own late commit (its first offsets) and a second
        // answer to the check deliver nothing more.
        assert_eq!(
            end(&conn, &half, COMMIT).await.remark.as_deref(),
            Some("already committed")
        );
        assert_eq!(end(&conn, &asked, COMMIT).await.code, rsp::SUCCESS);
        assert_eq!(pull_all(&conn, TOPIC, 3).await.len(), 1);
    });
}

#[test]
fn a_transaction_never_resolved_is_discarded_after_check_max_checks() {
    with_broker(quick_checks, |addr, _| async move {
        let (conn, inbox) = producer(addr).await;
        let half = send_half(&conn, 0, "U-never").await;
        let discarded = eventually("the discard", TIMEOUT, || async {
            let got = pull_if_exists(&conn, "TRANS_CHECK_MAX_TIME_TOPIC", 0).await;
            (!got.is_empty()).then_some(got)
        })
        .await;
        assert_eq!(discarded, [(b"U-never".to_vec(), "U-never".to_owned())]);
        // Nothing is checked after the discard: wait for the checks sent
        // before it, then count them.
        eventually("three checks", TIMEOUT, || async {
            (inbox.checks().len() >= 3).then_some(())
        })
        .await;
        let checks = inbox.checks();
        assert_eq!(checks.len(), 3, "check_max checks, then the discard");
        let bodies = checks.iter().map(|c| {
            RecordView::parse(&c.body)
                .unwrap()
                .properties()
                .get("TRANSACTION_CHECK_TIMES")
                .map(str::to_owned)
        });
        let counts: Vec<_> = bodies.collect();
        assert_eq!(
            counts,
            [Some("1".into()), Some("2".into()), Some("3".into())]
        );
        let answer = end(&conn, &half, COMMIT).await;
        assert_eq!(
            answer.code,
            rsp::SYSTEM_ERROR,
            "discarded: too late to commit"
        );
        assert!(pull_all(&conn, TOPIC, 0).await.is_empty());
    });
}
