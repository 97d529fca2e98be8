//! Consumers end to end over loopback: a NameServer, a 2-shard broker, raw
//! sends, and the push / lite pull consumers through their public facade.
//! Every wait is bounded; intervals are shortened through the config.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bolide_client::admin::Admin;
use bolide_client::consumer::{
    ConsumeFrom, ConsumeStatus, ConsumerConfig, LitePullConsumer, LocalOffsets, PushConsumer,
};
use bolide_client::message::MessageExt;
use support::*;

const WAIT: Duration = Duration::from_secs(8);

/// Test timings: rebalance in 300 ms, commit every 200 ms, short long polls.
fn fast(c: &mut ConsumerConfig) {
    c.rebalance_interval = Duration::from_millis(300);
    c.heartbeat_interval = Duration::from_secs(1);
    c.persist_interval = Duration::from_millis(200);
    c.route_refresh_interval = Duration::from_secs(1);
    c.lock_interval = Duration::from_secs(1);
    c.suspend_timeout = Duration::from_secs(2);
    c.pull_timeout = Duration::from_secs(5);
    c.pull_error_delay = Duration::from_millis(200);
    c.orderly_retry_delay = Duration::from_millis(100);
    c.local_offsets = LocalOffsets::Memory;
}

type Inbox = Arc<Mutex<Vec<MessageExt>>>;

fn inbox() -> Inbox {
    Arc::new(Mutex::new(Vec::new()))
}

fn count(inbox: &Inbox) -> usize {
    inbox.lock().unwrap().len()
}

fn bodies(inbox: &Inbox) -> Vec<String> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .map(|m| String::from_utf8(m.body.to_vec()).unwrap())
        .collect()
}

/// A push consumer of `topic` that records every message and succeeds.
fn recording_consumer(
    cluster: &Cluster,
    group: &str,
    topic: &str,
    expr: &str,
    inbox: &Inbox,
) -> bolide_client::consumer::PushConsumerHandle {
    let sink = inbox.clone();
    PushConsumer::builder(group)
        .namesrv(&cluster.namesrv_addr().to_string())
        .subscribe(topic, expr)
        .consume_from(ConsumeFrom::FirstOffset)
        .config(fast)
        .listener(move |msgs| {
            sink.lock().unwrap().extend(msgs.iter().cloned());
            ConsumeStatus::Success
        })
        .start()
        .expect("consumer starts")
}

fn produce(cluster: &Cluster, topic: &str, msgs: Vec<Outgoing>) {
    send_all(cluster.broker_addr(), topic, msgs);
    wait_for_route(cluster.namesrv_addr(), topic, 4);
}

#[test]
fn push_consumer_receives_every_message_intact() {
    let cluster = Cluster::start();
    let topic = "PushAll";
    let n = 40;
    let msgs = (0..n)
        .map(|i| Outgoing {
            queue: i % 4,
            body: format!("body-{i}").into_bytes(),
            tags: format!("Tag{}", i % 3),
            keys: format!("key-{i} alt-{i}"),
            props: vec![("color".into(), format!("c{i}"))],
        })
        .collect();
    produce(&cluster, topic, msgs);
    let got = inbox();
    let consumer = recording_consumer(&cluster, "g-all", topic, "*", &got);
    assert!(
        eventually(WAIT, || count(&got) >= n as usize),
        "received {}",
        count(&got)
    );
    std::thread::sleep(Duration::from_millis(300));
    consumer.shutdown().unwrap();

    let got = got.lock().unwrap();
    assert_eq!(got.len(), n as usize, "exactly N");
    let mut seen = BTreeSet::new();
    for m in got.iter() {
        let body = String::from_utf8(m.body.to_vec()).unwrap();
        let i: u32 = body.trim_start_matches("body-").parse().unwrap();
        assert!(seen.insert(i), "duplicate {i}");
        assert_eq!(m.topic, topic);
        assert_eq!(m.queue_id.0, i % 4);
        assert_eq!(m.tags.as_deref(), Some(format!("Tag{}", i % 3).as_str()));
        assert_eq!(m.keys, [format!("key-{i}"), format!("alt-{i}")]);
        assert_eq!(m.property("color"), Some(format!("c{i}").as_str()));
    }
}

