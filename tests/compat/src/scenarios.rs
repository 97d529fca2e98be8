//! The compatibility scenarios, each written once and run for every
//! [`Client`]. Each starts its own broker, so scenarios are independent and
//! may run in parallel. Waits are bounded by deadlines; the few fixed pauses
//! exist because the clients act on timers (offset auto-commit every 5 s)
//! and are named after what they wait for.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::admin;
use crate::broker::{Broker, ReplicaPair};
use crate::clients::{
    Client, Consumer, Mode, Pace, Produce, Received, Sent, Transactor, Verdict, PULL_BATCH,
};

/// Longest wait for messages to arrive at a consumer.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a consumer is watched after the expected messages arrived, to
/// catch extra deliveries (duplicates, messages the filter should drop).
const QUIET_PERIOD: Duration = Duration::from_secs(3);
/// Both clients commit consumed offsets to the broker every 5 s; waiting
/// longer means the broker has them even if the client dies in shutdown
/// (the C++ client may).
const AUTO_COMMIT_WAIT: Duration = Duration::from_secs(7);
/// Time for a consumer group to settle after a member joins: the broker
/// notifies the members, each rebalances, and the new owner of a queue
/// starts pulling.
const REBALANCE_SETTLE: Duration = Duration::from_secs(8);
/// Messages of the failover scenario, all acknowledged by the sync master.
const FAILOVER_MESSAGES: u64 = 240;
/// Messages the consumer takes from the master before it is killed.
const KILL_AFTER: usize = 20;
/// A consumer slow enough for the kill to find it mid-backlog: 240 messages
/// take at least 5 s to consume, and a queue is pulled again only once its
/// cached messages are consumed.
const FAILOVER_PACE: Pace = Pace {
    delay: Duration::from_millis(20),
    max_cached: 1,
};
/// Longest the consumer may take, after the kill, to have every message.
/// Both clients learn that the master is gone from the NameServer, which
/// they ask every 30 s (C++: 3 s after start, then every 30 s,
/// `MQClientFactory::startScheduledTask`; Rust: `poll_name_server_interval`);
/// until then their pulls to the dead master fail and are retried (after
/// 1 s, C++; 3 s, Rust).
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(90);

/// The transaction checker of the `transactions` scenario's broker: a
/// half message is first checked after 1 s, then every second. Until a
/// producer of the group has heartbeated, the broker has nobody to ask;
/// checks count all the same (as in RocketMQ), so `check_max` leaves room
/// for a client that heartbeats only at its 30 s timer.
const TRANSACTION_CONFIG: &str =
    "[transaction]\ncheck_interval_ms = 1000\ntimeout_ms = 1000\ncheck_max = 120\n";

fn origin(client: Client) -> &'static str {
    match client {
        Client::Python => "python",
        Client::Rust => "rust",
    }
}

/// Send results carry what the client's API exposes: an OK status, a unique
/// message id, the queue offset and (where reported) the queue id.
fn check_send_results(client: Client, run: &Produce, sent: &[Sent]) {
    if run.mode == Mode::Oneway {
        return;
    }
    let mut ids = BTreeSet::new();
    for s in sent {
        let status = s.status.as_deref().unwrap_or_default();
        assert!(
            status.eq_ignore_ascii_case("OK") || status.eq_ignore_ascii_case("SendOk"),
            "send status: {s:?}"
        );
        let id = s.msg_id.as_deref().unwrap_or_default();
        assert!(!id.is_empty(), "send result without message id: {s:?}");
        assert!(ids.insert(id.to_owned()), "duplicate message id {id}");
        assert!(
            s.queue_offset.is_some_and(|o| o >= 0),
            "send result without queue offset: {s:?}"
        );
        if client.reports_send_queue_id() {
            assert!(
                s.queue_id.is_some_and(|q| q >= 0),
                "send result without queue id: {s:?}"
            );
        }
    }
}

