//! The control plane stays off the data plane's path: a heartbeat that
//! creates thousands of consumer groups while another client sends, the
//! limits on what one heartbeat may carry, and that what such a heartbeat
//! created is on disk after a clean shutdown. Latency is measured and
//! printed, never asserted (a shared CI machine makes timed asserts flaky).

mod support;

use std::time::{Duration, Instant};

use bolide_broker::config::FlushModeName;
use bolide_proto::body::{
    ConsumerData, HeartbeatData, JsonBody, SubscriptionData, SubscriptionGroupWrapper,
    TopicConfigSerializeWrapper,
};
use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::RemotingCommand;
use support::*;

/// Groups the stall test's heartbeat creates.
const STALL_GROUPS: usize = 3000;
/// Generous, so that a stall is measured rather than cut off.
const STALL_TIMEOUT: Duration = Duration::from_secs(300);

fn subscription(topic: &str) -> SubscriptionData {
    SubscriptionData {
        topic: topic.into(),
        sub_string: "*".into(),
        sub_version: 1,
        ..SubscriptionData::default()
    }
}

/// A heartbeat of one client naming `groups` consumer groups `{prefix}{i}`,
/// each subscribed to `topic` and to its retry topic.
fn heartbeat_of(client: &str, prefix: &str, groups: usize, topic: &str) -> RemotingCommand {
    let consumer_data_set = (0..groups)
        .map(|i| {
            let group = format!("{prefix}{i}");
            ConsumerData {
                subscription_data_set: vec![
                    subscription(topic),
                    subscription(&format!("%RETRY%{group}")),
                ],
                group_name: group,
                ..ConsumerData::default()
            }
        })
        .collect();
    let hb = HeartbeatData {
        client_id: client.into(),
        consumer_data_set,
        ..HeartbeatData::default()
    };
    RemotingCommand::request(req::HEART_BEAT).with_body(hb.encode())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Concurrent senders (connections × in-flight sends on each).
const SENDER_CONNECTIONS: usize = 4;
const SENDS_IN_FLIGHT: usize = 4;

/// One send: when it started and how long it took.
type Sample = (Instant, Duration);

/// Sends on one connection until `stop` is set.
async fn send_until(
    conn: bolide_transport::remoting::Connection,
    stop: std::rc::Rc<std::cell::Cell<bool>>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut i = 0u64;
    while !stop.get() {
        let started = Instant::now();
        let body = format!("m{i}");
        let rsp = conn
            .invoke(
                send_request("StallTopic", -1, body.as_bytes(), "t", "k"),
                STALL_TIMEOUT,
            )
            .await
            .expect("send");
        assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
        samples.push((started, started.elapsed()));
        i += 1;
    }
    samples
}

fn summary(label: &str, mut latencies: Vec<Duration>) -> String {
    latencies.sort();
    format!(
        "{label}: n={} p50={:?} p99={:?} p99.9={:?} max={:?}",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        latencies.last().copied().unwrap_or_default(),
    )
}

/// Latencies of the sends that started within `[from, to]`.
fn started_within(samples: &[Sample], from: Instant, to: Instant) -> Vec<Duration> {
    samples
        .iter()
        .filter(|(at, _)| *at >= from && *at <= to)
        .map(|(_, took)| *took)
        .collect()
}

/// Sends from several connections, first alone for a baseline, then while
/// one heartbeat creates [`STALL_GROUPS`] groups; prints the latencies of
/// the sends that started in the baseline window and while the heartbeat
/// was in flight, and of all (the aftermath included: registration of the
/// new topics, the persister's write).
async fn measure_stall(addr: std::net::SocketAddr) {
    // Encoded before the clock starts: this executor also runs the senders.
    let hb = heartbeat_of("stall-client", "StallGroup", STALL_GROUPS, "StallTopic");
    let hb_conn = connect(addr).await;
    let stop = std::rc::Rc::new(std::cell::Cell::new(false));
    let mut senders = Vec::new();
    for _ in 0..SENDER_CONNECTIONS {
        let conn = connect(addr).await;
        for _ in 0..SENDS_IN_FLIGHT {
            senders.push(glommio::spawn_local(send_until(conn.clone(), stop.clone())));
        }
    }
    glommio::timer::sleep(Duration::from_millis(200)).await;
    let baseline_started = Instant::now();
    glommio::timer::sleep(Duration::from_millis(500)).await;
    let hb_started = Instant::now();
    let rsp = hb_conn.invoke(hb, STALL_TIMEOUT).await.expect("heartbeat");
    let hb_ended = Instant::now();
    assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
    glommio::timer::sleep(Duration::from_millis(1500)).await;
    stop.set(true);
    let mut samples: Vec<Sample> = Vec::new();
    for sender in senders {
        samples.extend(sender.await);
    }
    let baseline = started_within(&samples, baseline_started, hb_started);
    let during = started_within(&samples, hb_started, hb_ended);
    let after = started_within(&samples, hb_started, Instant::now());
    println!(
        "heartbeat of {STALL_GROUPS} new groups answered in {:?}; {} concurrent senders\n  {}\n  {}\n  {}",
        hb_ended - hb_started,
        SENDER_CONNECTIONS * SENDS_IN_FLIGHT,
        summary("baseline, 0.5 s without the heartbeat", baseline),
        summary("sends started during the heartbeat", during),
        summary("sends started from the heartbeat to 1.5 s after its answer", after),
    );
}

#[test]
fn a_heartbeat_creating_thousands_of_groups_does_not_stall_sends_and_is_persisted() {
    let ns = start_namesrv();
    let data = tempfile::tempdir().unwrap();
    let config = broker_config(data.path(), ns.addr(), FlushModeName::Async);
    let broker = start_broker(config.clone());
    let addr = broker.addr();
    run(move || measure_stall(addr));
    broker.shutdown().unwrap();
    let broker = start_broker(config);
    run(move || async move {
        let conn = connect(addr).await;
        let all = conn
            .invoke(
                RemotingCommand::request(req::GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
                TIMEOUT,
            )
            .await
            .unwrap();
        let groups = SubscriptionGroupWrapper::decode(&all.body).unwrap();
        let topics = conn
            .invoke(RemotingCommand::request(req::GET_ALL_TOPIC_CONFIG), TIMEOUT)
            .await
            .unwrap();
        let topics = TopicConfigSerializeWrapper::decode(&topics.body).unwrap();
        for i in 0..STALL_GROUPS {
            let group = format!("StallGroup{i}");
            assert!(
                groups.subscription_group_table.contains_key(&group),
                "{group} lost across a clean restart"
            );
            assert!(
                topics
                    .topic_config_table
                    .contains_key(&format!("%RETRY%{group}")),
                "retry topic of {group} lost across a clean restart"
            );
        }
    });
    broker.shutdown().unwrap();
    ns.shutdown();
}

fn group_config(group: &str) -> RemotingCommand {
    RemotingCommand::request(req::GET_SUBSCRIPTIONGROUP_CONFIG).with_ext("group", group)
}

/// Past a limit, a heartbeat is refused whole with a remark naming the
/// limit, and nothing of it is applied; a pull cannot create a group past
/// the broker's total either.
#[test]
fn heartbeat_and_group_limits_are_answered_with_clear_errors() {
    use bolide_broker::groups::{MAX_GROUPS_PER_HEARTBEAT, MAX_SUBSCRIPTIONS_PER_CLIENT};
    use bolide_broker::subscription_groups::MAX_SUBSCRIPTION_GROUPS;
    with_broker(
        |_| {},
        move |addr, _| async move {
            let conn = connect(addr).await;
            let too_many = heartbeat_of("big", "Big", MAX_GROUPS_PER_HEARTBEAT + 1, "T");
            let rsp = conn.invoke(too_many, TIMEOUT).await.unwrap();
            assert_eq!(rsp.code, rsp::INVALID_PARAMETER);
            let remark = rsp.remark.unwrap_or_default();
            assert!(remark.contains("4097 consumer groups"), "{remark}");
            let rsp = conn.invoke(group_config("Big0"), TIMEOUT).await.unwrap();
            assert_eq!(
                rsp.code,
                rsp::SUBSCRIPTION_GROUP_NOT_EXIST,
                "nothing applied"
            );

            let mut wide = HeartbeatData {
                client_id: "wide".into(),
                consumer_data_set: vec![ConsumerData {
                    group_name: "Wide".into(),
                    subscription_data_set: (0..=MAX_SUBSCRIPTIONS_PER_CLIENT)
                        .map(|i| subscription(&format!("T{i}")))
                        .collect(),
                    ..ConsumerData::default()
                }],
                ..HeartbeatData::default()
            };
            let hb = RemotingCommand::request(req::HEART_BEAT).with_body(wide.encode());
            let rsp = conn.invoke(hb, TIMEOUT).await.unwrap();
            assert_eq!(rsp.code, rsp::INVALID_PARAMETER);
            assert!(rsp.remark.unwrap_or_default().contains("subscriptions"));

            // Fill the broker to its group limit, from several clients.
            let per_client = 4000;
            let mut created = 0;
            while created < MAX_SUBSCRIPTION_GROUPS {
                let n = per_client.min(MAX_SUBSCRIPTION_GROUPS - created);
                let prefix = format!("Fill{created}-");
                let hb = heartbeat_of(&format!("filler{created}"), &prefix, n, "T");
                let rsp = conn.invoke(hb, STALL_TIMEOUT).await.unwrap();
                assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
                created += n;
            }
            let one_more = heartbeat_of("late", "Late", 1, "T");
            let rsp = conn.invoke(one_more, TIMEOUT).await.unwrap();
            assert_eq!(rsp.code, rsp::SUBSCRIPTION_GROUP_NOT_EXIST);
            let remark = rsp.remark.unwrap_or_default();
            assert!(remark.contains("limit of 10000"), "{remark}");
            let rsp = conn
                .invoke(pull_request("Fresh", "T", 0, 0, "*", 0), TIMEOUT)
                .await
                .unwrap();
            assert_eq!(rsp.code, rsp::SUBSCRIPTION_GROUP_NOT_EXIST);
            assert!(rsp.remark.unwrap_or_default().contains("limit of 10000"));
            // Groups the broker has keep working.
            wide.consumer_data_set[0].group_name = "Fill0-0".into();
            wide.consumer_data_set[0].subscription_data_set.truncate(1);
            let hb = RemotingCommand::request(req::HEART_BEAT).with_body(wide.encode());
            let rsp = conn.invoke(hb, TIMEOUT).await.unwrap();
            assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
        },
    );
}
