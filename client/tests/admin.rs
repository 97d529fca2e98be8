//! The `bolide-admin` binary against a live NameServer and broker on
//! loopback: each command's output is checked. Bounded in time.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Output};

use bolide_client::message::{Message, SendResult};
use bolide_client::producer::{BlockingProducer, ProducerConfig};
use support::{commit_offset, row, wait_for_route, Cluster};

fn admin(namesrv: SocketAddr, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bolide-admin"))
        .args(args)
        .args(["-n", &namesrv.to_string()])
        .env_remove("NAMESRV_ADDR")
        .output()
        .expect("run bolide-admin")
}

/// Runs a command that must succeed; returns its stdout.
fn admin_ok(namesrv: SocketAddr, args: &[&str]) -> String {
    let out = admin(namesrv, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn admin_commands_against_a_live_cluster() {
    let cluster = Cluster::start();
    let ns = cluster.namesrv_addr();
    let broker = cluster.broker_addr().to_string();
    let topic = "AdminTopic";

    let created = admin_ok(
        ns,
        &[
            "updateTopic",
            "-b",
            &broker,
            "-t",
            topic,
            "-r",
            "2",
            "-w",
            "2",
        ],
    );
    assert!(
        created.contains(&format!("create topic to {broker} success.")),
        "{created}"
    );
    wait_for_route(ns, topic, 2);

    let list = admin_ok(ns, &["topicList"]);
    assert!(list.lines().any(|l| l == topic), "{list}");

    let route = admin_ok(ns, &["topicRoute", "-t", topic]);
    assert_eq!(
        row(&route, "DefaultCluster"),
        ["DefaultCluster", "broker-a", "0", broker.as_str()]
    );
    assert_eq!(row(&route, "broker-a"), ["broker-a", "2", "2", "6"]);

    let clusters = admin_ok(ns, &["clusterList"]);
    assert_eq!(
        row(&clusters, "DefaultCluster")[..4],
        ["DefaultCluster", "broker-a", "0", broker.as_str()]
    );

    let producer =
        BlockingProducer::start(ProducerConfig::new("PG", ns.to_string())).expect("producer");
    let sent: Vec<SendResult> = (0..6)
        .map(|i| {
            let msg = Message::new(topic, format!("body-{i}"))
                .with_key(format!("order-{}", i % 3))
                .with_tags("TagA");
            producer.send(msg).expect("send")
        })
        .collect();
    producer.shutdown();

    let status = admin_ok(ns, &["topicStatus", "-t", topic]);
    for queue in ["0", "1"] {
        let line = status
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(queue))
            .unwrap_or_else(|| panic!("queue {queue} missing:\n{status}"));
        // broker, qid, min, max, date, time
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cells[..4],
            ["broker-a", queue, "0", "3"],
            "6 messages over 2 queues"
        );
        assert!(cells[4].starts_with("20"), "last update date: {line}");
    }

    commit_offset(cluster.broker_addr(), "CG", topic, 0, 1);
    let progress = admin_ok(ns, &["consumerProgress", "-g", "CG", "-t", topic]);
    let q0 = progress
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some("0"))
        .expect("queue 0");
    assert_eq!(
        q0.split_whitespace().collect::<Vec<_>>()[3..],
        ["3", "1", "2"],
        "{progress}"
    );
    let q1 = progress
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some("1"))
        .expect("queue 1");
    assert_eq!(
        q1.split_whitespace().collect::<Vec<_>>()[3..],
        ["3", "-", "3"],
        "{progress}"
    );
    assert!(progress.contains("Diff Total: 5"), "{progress}");

    let first = &sent[0];
    let by_id = admin_ok(ns, &["queryMsgById", "-i", &first.offset_msg_id]);
    assert!(
        by_id.contains(&format!("MsgID             {}", first.msg_id)),
        "{by_id}"
    );
    assert!(by_id.contains("Message Body      body-0"), "{by_id}");
    assert!(by_id.contains("Keys              order-0"), "{by_id}");
    assert!(by_id.contains("Tags              TagA"), "{by_id}");

    let by_uniq = admin_ok(
        ns,
        &["queryMsgByUniqueKey", "-t", topic, "-i", &sent[2].msg_id],
    );
    assert!(
        by_uniq.contains(&format!("OffsetID          {}", sent[2].offset_msg_id)),
        "{by_uniq}"
    );
    assert!(by_uniq.contains("Message Body      body-2"), "{by_uniq}");
    assert_eq!(by_uniq.matches("MsgID ").count(), 1, "{by_uniq}");

    let by_key = admin_ok(ns, &["queryMsgByKey", "-t", topic, "-k", "order-1"]);
    let ids: Vec<&str> = by_key
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut want: Vec<&str> = [&sent[1], &sent[4]]
        .iter()
        .map(|r| r.msg_id.as_str())
        .collect();
    let mut got = ids.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "{by_key}");

    let deleted = admin_ok(ns, &["deleteTopic", "-c", "DefaultCluster", "-t", topic]);
    assert!(deleted.contains("from NameServer success."), "{deleted}");
}

#[test]
fn admin_errors_exit_non_zero_with_a_message() {
    let cluster = Cluster::start();
    let ns = cluster.namesrv_addr();
    let cases: [(&[&str], i32, &str); 6] = [
        (&["topicRoute", "-t", "NoSuchTopic"], 1, "TOPIC_NOT_EXIST"),
        (&["topicRoute"], 2, "needs -t"),
        (&["frobnicate"], 2, "unrecognized subcommand 'frobnicate'"),
        (&["queryMsgById", "-i", "XYZ"], 1, "message id"),
        (
            &["queryMsgByUniqueKey", "-t", "TBW102", "-i", "00AA"],
            1,
            "no message with id 00AA",
        ),
        (&["updateTopic", "-t", "T"], 2, "needs -c CLUSTER or -b"),
    ];
    for (args, code, needle) in cases {
        let out = admin(ns, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    let dead = Command::new(env!("CARGO_BIN_EXE_bolide-admin"))
        .args(["topicList", "-n", "127.0.0.1:1"])
        .output()
        .expect("run");
    assert_eq!(dead.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dead.stderr).contains("127.0.0.1:1"));
}