/// One received copy of message `s` of `run`: body, tag, key and
/// properties intact, at the queue position its send result named.
fn check_copy(client: Client, topic: &str, run: &Produce, s: &Sent, r: &Received) {
    let body = format!("{}-{}", run.prefix, s.i);
    assert_eq!(r.topic, topic, "{body}: topic");
    assert_eq!(r.tags.as_deref(), Some(run.tag_of(s.i)), "{body}: tags");
    assert_eq!(
        r.keys.as_deref(),
        Some(format!("{}-key-{}", run.prefix, s.i).as_str()),
        "{body}: keys"
    );
    assert_eq!(r.seq(), s.i, "{body}: user property seq");
    assert_eq!(
        r.props.get("origin").map(String::as_str),
        Some(origin(client)),
        "{body}: user property origin"
    );
    if let Some(id) = &s.msg_id {
        assert_eq!(
            r.uniq_key(),
            id,
            "{body}: message id from send result vs consumer"
        );
    }
    // A consume attempt the client itself failed (e.g. its worker pool
    // was full under load) returns through the group's retry topic,
    // RocketMQ's at-least-once contract: the message then sits at a
    // `%RETRY%` queue position, so only its content is compared.
    let redelivered = r.props.contains_key("RETRY_TOPIC");
    if let (Some(offset), false) = (s.queue_offset, redelivered) {
        assert_eq!(
            r.queue_offset, offset,
            "{body}: queue offset from send result vs consumer"
        );
    }
    if let (Some(queue), false) = (s.queue_id, redelivered) {
        assert_eq!(
            r.queue_id, queue,
            "{body}: queue id from send result vs consumer"
        );
    }
}

/// The received copies by body.
fn by_body(received: &[Received]) -> BTreeMap<&str, Vec<&Received>> {
    let mut by_body: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
    for r in received {
        by_body
            .entry(r.body.as_deref().unwrap_or_default())
            .or_default()
            .push(r);
    }
    by_body
}

/// Every message of `runs` was received exactly once with body, tag, key and
/// properties intact, at the queue position its send result named.
fn check_received(
    client: Client,
    topic: &str,
    runs: &[(Produce, Vec<Sent>)],
    received: &[Received],
) {
    let by_body = by_body(received);
    let mut expected = 0;
    for (run, sent) in runs {
        for s in sent {
            expected += 1;
            let body = format!("{}-{}", run.prefix, s.i);
            let got = by_body
                .get(body.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert_eq!(got.len(), 1, "message {body} received {} times", got.len());
            check_copy(client, topic, run, s, got[0]);
        }
    }
    assert_eq!(
        received.len(),
        expected,
        "received messages that were never sent"
    );
}

/// At-least-once: every message of `run` was received, each copy intact,
/// and nothing else was. Returns how many copies were duplicates.
fn check_received_at_least_once(
    client: Client,
    topic: &str,
    run: &Produce,
    sent: &[Sent],
    received: &[Received],
) -> usize {
    let by_body = by_body(received);
    let mut missing = Vec::new();
    for s in sent {
        let body = format!("{}-{}", run.prefix, s.i);
        match by_body.get(body.as_str()) {
            Some(copies) => copies
                .iter()
                .for_each(|r| check_copy(client, topic, run, s, r)),
            None => missing.push(body),
        }
    }
    assert!(
        missing.is_empty(),
        "{} acknowledged messages never received: {missing:?}",
        missing.len()
    );
    assert_eq!(
        by_body.len(),
        sent.len(),
        "received messages that were never sent"
    );
    received.len() - sent.len()
}

fn bodies_with_prefix<'a>(received: &'a [Received], prefix: &str) -> Vec<&'a str> {
    let prefix = format!("{prefix}-");
    received
        .iter()
        .filter_map(|r| r.body.as_deref())
        .filter(|b| b.starts_with(&prefix))
        .collect()
}

