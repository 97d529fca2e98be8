//! `bolide-admin` as operators type it, with the real binary: the command
//! line (help, per-command help, version, unknown options and commands
//! refused with a suggestion) and the commands added after the first cut
//! (`topicClusterList`, `sendMessage`, `printMsg`, `consumeMessage`,
//! `queryMsgByOffset`, `queryMsgById` with either id, `getBrokerConfig`,
//! `updateSubGroup`, `deleteSubGroup`, `consumerProgress` without `-t`,
//! `consumerConnection` and `producerConnection` with real Rust clients
//! connected, `resetOffsetByTime`, `statsAll`) against a NameServer and
//! broker on loopback, named `localhost:PORT`.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::rc::Rc;
use std::time::Duration;

use bolide_client::remoting::{Connection, NoInbound};
use bolide_proto::codes::request_code as req;
use bolide_proto::RemotingCommand;
use support::{commit_offset, eventually, row, run, wait_for_route, Cluster, TIMEOUT};

fn admin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bolide-admin"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .expect("run bolide-admin")
}

/// (exit code, stdout, stderr).
fn outcome(args: &[&str]) -> (Option<i32>, String, String) {
    let out = admin(args);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// `localhost:PORT` of a loopback address: what an operator types.
fn by_name(addr: SocketAddr) -> String {
    format!("localhost:{}", addr.port())
}

/// Runs a command with `-n localhost:PORT` that must succeed; its stdout.
fn ok(ns: SocketAddr, args: &[&str]) -> String {
    let mut all = args.to_vec();
    let ns = by_name(ns);
    all.extend(["-n", ns.as_str()]);
    let (code, stdout, stderr) = outcome(&all);
    assert_eq!(code, Some(0), "{args:?}: {stderr}\n{stdout}");
    stdout
}

/// Runs a command that must fail with exit code 1; its stderr.
fn fails(ns: SocketAddr, args: &[&str]) -> String {
    let mut all = args.to_vec();
    let ns = by_name(ns);
    all.extend(["--namesrvAddr", ns.as_str()]);
    let (code, stdout, stderr) = outcome(&all);
    assert_eq!(code, Some(1), "{args:?}: {stderr}\n{stdout}");
    stderr
}

#[test]
fn help_version_and_usage_errors() {
    for help in [&["--help"][..], &["-h"], &["help"]] {
        let (code, stdout, _) = outcome(help);
        assert_eq!(code, Some(0), "{help:?}");
        for command in ["updateTopic", "sendMessage", "printMsg", "queryMsgByOffset"] {
            assert!(
                stdout.contains(command),
                "{help:?} lists {command}:\n{stdout}"
            );
        }
    }
    let (code, stdout, _) = outcome(&["updateTopic", "-h"]);
    assert_eq!(code, Some(0));
    for option in [
        "-t, --topic <TOPIC>",
        "-b, --brokerAddr",
        "-c, --clusterName",
        "-n, --namesrvAddr",
    ] {
        assert!(stdout.contains(option), "{option}:\n{stdout}");
    }
    let (code, stdout, _) = outcome(&["--version"]);
    let want = concat!("bolide-admin ", env!("CARGO_PKG_VERSION"));
    assert_eq!((code, stdout.trim()), (Some(0), want));
    let cases: [(&[&str], &str); 5] = [
        (&["topicList", "-z", "1"], "unexpected argument '-z' found"),
        (&["topicLst"], "'topicList'"),
        (
            &["updateTopic", "--tpoic", "T"],
            "a similar argument exists: '--topic'",
        ),
        (&["topicList"], "no NameServer"),
        (&[], "Usage: bolide-admin"),
    ];
    for (args, needle) in cases {
        let (code, stdout, stderr) = outcome(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
}

/// `sendMessage` to a chosen queue; the MsgId (UNIQ_KEY) it printed.
fn send(ns: SocketAddr, topic: &str, body: &str, tag: &str, queue: &str) -> String {
    let out = ok(
        ns,
        &[
            "sendMessage",
            "-t",
            topic,
            "-p",
            body,
            "-c",
            tag,
            "-k",
            "k1 k2",
            "-b",
            "broker-a",
            "-i",
            queue,
        ],
    );
    let cells = row(&out, "broker-a");
    assert_eq!(cells[1..3], [queue, "SEND_OK"], "{out}");
    assert!(
        out.starts_with("#Broker Name  #QID  #Send Result  #MsgId"),
        "{out}"
    );
    cells[3].to_owned()
}

/// How many message lines `printMsg` printed.
fn message_lines(print: &str) -> usize {
    print.lines().filter(|l| l.starts_with("MSGID: ")).count()
}

/// The `OFFSET_MSGID` of `printMsg`'s line for `msg_id`.
fn offset_id_of(print: &str, msg_id: &str) -> String {
    let line = print
        .lines()
        .find(|l| l.starts_with(&format!("MSGID: {msg_id} ")))
        .unwrap_or_else(|| panic!("{msg_id} missing in\n{print}"));
    line.split_whitespace()
        .nth(3)
        .expect("offset id")
        .to_owned()
}

/// `line` split on whitespace, run as [`ok`].
fn ok_line(ns: SocketAddr, line: &str) -> String {
    ok(ns, &line.split_whitespace().collect::<Vec<_>>())
}

/// A cluster whose topic `CliTopic` holds three messages sent with
/// `sendMessage`: two (TagA, TagB) in queue 0, one (TagA) in queue 1.
struct Sent {
    cluster: Cluster,
    ids: [String; 3],
}

fn three_messages() -> Sent {
    let cluster = Cluster::start();
    let ns = cluster.namesrv_addr();
    let broker = by_name(cluster.broker_addr());
    ok_line(
        ns,
        &format!("updateTopic --brokerAddr {broker} -t CliTopic -r 2 -w 2"),
    );
    wait_for_route(ns, "CliTopic", 2);
    let ids = [
        send(ns, "CliTopic", "first", "TagA", "0"),
        send(ns, "CliTopic", "second", "TagB", "0"),
        send(ns, "CliTopic", "third", "TagA", "1"),
    ];
    Sent { cluster, ids }
}

#[test]
fn messages_printed_and_consumed() {
    let Sent { cluster, ids } = three_messages();
    let ns = cluster.namesrv_addr();
    let print = ok_line(ns, "printMsg -t CliTopic");
    for (queue, max) in [(0, 2), (1, 1)] {
        let header = format!("minOffset=0, maxOffset={max}, MessageQueue [topic=CliTopic, brokerName=broker-a, queueId={queue}]");
        assert!(print.contains(&header), "{header}\n{print}");
    }
    assert_eq!(message_lines(&print), 3, "{print}");
    let line = print.lines().find(|l| l.contains(&ids[1])).expect("second");
    assert!(line.contains("QUEUE_OFFSET: 1 "), "{line}");
    assert!(
        line.ends_with("TAGS: TagB KEYS: k1 k2 BODY: second"),
        "{line}"
    );
    let tag_a = ok_line(ns, "printMsg -t CliTopic -s TagA -d false");
    assert_eq!(tag_a.matches("BODY: NOT PRINT BODY").count(), 2, "{tag_a}");
    assert!(!tag_a.contains(&ids[1]), "{tag_a}");
    let none = ok_line(ns, "printMsg -t CliTopic -b 0 -e 1");
    assert_eq!(message_lines(&none), 0, "{none}");

    let one = ok_line(ns, "consumeMessage -t CliTopic -c 1");
    assert_eq!(one.matches("Message Body").count(), 1, "{one}");
    let from = ok_line(ns, "consumeMessage -t CliTopic -b broker-a -i 0 -o 1");
    assert_eq!(from.matches("Message Body").count(), 1, "{from}");
    assert!(
        from.contains(&format!("MsgID             {}", ids[1])),
        "{from}"
    );
    let all = ok_line(ns, "consumeMessage -t CliTopic");
    assert_eq!(all.matches("Message Body").count(), 3, "{all}");
    assert_eq!(
        ok_line(ns, "topicClusterList -t CliTopic"),
        "DefaultCluster\n"
    );
}

#[test]
fn messages_found_by_offset_and_by_either_id() {
    let Sent { cluster, ids } = three_messages();
    let ns = cluster.namesrv_addr();
    let at = ok_line(ns, "queryMsgByOffset -t CliTopic -b broker-a -i 1 -o 0");
    assert!(
        at.contains(&format!("MsgID             {}", ids[2])),
        "{at}"
    );
    assert!(at.contains("Message Body      third"), "{at}");
    let args = "queryMsgByOffset -t CliTopic -b broker-a -i 1 -o 7";
    let err = fails(ns, &args.split_whitespace().collect::<Vec<_>>());
    assert!(err.contains("no message at offset 7"), "{err}");

    // The producer printed the UNIQ_KEY; the offset id is what the broker
    // answered: queryMsgById takes either.
    let by_uniq = ok(ns, &["queryMsgById", "-i", &ids[0]]);
    assert!(by_uniq.contains("Message Body      first"), "{by_uniq}");
    let in_topic = ok(ns, &["queryMsgById", "-i", &ids[2], "-t", "CliTopic"]);
    assert!(in_topic.contains("Message Body      third"), "{in_topic}");
    let print = ok_line(ns, "printMsg -t CliTopic");
    let offset_id = offset_id_of(&print, &ids[1]);
    let by_offset_id = ok(ns, &["queryMsgById", "-i", &offset_id]);
    let want = format!("MsgID             {}", ids[1]);
    assert!(by_offset_id.contains(&want), "{by_offset_id}");
    let err = fails(
        ns,
        &["queryMsgById", "-i", "0123456789ABCDEF0123456789ABCDEF"],
    );
    assert!(err.contains("no message with id"), "{err}");
}

#[test]
fn broker_configs() {
    let cluster = Cluster::start();
    let ns = cluster.namesrv_addr();
    let broker = cluster.broker_addr().to_string();
    let config = ok(
        ns,
        &["getBrokerConfig", "-b", &by_name(cluster.broker_addr())],
    );
    assert_eq!(
        row(&config, "brokerName"),
        ["brokerName", "=", "broker-a"],
        "{config}"
    );
    assert_eq!(row(&config, "brokerClusterName")[2], "DefaultCluster");
    let by_cluster = ok_line(ns, "getBrokerConfig -c DefaultCluster");
    let header = format!("============{broker}============\n");
    assert!(by_cluster.starts_with(&header), "{by_cluster}");
    assert_eq!(
        row(&by_cluster, "listenPort")[2],
        cluster.broker_addr().port().to_string()
    );
}

#[test]
fn subscription_groups() {
    let cluster = Cluster::start();
    let ns = cluster.namesrv_addr();
    let broker = cluster.broker_addr().to_string();
    let err = fails(ns, &["consumerProgress", "-g", "NoSuchGroup"]);
    assert!(err.contains("NoSuchGroup does not exist"), "{err}");
    let created = ok_line(
        ns,
        "updateSubGroup -c DefaultCluster -g CliGroup -r 3 -o true",
    );
    let want = format!("create subscription group to {broker} success.");
    assert!(created.contains(&want), "{created}");
    for field in [
        "groupName=CliGroup",
        "retryMaxTimes=3",
        "consumeMessageOrderly=true",
    ] {
        assert!(created.contains(field), "{field}: {created}");
    }
    let empty = ok_line(ns, "consumerProgress -g CliGroup");
    assert!(
        empty.contains("Consume Group: CliGroup\nDiff Total: 0"),
        "{empty}"
    );
    let deleted = ok(ns, &["deleteSubGroup", "-b", &broker, "-g", "CliGroup"]);
    let want = format!("delete subscription group [CliGroup] from broker [{broker}] success.\n");
    assert_eq!(deleted, want);
    fails(ns, &["consumerProgress", "-g", "CliGroup"]);
}

#[test]
fn consumer_progress_without_a_topic_lists_every_topic_of_the_group() {
    let cluster = Cluster::start();
    let ns = cluster.namesrv_addr();
    for topic in ["ProgA", "ProgB"] {
        ok_line(
            ns,
            &format!("updateTopic -c DefaultCluster -t {topic} -r 1 -w 1"),
        );
        wait_for_route(ns, topic, 1);
        ok_line(ns, &format!("sendMessage -t {topic} -p x"));
        ok_line(ns, &format!("sendMessage -t {topic} -p y"));
        commit_offset(cluster.broker_addr(), "ProgGroup", topic, 0, 1);
    }
    let progress = ok_line(ns, "consumerProgress -g ProgGroup");
    for topic in ["ProgA", "ProgB"] {
        let want = [topic, "broker-a", "0", "2", "1", "1"];
        assert_eq!(row(&progress, topic), want, "{progress}");
    }
    assert!(progress.contains("Diff Total: 2"), "{progress}");
    let only = ok_line(ns, "consumerProgress -g ProgGroup -t ProgB");
    assert!(!only.contains("ProgA"), "{only}");
    assert!(only.contains("Diff Total: 1"), "{only}");
}

/// Whether the broker at `addr` holds committed offsets of `group` on
/// `topic` (GET_ALL_CONSUMER_OFFSET).
fn holds_offsets(addr: SocketAddr, group: &str, topic: &str) -> bool {
    let key = format!("{topic}@{group}");
    run(move || async move {
        let conn = Connection::connect(addr, Rc::new(NoInbound), 16 << 20, TIMEOUT)
            .await
            .expect("connect");
        let request = RemotingCommand::request(req::GET_ALL_CONSUMER_OFFSET);
        let response = conn.invoke(request, TIMEOUT).await.expect("offsets");
        String::from_utf8_lossy(&response.body).contains(&key)
    })
}

/// A group whose master is gone is still found on its slave (which
/// copied its offsets), as the failover compatibility scenario needs.
#[test]
fn consumer_progress_reads_the_slave_once_the_master_is_gone() {
    let mut cluster = Cluster::start_with_slave();
    let ns = cluster.namesrv_addr();
    ok_line(ns, "updateTopic -c DefaultCluster -t SlaveTopic -r 1 -w 1");
    wait_for_route(ns, "SlaveTopic", 1);
    commit_offset(cluster.broker_addr(), "SlaveGroup", "SlaveTopic", 0, 0);
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !holds_offsets(cluster.slave_addr(), "SlaveGroup", "SlaveTopic") {
        assert!(
            std::time::Instant::now() < deadline,
            "the slave never copied the group's offsets"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    cluster.stop_master();
    let progress = ok_line(ns, "consumerProgress -g SlaveGroup");
    let cells = row(&progress, "SlaveTopic");
    assert_eq!(cells[..3], ["SlaveTopic", "broker-a", "0"], "{progress}");
    assert_eq!(cells[4], "0", "the committed offset, read from the slave");
}

/// Runs a command until it succeeds (clients register by heartbeat, a
/// little after they start); its stdout, or the last failure's stderr.
fn ok_eventually(ns: SocketAddr, line: &str) -> String {
    let args: Vec<&str> = line.split_whitespace().collect();
    let ns = by_name(ns);
    let mut last = String::new();
    let done = eventually(Duration::from_secs(10), || {
        let mut all = args.clone();
        all.extend(["-n", ns.as_str()]);
        let (code, stdout, stderr) = outcome(&all);
        last = if code == Some(0) { stdout } else { stderr };
        code == Some(0)
    });
    assert!(done, "{line}: {last}");
    last
}

fn connected_consumer(ns: SocketAddr) -> bolide_client::consumer::PushConsumerHandle {
    use bolide_client::consumer::{ConsumeFrom, ConsumeStatus, LocalOffsets, PushConsumer};
    PushConsumer::builder("ConnGroup")
        .namesrv(&ns.to_string())
        .subscribe("ConnTopic", "TagA || TagB")
        .consume_from(ConsumeFrom::FirstOffset)
        .config(|c| {
            c.heartbeat_interval = Duration::from_millis(500);
            c.local_offsets = LocalOffsets::Memory;
        })
        .listener(|_| ConsumeStatus::Success)
        .start()
        .expect("consumer starts")
}

#[test]
fn consumer_and_producer_connections() {
    use bolide_client::message::Message;
    use bolide_client::producer::{BlockingProducer, ProducerConfig};
    let cluster = Cluster::start();
    let ns = cluster.namesrv_addr();
    ok_line(ns, "updateTopic -c DefaultCluster -t ConnTopic -r 2 -w 2");
    wait_for_route(ns, "ConnTopic", 2);
    let err = fails(ns, &["consumerConnection", "-g", "ConnGroup"]);
    assert!(
        err.contains("the consumer group[ConnGroup] not online"),
        "{err}"
    );
    let consumer = connected_consumer(ns);
    let out = ok_eventually(ns, "consumerConnection -g ConnGroup");
    let member = row(&out, "001");
    assert_eq!(member.len(), 5, "{out}");
    assert!(member[2].starts_with("127.0.0.1:"), "{out}");
    assert_eq!(member[4], "V5_3_3", "{out}");
    for line in [
        "\n\nBelow is subscription:\n001  Topic: %RETRY%ConnGroup ",
        "\n002  Topic: ConnTopic ",
        "SubExpression: TagA || TagB\n",
        "\nConsumeType: CONSUME_PASSIVELY\n",
        "MessageModel: CLUSTERING\n",
        "ConsumeFromWhere: CONSUME_FROM_FIRST_OFFSET\n",
    ] {
        assert!(out.contains(line), "{line:?}:\n{out}");
    }
    consumer.shutdown().expect("consumer stops");

    let config = ProducerConfig::new("ConnProducers", ns.to_string());
    let producer = BlockingProducer::start(config).expect("producer");
    producer.send(Message::new("ConnTopic", "x")).expect("send");
    let out = ok_eventually(ns, "producerConnection -g ConnProducers -t ConnTopic");
    let member = row(&out, "0001");
    assert_eq!(member.len(), 5, "{out}");
    assert!(member[2].starts_with("127.0.0.1:"), "{out}");
    assert_eq!(member[4], "V5_3_3", "{out}");
    let args = ["producerConnection", "-g", "NoProducers", "-t", "ConnTopic"];
    let err = fails(ns, &args);
    assert!(
        err.contains("the producer group[NoProducers] not exist"),
        "{err}"
    );
    producer.shutdown();
}

#[test]
fn offsets_reset_by_time() {
    let cluster = Cluster::start();
    let ns = cluster.namesrv_addr();
    ok_line(ns, "updateTopic -c DefaultCluster -t ResetTopic -r 2 -w 2");
    wait_for_route(ns, "ResetTopic", 2);
    ok_line(ns, "updateSubGroup -c DefaultCluster -g ResetGroup");
    for queue in ["0", "0", "1"] {
        send(ns, "ResetTopic", "m", "TagA", queue);
    }
    let now = ok_line(ns, "resetOffsetByTime -g ResetGroup -t ResetTopic -s now");
    assert!(
        now.starts_with(
            "rollback consumer offset by specified group[ResetGroup], topic[ResetTopic], \
             force[true], timestamp(string)[now], timestamp(long)[-1]\n#brokerName"
        ),
        "{now}"
    );
    let queues: Vec<Vec<&str>> = now
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        queues,
        [["broker-a", "0", "2"], ["broker-a", "1", "1"]],
        "{now}"
    );
    let progress = ok_line(ns, "consumerProgress -g ResetGroup -t ResetTopic");
    assert!(progress.contains("Diff Total: 0"), "{progress}");
    let back = ok_line(
        ns,
        "resetOffsetByTime -g ResetGroup -t ResetTopic -s 0 -f true",
    );
    assert!(back.contains("timestamp(long)[0]"), "{back}");
    assert_eq!(row(&back, "broker-a"), ["broker-a", "0", "0"], "{back}");
    let progress = ok_line(ns, "consumerProgress -g ResetGroup -t ResetTopic");
    assert!(progress.contains("Diff Total: 3"), "{progress}");
    let err = fails(
        ns,
        &[
            "resetOffsetByTime",
            "-g",
            "NoSuchGroup",
            "-t",
            "ResetTopic",
            "-s",
            "now",
        ],
    );
    assert!(err.contains("Group NoSuchGroup does not exist"), "{err}");
    fails(
        ns,
        &[
            "resetOffsetByTime",
            "-g",
            "ResetGroup",
            "-t",
            "NoSuchTopic",
            "-s",
            "now",
        ],
    );
    let (code, _, err) = outcome(&[
        "resetOffsetByTime",
        "-g",
        "G",
        "-t",
        "T",
        "-s",
        "yesterday",
        "-n",
        "localhost:1",
    ]);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn stats_all_per_topic_and_group() {
    let cluster = Cluster::start();
    let ns = cluster.namesrv_addr();
    for topic in ["StatsTopic", "LonelyTopic"] {
        ok_line(
            ns,
            &format!("updateTopic -c DefaultCluster -t {topic} -r 1 -w 1"),
        );
        wait_for_route(ns, topic, 1);
        for body in ["a", "b", "c"] {
            ok_line(ns, &format!("sendMessage -t {topic} -p {body}"));
        }
    }
    commit_offset(cluster.broker_addr(), "StatsGroup", "StatsTopic", 0, 1);
    let one = ok_line(ns, "statsAll -t StatsTopic");
    assert!(
        one.starts_with("#Topic      #Consumer Group  #Accumulation  #InTPS  #OutTPS  #InMsgTotal  #OutMsgTotal\n"),
        "{one}"
    );
    let want = ["StatsTopic", "StatsGroup", "2", "0.00", "0.00", "3", "1"];
    assert_eq!(row(&one, "StatsTopic"), want, "{one}");
    assert!(!one.contains("LonelyTopic"), "{one}");
    let all = ok_line(ns, "statsAll -a");
    assert_eq!(row(&all, "StatsTopic"), want, "{all}");
    let lonely = ["LonelyTopic", "0", "0.00", "3", "NO_CONSUMER"];
    assert_eq!(row(&all, "LonelyTopic"), lonely, "{all}");
    assert!(!all.contains("%RETRY%"), "{all}");
    fails(ns, &["statsAll", "-t", "NoSuchTopic"]);
}
