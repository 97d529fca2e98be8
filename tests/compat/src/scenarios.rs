//! The compatibility scenarios, each written once and run for every
//! [`Client`]. Each starts its own broker, so scenarios are independent and
//! may run in parallel. Waits are bounded by deadlines; the few fixed pauses
//! exist because the clients act on timers (offset auto-commit every 5 s)
//! and are named after what they wait for.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::admin;
use crate::broker::Broker;
use crate::clients::{Client, Consumer, Mode, Produce, Received, Sent};

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

/// Every message of `runs` was received exactly once with body, tag, key and
/// properties intact, at the queue position its send result named.
fn check_received(
    client: Client,
    topic: &str,
    runs: &[(Produce, Vec<Sent>)],
    received: &[Received],
) {
    let mut by_body: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
    for r in received {
        by_body
            .entry(r.body.as_deref().unwrap_or_default())
            .or_default()
            .push(r);
    }
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
            let r = got[0];
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
    }
    assert_eq!(
        received.len(),
        expected,
        "received messages that were never sent"
    );
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