/// Sync (and oneway, async, batch where the client offers them) sends with
/// tags, keys and user properties; one clustering consumer receives all of
/// them intact.
pub fn send_and_receive(client: Client) {
    let broker = Broker::start();
    let namesrv = broker.namesrv();
    let topic = "CompatSend";
    let tags = ["TagA", "TagB", "TagC"];
    let mut runs = Vec::new();
    for mode in [Mode::Sync, Mode::Oneway, Mode::Async, Mode::Batch] {
        if !client.offers(mode) {
            eprintln!(
                "{}: {mode:?} send is not offered by this client; not tested",
                client.name()
            );
            continue;
        }
        let run = Produce {
            mode,
            tags: &tags,
            ..Produce::new(topic, mode.flag(), 6)
        };
        let sent = run.run(client, &namesrv);
        check_send_results(client, &run, &sent);
        runs.push((run, sent));
    }
    broker.wait_route(topic);
    let total: usize = runs.iter().map(|(_, sent)| sent.len()).sum();
    let consumer = Consumer::start(client, &namesrv, topic, "CompatSendGroup", "*", false);
    consumer.wait_for("all sent messages", RECEIVE_TIMEOUT, |r| r.len() >= total);
    std::thread::sleep(QUIET_PERIOD);
    check_received(client, topic, &runs, &consumer.received());
}

/// A `TagA || TagB` subscription receives exactly the TagA and TagB messages.
pub fn tag_filter(client: Client) {
    let broker = Broker::start();
    let namesrv = broker.namesrv();
    let topic = "CompatTags";
    let run = Produce {
        tags: &["TagA", "TagB", "TagC"],
        ..Produce::new(topic, "tag", 12)
    };
    let sent = run.run(client, &namesrv);
    broker.wait_route(topic);
    let consumer = Consumer::start(
        client,
        &namesrv,
        topic,
        "CompatTagGroup",
        "TagA || TagB",
        false,
    );
    let wanted: Vec<Sent> = sent
        .into_iter()
        .filter(|s| run.tag_of(s.i) != "TagC")
        .collect();
    consumer.wait_for("the TagA and TagB messages", RECEIVE_TIMEOUT, |r| {
        r.len() >= wanted.len()
    });
    std::thread::sleep(QUIET_PERIOD);
    check_received(client, topic, &[(run, wanted)], &consumer.received());
}

/// An SQL92 subscription (strings, numbers, `BETWEEN`, `IN`, `IS NULL` over
/// user properties and `TAGS`) receives exactly the matching messages,
/// filtered by a broker with `enable_property_filter` on. Only for clients
/// whose API subscribes with SQL92: `rocketmq-client-python` 2.0.0 passes
/// a tag expression only (`PushConsumer.subscribe` → the C API's
/// `Subscribe(consumer, topic, expression)`, no expression type).
pub fn sql92_filter(client: Client) {
    let broker = Broker::start_with("enable_property_filter = true");
    let namesrv = broker.namesrv();
    let topic = "CompatSql";
    let run = Produce {
        tags: &["TagA", "TagB", "TagC"],
        ..Produce::new(topic, "sql", 12)
    };
    let sent = run.run(client, &namesrv);
    broker.wait_route(topic);
    let sql = format!(
        "seq BETWEEN 3 AND 9 AND TAGS IN ('TagA', 'TagB') AND origin = '{}' \
         AND nothing IS NULL",
        origin(client)
    );
    let consumer = Consumer::start_sql(client, &namesrv, topic, "CompatSqlGroup", &sql);
    let wanted: Vec<Sent> = sent
        .into_iter()
        .filter(|s| (3..=9).contains(&s.i) && run.tag_of(s.i) != "TagC")
        .collect();
    assert_eq!(wanted.len(), 5, "seq 3, 4, 6, 7, 9");
    consumer.wait_for(
        "the messages the SQL92 expression selects",
        RECEIVE_TIMEOUT,
        |r| r.len() >= wanted.len(),
    );
    std::thread::sleep(QUIET_PERIOD);
    check_received(client, topic, &[(run, wanted)], &consumer.received());
}