#[test]
fn tag_subscription_receives_only_matching_messages() {
    let cluster = Cluster::start();
    let topic = "PushTags";
    let tags = ["TagA", "TagB", "TagC"];
    let msgs = (0..60u32)
        .map(|i| Outgoing::new(i % 4, format!("{i}"), tags[(i % 3) as usize]))
        .collect();
    produce(&cluster, topic, msgs);
    let got = inbox();
    let consumer = recording_consumer(&cluster, "g-tags", topic, "TagA || TagB", &got);
    assert!(
        eventually(WAIT, || count(&got) >= 40),
        "received {}",
        count(&got)
    );
    std::thread::sleep(Duration::from_millis(500));
    consumer.shutdown().unwrap();
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 40);
    assert!(got
        .iter()
        .all(|m| matches!(m.tags.as_deref(), Some("TagA" | "TagB"))));
    let distinct: BTreeSet<_> = got.iter().map(|m| m.body.clone()).collect();
    assert_eq!(distinct.len(), 40);
}

#[test]
fn two_consumers_split_the_queues() {
    let cluster = Cluster::start();
    let topic = "PushSplit";
    produce(
        &cluster,
        topic,
        (0..4).map(|q| Outgoing::new(q, "warm-up", "t")).collect(),
    );
    let (got_a, got_b) = (inbox(), inbox());
    let a = recording_consumer(&cluster, "g-split", topic, "*", &got_a);
    let b = recording_consumer(&cluster, "g-split", topic, "*", &got_b);
    let topic_queues = |h: &bolide_client::consumer::PushConsumerHandle| -> BTreeSet<u32> {
        h.assigned()
            .unwrap()
            .into_iter()
            .filter(|q| q.topic == topic)
            .map(|q| q.queue_id.0)
            .collect()
    };
    let settled = eventually(WAIT, || {
        let (qa, qb) = (topic_queues(&a), topic_queues(&b));
        qa.len() == 2 && qb.len() == 2 && qa.is_disjoint(&qb)
    });
    assert!(settled, "a {:?} b {:?}", topic_queues(&a), topic_queues(&b));
    // Steady state: every new message goes to exactly one of them.
    let n = 80u32;
    send_all(
        cluster.broker_addr(),
        topic,
        (0..n)
            .map(|i| Outgoing::new(i % 4, format!("m-{i}"), "t"))
            .collect(),
    );
    let steady = |inbox: &Inbox| -> Vec<String> {
        bodies(inbox)
            .into_iter()
            .filter(|b| b.starts_with("m-"))
            .collect()
    };
    assert!(eventually(WAIT, || steady(&got_a).len()
        + steady(&got_b).len()
        >= n as usize));
    std::thread::sleep(Duration::from_millis(300));
    let (sa, sb) = (steady(&got_a), steady(&got_b));
    assert!(
        !sa.is_empty() && !sb.is_empty(),
        "both consume: {} / {}",
        sa.len(),
        sb.len()
    );
    let all: BTreeSet<String> = sa.iter().chain(&sb).cloned().collect();
    assert_eq!(sa.len() + sb.len(), n as usize, "no duplicates");
    assert_eq!(all.len(), n as usize, "every message");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn restart_resumes_from_the_committed_offset() {
    let cluster = Cluster::start();
    let topic = "PushResume";
    produce(
        &cluster,
        topic,
        (0..20u32)
            .map(|i| Outgoing::new(i % 4, format!("old-{i}"), "t"))
            .collect(),
    );
    let first = inbox();
    let consumer = recording_consumer(&cluster, "g-resume", topic, "*", &first);
    assert!(eventually(WAIT, || count(&first) >= 20));
    consumer.shutdown().unwrap();
    assert_eq!(count(&first), 20);

    send_all(
        cluster.broker_addr(),
        topic,
        (0..12u32)
            .map(|i| Outgoing::new(i % 4, format!("new-{i}"), "t"))
            .collect(),
    );
    let second = inbox();
    let consumer = recording_consumer(&cluster, "g-resume", topic, "*", &second);
    assert!(eventually(WAIT, || count(&second) >= 12));
    std::thread::sleep(Duration::from_millis(500));
    consumer.shutdown().unwrap();
    let got = bodies(&second);
    assert_eq!(got.len(), 12, "{got:?}");
    assert!(
        got.iter().all(|b| b.starts_with("new-")),
        "replayed: {got:?}"
    );
}

#[test]
fn orderly_consumer_keeps_per_queue_order() {
    let cluster = Cluster::start();
    let topic = "PushOrderly";
    let per_queue = 25u32;
    let msgs = (0..per_queue * 4)
        .map(|i| Outgoing::new(i % 4, format!("{}", i / 4), "t"))
        .collect();
    produce(&cluster, topic, msgs);
    let seen: Arc<Mutex<BTreeMap<u32, Vec<u32>>>> = Arc::default();
    let sink = seen.clone();
    let consumer = PushConsumer::builder("g-orderly")
        .namesrv(&cluster.namesrv_addr().to_string())
        .subscribe(topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .consume_batch_size(3)
        .config(fast)
        .orderly_listener(move |msgs| {
            let mut seen = sink.lock().unwrap();
            for m in msgs {
                let seq: u32 = std::str::from_utf8(&m.body).unwrap().parse().unwrap();
                seen.entry(m.queue_id.0).or_default().push(seq);
            }
            ConsumeStatus::Success
        })
        .start()
        .unwrap();
    let total = || seen.lock().unwrap().values().map(Vec::len).sum::<usize>();
    assert!(
        eventually(WAIT, || total() >= (per_queue * 4) as usize),
        "got {}",
        total()
    );
    consumer.shutdown().unwrap();
    let seen = seen.lock().unwrap();
    for queue in 0..4 {
        let want: Vec<u32> = (0..per_queue).collect();
        assert_eq!(seen.get(&queue), Some(&want), "queue {queue}");
    }
}

#[test]
fn reconsume_later_comes_back_through_the_retry_topic() {
    let cluster = Cluster::start();
    let topic = "PushRetry";
    produce(
        &cluster,
        topic,
        (0..4u32)
            .map(|i| Outgoing::new(i, format!("r-{i}"), "TagR"))
            .collect(),
    );
    let got = inbox();
    let sink = got.clone();
    let consumer = PushConsumer::builder("g-retry")
        .namesrv(&cluster.namesrv_addr().to_string())
        .subscribe(topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .config(fast)
        // Delay level 1 (1 s) instead of the broker's 10 s first retry.
        .config(|c| c.retry_delay_level = 1)
        .listener(move |msgs| {
            sink.lock().unwrap().extend(msgs.iter().cloned());
            if msgs.iter().all(|m| m.reconsume_times == 0) {
                ConsumeStatus::ReconsumeLater
            } else {
                ConsumeStatus::Success
            }
        })
        .start()
        .unwrap();
    let ok = eventually(WAIT, || count(&got) >= 8);
    assert!(
        ok,
        "received {:?}",
        got.lock()
            .unwrap()
            .iter()
            .map(|m| (&m.topic, m.reconsume_times))
            .collect::<Vec<_>>()
    );
    consumer.shutdown().unwrap();
    let got = got.lock().unwrap();
    let retried: Vec<&MessageExt> = got.iter().filter(|m| m.reconsume_times > 0).collect();
    assert_eq!(retried.len(), 4);
    for m in retried {
        assert_eq!(m.topic, topic, "original topic restored");
        assert_eq!(m.property("RETRY_TOPIC"), Some(topic));
        assert_eq!(m.tags.as_deref(), Some("TagR"));
        assert_eq!(m.reconsume_times, 1);
    }
}

#[test]
fn lite_pull_assign_poll_commit_seek() {
    let cluster = Cluster::start();
    let topic = "LitePull";
    produce(
        &cluster,
        topic,
        (0..20u32)
            .map(|i| Outgoing::new(i % 4, format!("{i}"), "t"))
            .collect(),
    );
    let consumer = LitePullConsumer::builder("g-lite")
        .namesrv(&cluster.namesrv_addr().to_string())
        .consume_from(ConsumeFrom::FirstOffset)
        .auto_commit(false)
        .config(fast)
        .start()
        .unwrap();
    let queues = consumer.fetch_queues(topic).unwrap();
    assert_eq!(queues.len(), 4);
    consumer.assign(queues.clone()).unwrap();
    let mut got = Vec::new();
    assert!(eventually(WAIT, || {
        got.extend(consumer.poll(Duration::from_millis(200)).unwrap());
        got.len() >= 20
    }));
    assert_eq!(got.len(), 20);
    assert!(consumer
        .poll(Duration::from_millis(200))
        .unwrap()
        .is_empty());
    // Nothing committed yet: the broker answers "not found", or 0 while
    // the queue still starts at 0 (RocketMQ's setZeroIfNotFound default).
    let before = consumer.committed(&queues[0]).unwrap();
    assert!(matches!(before, None | Some(0)), "{before:?}");
    consumer.commit().unwrap();
    for q in &queues {
        assert_eq!(consumer.committed(q).unwrap(), Some(5), "{q}");
    }
    // Seek queue 0 back to offset 2: its last three messages come again.
    let q0 = queues.iter().find(|q| q.queue_id.0 == 0).unwrap();
    consumer.seek(q0, 2).unwrap();
    let mut again = Vec::new();
    assert!(eventually(WAIT, || {
        again.extend(consumer.poll(Duration::from_millis(200)).unwrap());
        again.len() >= 3
    }));
    let offsets: Vec<u64> = again.iter().map(|m| m.queue_offset.0).collect();
    assert_eq!(offsets, [2, 3, 4]);
    assert!(again.iter().all(|m| m.queue_id.0 == 0));
    consumer.commit().unwrap();
    consumer.shutdown().unwrap();
}

#[test]
fn broadcasting_consumers_each_get_everything_and_resume_from_their_file() {
    use bolide_client::consumer::MessageModel;
    let cluster = Cluster::start();
    let topic = "PushBroadcast";
    produce(
        &cluster,
        topic,
        (0..16u32)
            .map(|i| Outgoing::new(i % 4, format!("b-{i}"), "t"))
            .collect(),
    );
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let start = |dir: &std::path::Path, inbox: &Inbox| {
        let (sink, dir) = (inbox.clone(), dir.to_path_buf());
        PushConsumer::builder("g-broadcast")
            .namesrv(&cluster.namesrv_addr().to_string())
            .subscribe(topic, "*")
            .message_model(MessageModel::Broadcasting)
            .consume_from(ConsumeFrom::FirstOffset)
            .config(fast)
            .config(move |c| c.local_offsets = LocalOffsets::Dir(dir))
            .listener(move |msgs| {
                sink.lock().unwrap().extend(msgs.iter().cloned());
                ConsumeStatus::Success
            })
            .start()
            .unwrap()
    };
    let (got_a, got_b) = (inbox(), inbox());
    let a = start(dirs[0].path(), &got_a);
    let b = start(dirs[1].path(), &got_b);
    assert!(eventually(WAIT, || count(&got_a) >= 16 && count(&got_b) >= 16));
    a.shutdown().unwrap();
    b.shutdown().unwrap();
    assert_eq!((count(&got_a), count(&got_b)), (16, 16));
    assert!(dirs[0].path().join("g-broadcast.json").exists());

    send_all(
        cluster.broker_addr(),
        topic,
        (0..4u32)
            .map(|i| Outgoing::new(i, format!("late-{i}"), "t"))
            .collect(),
    );
    let again = inbox();
    let a = start(dirs[0].path(), &again);
    assert!(eventually(WAIT, || count(&again) >= 4));
    std::thread::sleep(Duration::from_millis(300));
    a.shutdown().unwrap();
    let got = bodies(&again);
    assert!(
        got.len() == 4 && got.iter().all(|b| b.starts_with("late-")),
        "{got:?}"
    );
}

#[test]
fn orderly_consumers_hand_queues_over_through_locks() {
    let cluster = Cluster::start();
    let topic = "PushOrderlyPair";
    produce(
        &cluster,
        topic,
        (0..4u32).map(|q| Outgoing::new(q, "0", "t")).collect(),
    );
    let seen: Arc<Mutex<BTreeMap<u32, Vec<u32>>>> = Arc::default();
    let start = || {
        let sink = seen.clone();
        PushConsumer::builder("g-orderly-pair")
            .namesrv(&cluster.namesrv_addr().to_string())
            .subscribe(topic, "*")
            .consume_from(ConsumeFrom::FirstOffset)
            .config(fast)
            .orderly_listener(move |msgs| {
                let mut seen = sink.lock().unwrap();
                for m in msgs {
                    let seq: u32 = std::str::from_utf8(&m.body).unwrap().parse().unwrap();
                    seen.entry(m.queue_id.0).or_default().push(seq);
                }
                ConsumeStatus::Success
            })
            .start()
            .unwrap()
    };
    let a = start();
    let b = start();
    let mine = |h: &bolide_client::consumer::PushConsumerHandle| -> BTreeSet<u32> {
        let queues = h.assigned().unwrap();
        queues
            .iter()
            .filter(|q| q.topic == topic)
            .map(|q| q.queue_id.0)
            .collect()
    };
    let settled = eventually(WAIT, || {
        let (qa, qb) = (mine(&a), mine(&b));
        qa.len() == 2 && qb.len() == 2 && qa.is_disjoint(&qb)
    });
    assert!(settled, "a {:?} b {:?}", mine(&a), mine(&b));
    let msgs = (4..4 * 20u32)
        .map(|i| Outgoing::new(i % 4, format!("{}", i / 4), "t"))
        .collect();
    send_all(cluster.broker_addr(), topic, msgs);
    let total = || seen.lock().unwrap().values().map(Vec::len).sum::<usize>();
    assert!(eventually(WAIT, || total() >= 80), "got {}", total());
    a.shutdown().unwrap();
    b.shutdown().unwrap();
    let seen = seen.lock().unwrap();
    for queue in 0..4 {
        let got = &seen[&queue];
        // In order, each once: a hand-off commits and unlocks before the
        // next owner can lock the queue and read the committed offset.
        assert_eq!(got, &(0..20).collect::<Vec<u32>>(), "queue {queue}");
    }
}

/// With its master stopped, a consumer started afterwards reads everything
/// from the slave (RocketMQ's findBrokerAddressInSubscribe: the master,
/// else a slave) and keeps its offsets there.
#[test]
fn push_consumer_reads_from_the_slave_while_the_master_is_down() {
    let mut cluster = Cluster::start_with_slave();
    let topic = "FromSlave";
    let n = 60;
    let msgs = (0..n)
        .map(|i| Outgoing::new(i % 4, format!("s-{i}"), "T"))
        .collect();
    produce(&cluster, topic, msgs);
    let slave = cluster.slave_addr();
    let copied = || max_offsets(slave, topic, 4).iter().sum::<i64>() == n as i64;
    assert!(eventually(WAIT, copied), "the slave copies every message");
    let ns = cluster.namesrv_addr();
    // The log streams at once, the topic's config at the next metadata
    // round: a slave serves (and routes) only topics it knows.
    assert!(eventually(WAIT, || knows_topic(slave, topic)));
    cluster.stop_master();
    assert!(eventually(WAIT, || !route_has_master(ns, topic)));
    let got = inbox();
    let consumer = recording_consumer(&cluster, "g-slave", topic, "*", &got);
    assert!(
        eventually(WAIT, || count(&got) >= n as usize),
        "received {} from the slave",
        count(&got)
    );
    consumer.shutdown().unwrap();
    let mut seen = bodies(&got);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n as usize, "every message, from the slave");
}

/// `group`'s committed offsets of `topic`'s queues, in queue order (-1:
/// none).
fn committed(cluster: &Cluster, group: &str, topic: &str) -> Vec<i64> {
    let (namesrv, group, topic) = (
        cluster.namesrv_addr().to_string(),
        group.to_owned(),
        topic.to_owned(),
    );
    run(move || async move {
        let admin = Admin::new(&namesrv, TIMEOUT).unwrap();
        let mut progress = admin.consumer_progress(&group, &topic).await.unwrap();
        admin.close();
        progress.sort_by(|a, b| a.queue.cmp(&b.queue));
        progress
            .iter()
            .map(|p| p.consumer_offset.unwrap_or(-1))
            .collect()
    })
}

/// Resets `group`'s offsets of `topic` to the first message (the admin
/// API: INVOKE_BROKER_TO_RESET_OFFSET, which makes the broker push
/// RESET_CONSUMER_CLIENT_OFFSET to the group's consumers); the new offsets.
fn reset_to_start(cluster: &Cluster, group: &str, topic: &str) -> Vec<i64> {
    let (namesrv, group, topic) = (
        cluster.namesrv_addr().to_string(),
        group.to_owned(),
        topic.to_owned(),
    );
    run(move || async move {
        let admin = Admin::new(&namesrv, TIMEOUT).unwrap();
        let body = admin
            .reset_offset_by_time(&group, &topic, 0, true)
            .await
            .unwrap();
        admin.close();
        body.offset_table
            .iter()
            .map(|(_, offset)| *offset)
            .collect()
    })
}

/// Long enough for several periodic commits (every 200 ms in tests).
const SEVERAL_COMMITS: Duration = Duration::from_millis(1000);

#[test]
fn push_consumer_follows_an_offset_reset() {
    let cluster = Cluster::start();
    let (topic, group) = ("PushReset", "g-push-reset");
    produce(
        &cluster,
        topic,
        (0..20u32)
            .map(|i| Outgoing::new(i % 4, format!("{i}"), "t"))
            .collect(),
    );
    // Orderly: while `open` is false, a batch is retried in place and its
    // offset cannot advance, so the committed offsets show the reset.
    let seen = inbox();
    let open = Arc::new(AtomicBool::new(true));
    let (sink, gate) = (seen.clone(), open.clone());
    let consumer = PushConsumer::builder(group)
        .namesrv(&cluster.namesrv_addr().to_string())
        .subscribe(topic, "*")
        .consume_from(ConsumeFrom::FirstOffset)
        .config(fast)
        .orderly_listener(move |msgs| {
            sink.lock().unwrap().extend(msgs.iter().cloned());
            if gate.load(Ordering::SeqCst) {
                ConsumeStatus::Success
            } else {
                ConsumeStatus::ReconsumeLater
            }
        })
        .start()
        .unwrap();
    assert!(
        eventually(WAIT, || count(&seen) >= 20),
        "got {}",
        count(&seen)
    );
    assert!(eventually(WAIT, || committed(&cluster, group, topic) == [5; 4]));

    open.store(false, Ordering::SeqCst);
    let first_round = count(&seen);
    assert_eq!(reset_to_start(&cluster, group, topic), [0; 4]);
    // Without a restart, every queue is delivered again from offset 0.
    let redelivered = |seen: &Inbox| -> BTreeSet<u32> {
        let seen = seen.lock().unwrap();
        seen[first_round..]
            .iter()
            .filter(|m| m.queue_offset.0 == 0)
            .map(|m| m.queue_id.0)
            .collect()
    };
    assert!(
        eventually(WAIT, || redelivered(&seen).len() == 4),
        "redelivered queues {:?}",
        redelivered(&seen)
    );
    // The old in-memory position is never committed over the reset.
    std::thread::sleep(SEVERAL_COMMITS);
    assert_eq!(committed(&cluster, group, topic), [0; 4]);

    open.store(true, Ordering::SeqCst);
    assert!(eventually(WAIT, || committed(&cluster, group, topic) == [5; 4]));
    consumer.shutdown().unwrap();
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for body in bodies(&seen) {
        *times.entry(body).or_default() += 1;
    }
    assert_eq!(times.len(), 20);
    assert!(times.values().all(|&n| n >= 2), "{times:?}");
}

#[test]
fn lite_pull_consumer_follows_an_offset_reset() {
    let cluster = Cluster::start();
    let (topic, group) = ("LiteReset", "g-lite-reset");
    produce(
        &cluster,
        topic,
        (0..20u32)
            .map(|i| Outgoing::new(i % 4, format!("{i}"), "t"))
            .collect(),
    );
    let consumer = LitePullConsumer::builder(group)
        .namesrv(&cluster.namesrv_addr().to_string())
        .consume_from(ConsumeFrom::FirstOffset)
        .auto_commit(true)
        .config(fast)
        .start()
        .unwrap();
    consumer.subscribe(topic, "*").unwrap();
    let poll_all = || {
        let mut got = Vec::new();
        let done = eventually(WAIT, || {
            got.extend(consumer.poll(Duration::from_millis(200)).unwrap());
            got.len() >= 20
        });
        assert!(done, "polled {}", got.len());
        let mut bodies: Vec<String> = got
            .iter()
            .map(|m| String::from_utf8(m.body.to_vec()).unwrap())
            .collect();
        bodies.sort();
        bodies
    };
    let first = poll_all();
    assert!(eventually(WAIT, || committed(&cluster, group, topic) == [5; 4]));

    assert_eq!(reset_to_start(&cluster, group, topic), [0; 4]);
    // Not polling: the auto-commit keeps committing, and must commit the
    // reset position, not the old one.
    std::thread::sleep(SEVERAL_COMMITS);
    assert_eq!(committed(&cluster, group, topic), [0; 4]);
    assert_eq!(poll_all(), first, "the same messages again");
    assert!(eventually(WAIT, || committed(&cluster, group, topic) == [5; 4]));
    consumer.shutdown().unwrap();
}