/// Two consumers of one group split the topic's queues between them and
/// together receive every message once.
pub fn two_consumers_split(client: Client) {
    let broker = Broker::start();
    let namesrv = broker.namesrv();
    let (topic, group) = ("CompatSplit", "CompatSplitGroup");
    // Creates the topic, so both consumers find a route at start.
    Produce::new(topic, "warmup", 4).run(client, &namesrv);
    broker.wait_route(topic);
    let first = Consumer::start(client, &namesrv, topic, group, "*", false);
    let second = Consumer::start(client, &namesrv, topic, group, "*", false);
    // Warm-up messages may legitimately be seen twice while the group
    // rebalances (the first consumer had not committed them yet); only what
    // is sent after the group settled is judged.
    std::thread::sleep(REBALANCE_SETTLE);
    let run = Produce::new(topic, "split", 40);
    run.run(client, &namesrv);
    let union = |a: &[Received], b: &[Received]| {
        bodies_with_prefix(a, "split").len() + bodies_with_prefix(b, "split").len()
    };
    let deadline = std::time::Instant::now() + RECEIVE_TIMEOUT;
    while union(&first.received(), &second.received()) < 40 {
        assert!(
            std::time::Instant::now() < deadline,
            "the group received only {} of 40 messages within {RECEIVE_TIMEOUT:?}\n{}\n{}",
            union(&first.received(), &second.received()),
            first.dump(),
            second.dump()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(QUIET_PERIOD);
    let (a, b) = (first.received(), second.received());
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for body in bodies_with_prefix(&a, "split")
        .into_iter()
        .chain(bodies_with_prefix(&b, "split"))
    {
        *seen.entry(body).or_default() += 1;
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "delivered more than once within the group: {repeated:?}"
    );
    assert_eq!(seen.len(), 40, "distinct messages received by the group");
    let queues = |rs: &[Received]| -> BTreeSet<i64> {
        rs.iter()
            .filter(|r| r.body.as_deref().is_some_and(|b| b.starts_with("split-")))
            .map(|r| r.queue_id)
            .collect()
    };
    let (qa, qb) = (queues(&a), queues(&b));
    assert!(
        !qa.is_empty() && !qb.is_empty(),
        "both consumers get queues: {qa:?} / {qb:?}"
    );
    assert!(
        qa.is_disjoint(&qb),
        "a queue is owned by one consumer only: {qa:?} / {qb:?}"
    );
}

/// A consumer restarted in the same group resumes from the committed
/// offset: nothing it acknowledged before is delivered again.
pub fn restart_resumes(client: Client) {
    let broker = Broker::start();
    let namesrv = broker.namesrv();
    let (topic, group) = ("CompatRestart", "CompatRestartGroup");
    Produce::new(topic, "before", 10).run(client, &namesrv);
    broker.wait_route(topic);
    let mut first = Consumer::start(client, &namesrv, topic, group, "*", false);
    first.wait_for("the first 10 messages", RECEIVE_TIMEOUT, |r| r.len() >= 10);
    std::thread::sleep(AUTO_COMMIT_WAIT);
    first.stop();
    let run = Produce::new(topic, "after", 10);
    let sent = run.run(client, &namesrv);
    let second = Consumer::start(client, &namesrv, topic, group, "*", false);
    second.wait_for("the 10 messages sent while stopped", RECEIVE_TIMEOUT, |r| {
        bodies_with_prefix(r, "after").len() >= 10
    });
    std::thread::sleep(QUIET_PERIOD);
    let received = second.received();
    let replayed = bodies_with_prefix(&received, "before");
    assert!(
        replayed.is_empty(),
        "acknowledged messages delivered again after restart: {replayed:?}"
    );
    check_received(client, topic, &[(run, sent)], &received);
}

/// Orderly sends by sharding key and an orderly consumer: every key's
/// messages come from one queue and arrive in send order.
pub fn orderly(client: Client) {
    let broker = Broker::start();
    let namesrv = broker.namesrv();
    let topic = "CompatOrderly";
    let run = Produce {
        mode: Mode::Orderly,
        shard_keys: 4,
        ..Produce::new(topic, "ord", 40)
    };
    let sent = run.run(client, &namesrv);
    check_send_results(client, &run, &sent);
    broker.wait_route(topic);
    let consumer = Consumer::start(client, &namesrv, topic, "CompatOrderlyGroup", "*", true);
    consumer.wait_for("all 40 orderly messages", RECEIVE_TIMEOUT, |r| {
        r.len() >= 40
    });
    std::thread::sleep(QUIET_PERIOD);
    let received = consumer.received();
    let mut per_key: BTreeMap<String, Vec<&Received>> = BTreeMap::new();
    for r in &received {
        let key = r
            .props
            .get("shard")
            .unwrap_or_else(|| panic!("no shard property: {r:?}"));
        per_key.entry(key.clone()).or_default().push(r);
    }
    assert_eq!(per_key.len(), 4, "sharding keys seen");
    for (key, msgs) in &per_key {
        let seqs: Vec<u64> = msgs.iter().map(|r| r.seq()).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{key}: delivered out of order: {seqs:?}"
        );
        let queues: BTreeSet<i64> = msgs.iter().map(|r| r.queue_id).collect();
        assert_eq!(queues.len(), 1, "{key}: spread over queues {queues:?}");
    }
    check_received(client, topic, &[(run, sent)], &received);
}

/// `bolide-admin consumerProgress` reports as lag exactly the messages sent
/// after the group's consumer committed and stopped.
pub fn consumer_lag(client: Client) {
    let broker = Broker::start();
    let namesrv = broker.namesrv();
    let (topic, group) = ("CompatLag", "CompatLagGroup");
    Produce::new(topic, "consumed", 10).run(client, &namesrv);
    broker.wait_route(topic);
    let mut consumer = Consumer::start(client, &namesrv, topic, group, "*", false);
    consumer.wait_for("the first 10 messages", RECEIVE_TIMEOUT, |r| r.len() >= 10);
    std::thread::sleep(AUTO_COMMIT_WAIT);
    consumer.stop();
    assert_eq!(
        admin::consumer_lag(&namesrv, group, topic),
        0,
        "lag once everything is consumed"
    );
    Produce::new(topic, "pending", 7).run(client, &namesrv);
    assert_eq!(
        admin::consumer_lag(&namesrv, group, topic),
        7,
        "lag = messages sent since"
    );
}

/// `bolide-admin queryMsgByKey` finds each message by its key, under the
/// id the client reported, and `queryMsgById` with the offset message id
/// shows the message as sent.
pub fn lookup(client: Client) {
    let broker = Broker::start();
    let namesrv = broker.namesrv();
    let topic = "CompatLookup";
    let run = Produce {
        tags: &["TagA", "TagB"],
        ..Produce::new(topic, "find", 3)
    };
    let sent = run.run(client, &namesrv);
    broker.wait_route(topic);
    for s in sent {
        let (key, body) = (format!("find-key-{}", s.i), format!("find-{}", s.i));
        let hits = admin::query_by_key(&namesrv, topic, &key);
        assert_eq!(hits.len(), 1, "queryMsgByKey {key}: {hits:?}");
        let hit = &hits[0];
        assert_eq!(
            Some(&hit.msg_id),
            s.msg_id.as_ref(),
            "{key}: message id vs send result"
        );
        assert_eq!(
            Some(hit.queue_offset),
            s.queue_offset,
            "{key}: queue offset vs send result"
        );
        if let Some(queue) = s.queue_id {
            assert_eq!(hit.queue_id, queue, "{key}: queue id vs send result");
        }
        if let Some(offset_id) = &s.offset_msg_id {
            assert_eq!(
                &hit.offset_msg_id, offset_id,
                "{key}: offset message id vs send result"
            );
        }
        let shown = admin::query_by_id(&namesrv, &hit.offset_msg_id);
        let field = |name: &str| shown.get(name).map(String::as_str).unwrap_or_default();
        assert_eq!(
            field("MsgID"),
            hit.msg_id,
            "queryMsgById {}: {shown:?}",
            hit.offset_msg_id
        );
        assert_eq!(field("Topic"), topic, "{key}: {shown:?}");
        assert_eq!(field("Keys"), key, "{key}: {shown:?}");
        assert_eq!(field("Tags"), run.tag_of(s.i), "{key}: {shown:?}");
        assert_eq!(field("Message Body"), body, "{key}: {shown:?}");
        let props = field("Properties");
        assert!(
            props.contains(&format!("seq={}", s.i)),
            "{key}: user properties {props:?}"
        );
    }
}

fn distinct_with_prefix(received: &[Received], prefix: &str) -> usize {
    bodies_with_prefix(received, prefix)
        .into_iter()
        .collect::<BTreeSet<_>>()
        .len()
}

/// Issue 10: a consumer keeps consuming from the slave after its master is
/// killed with `kill -9`, without being restarted, and the offsets it
/// commits to the slave meanwhile are kept.
///
/// A SYNC_MASTER acknowledges a send only once its slave holds the message,
/// so every SUCCESS below is on the slave. A paced consumer takes
/// [`KILL_AFTER`] messages from the master, the master is killed, and the
/// consumer must then receive every message (at least once) within
/// [`FAILOVER_TIMEOUT`]. The pace bounds what the client can have pulled
/// before the kill, so most messages can only come from the slave (checked).
/// Then, the master still down: the consumer's group has no lag on the
/// slave, and a consumer restarted in that group replays nothing while a
/// new group, started beside it, reads every message from the slave.
pub fn slave_failover(client: Client) {
    let mut pair = ReplicaPair::start();
    let namesrv = pair.namesrv();
    let (topic, group, prefix) = ("CompatFailover", "CompatFailoverGroup", "ha");
    let run = Produce::new(topic, prefix, FAILOVER_MESSAGES);
    let sent = run.run(client, &namesrv);
    check_send_results(client, &run, &sent);
    pair.wait_route(topic);

    let mut consumer = Consumer::start_paced(client, &namesrv, topic, group, FAILOVER_PACE);
    consumer.wait_for(
        "the first messages, from the master",
        RECEIVE_TIMEOUT,
        |r| r.len() >= KILL_AFTER,
    );
    pair.kill_master();
    let killed = Instant::now();
    // Counted after the kill: anything consumed before it is included.
    let consumed_at_kill = consumer.received().len();
    pair.wait_master_unrouted(topic);
    let total = FAILOVER_MESSAGES as usize;
    let received = consumer.wait_for(
        "every acknowledged message, from the slave once the master is dead",
        FAILOVER_TIMEOUT,
        |r| distinct_with_prefix(r, prefix) >= total,
    );
    let failover_took = killed.elapsed();
    std::thread::sleep(QUIET_PERIOD);
    let received_all = consumer.received();
    let duplicates = check_received_at_least_once(client, topic, &run, &sent, &received_all);
    // What the client may have pulled from the master: everything it
    // consumed, plus at most `max_cached + PULL_BATCH` cached per queue.
    let queues = received.iter().map(|r| r.queue_id).collect::<BTreeSet<_>>();
    let cached = queues.len() * (FAILOVER_PACE.max_cached as usize + PULL_BATCH);
    assert!(
        consumed_at_kill + cached < total,
        "{consumed_at_kill} consumed and up to {cached} cached at the kill: the client may \
         have pulled every message from the master, so this run proves no failover"
    );
    eprintln!(
        "{}: every acknowledged message consumed {failover_took:?} after kill -9 of the \
         master ({consumed_at_kill} consumed before, at least {} pulled from the slave, \
         {duplicates} duplicates)",
        client.name(),
        total - consumed_at_kill - cached,
    );

    // Offsets committed to the slave while the master is down are kept.
    std::thread::sleep(AUTO_COMMIT_WAIT);
    consumer.stop();
    assert_eq!(
        admin::consumer_lag(&namesrv, group, topic),
        0,
        "the group's lag on the slave once it consumed everything there"
    );
    let resumed = Consumer::start(client, &namesrv, topic, group, "*", false);
    let fresh = Consumer::start(client, &namesrv, topic, "CompatFailoverFresh", "*", false);
    fresh.wait_for(
        "every message, read by a new group from the slave alone",
        RECEIVE_TIMEOUT,
        |r| distinct_with_prefix(r, prefix) >= total,
    );
    std::thread::sleep(QUIET_PERIOD);
    let replayed = resumed.received();
    assert!(
        replayed.is_empty(),
        "a consumer restarted against the slave alone replayed {} messages its group had \
         committed there (first: {:?})",
        replayed.len(),
        replayed.first()
    );
}

/// A transactional producer's three outcomes: a COMMIT is delivered, a
/// ROLLBACK never, and an UNKNOWN is checked back by the broker over the
/// producer's connection, answered COMMIT and then delivered exactly once.
/// Nothing but the unknown one is ever checked.
pub fn transactions(client: Client) {
    let broker = Broker::start_configured("", TRANSACTION_CONFIG);
    let namesrv = broker.namesrv();
    let (topic, prefix) = ("CompatTx", "tx");
    let plan = [
        Verdict::Commit,
        Verdict::Rollback,
        Verdict::UnknownThenCommit,
    ];
    let (mut producer, sent) =
        Transactor::start(client, &namesrv, topic, "CompatTxProducer", prefix, &plan);
    for s in &sent {
        let status = s.status.as_deref().unwrap_or_default();
        assert!(
            status.eq_ignore_ascii_case("OK") || status.eq_ignore_ascii_case("SendOk"),
            "{s:?}"
        );
        assert!(
            s.msg_id.as_deref().is_some_and(|id| !id.is_empty()),
            "{s:?}"
        );
    }
    broker.wait_route(topic);
    let consumer = Consumer::start(client, &namesrv, topic, "CompatTxGroup", "*", false);
    let (committed, checked) = (format!("{prefix}-0"), format!("{prefix}-2"));
    producer.wait_checked(
        "the check-back of the unknown transaction",
        RECEIVE_TIMEOUT,
        |c| {
            c.iter()
                .any(|c| c.body.as_deref() == Some(checked.as_str()))
        },
    );
    consumer.wait_for(
        "the committed and the checked message",
        RECEIVE_TIMEOUT,
        |r| r.len() >= 2,
    );
    std::thread::sleep(QUIET_PERIOD);
    let received = consumer.received();
    let bodies = by_body(&received);
    let once = |body: &str| bodies.get(body).map_or(0, Vec::len);
    assert_eq!(
        once(&committed),
        1,
        "the committed message, once\n{}",
        consumer.dump()
    );
    assert_eq!(once(&checked), 1, "the checked-then-committed one, once");
    assert_eq!(received.len(), 2, "the rolled-back message was delivered");
    for (s, body) in [(&sent[0], &committed), (&sent[2], &checked)] {
        let copy = bodies[body.as_str()][0];
        assert_eq!(
            Some(copy.uniq_key()),
            s.msg_id.as_deref(),
            "{body}: producer's id"
        );
        assert_eq!(copy.topic, topic);
    }
    let asked: Vec<_> = producer
        .checked()
        .into_iter()
        .filter_map(|c| c.body)
        .collect();
    assert!(
        asked.iter().all(|b| *b == checked),
        "only the unknown one is checked: {asked:?}"
    );
    producer.stop();
}
