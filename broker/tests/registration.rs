//! A topic change answers only once the NameServers route it: a route query
//! sent right after `updateTopic` on every broker of a cluster lists every
//! broker group, a heartbeat that created a group's `%RETRY%` topic is
//! followed by a route for it, and a NameServer that is down or hangs
//! delays changes by a bounded wait at most, not each one. Every query is
//! sent once, right after the answer: no polling, no sleeps. The brokers
//! reach the NameServer through a proxy that holds what they send for a
//! while, so a broker that answered before its registration landed fails
//! these tests every time instead of on a loaded machine only. Durations
//! are printed, never asserted.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bolide_broker::config::FlushModeName;
use bolide_broker::runtime::BrokerHandle;
use bolide_namesrv::server::NamesrvHandle;
use bolide_proto::body::{ConsumerData, HeartbeatData, JsonBody, SubscriptionData, TopicRouteData};
use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::Connection;
use support::*;

/// Fresh topics (or groups) per test: each one a chance to catch the race.
const ROUNDS: usize = 20;
const QUEUES: i32 = 4;
/// How long the proxy holds what a broker sends its NameServer: far longer
/// than an fsync of the topic config, so waiting for the disk alone does
/// not hide a registration still on its way.
const REGISTRATION_DELAY: Duration = Duration::from_millis(100);

/// A TCP proxy to `target` that holds each chunk a client sends for
/// `delay` before passing it on (answers pass at once): a NameServer slow
/// to take registrations. Its threads end with their connections.
fn slow_proxy(target: SocketAddr, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for inbound in listener.incoming() {
            let Ok(inbound) = inbound else { return };
            let Ok(outbound) = TcpStream::connect(target) else {
                continue;
            };
            let (Ok(inbound_w), Ok(outbound_r)) = (inbound.try_clone(), outbound.try_clone())
            else {
                continue;
            };
            pipe(inbound, outbound, delay);
            pipe(outbound_r, inbound_w, Duration::ZERO);
        }
    });
    addr
}

fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            std::thread::sleep(delay);
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// A NameServer and one 2-shard broker per name, registering through a
/// [`slow_proxy`]; stopped on drop.
struct Cluster {
    namesrv: Option<NamesrvHandle>,
    brokers: Vec<BrokerHandle>,
    _data: Vec<tempfile::TempDir>,
}

impl Cluster {
    fn start(names: &[&str]) -> Cluster {
        let namesrv = start_namesrv();
        let proxy = slow_proxy(namesrv.addr(), REGISTRATION_DELAY);
        let data: Vec<_> = names.iter().map(|_| tempfile::tempdir().unwrap()).collect();
        let brokers = names
            .iter()
            .zip(&data)
            .map(|(name, dir)| {
                let mut config = broker_config(dir.path(), proxy, FlushModeName::Async);
                config.broker.broker_name = (*name).into();
                start_broker(config)
            })
            .collect();
        Cluster {
            namesrv: Some(namesrv),
            brokers,
            _data: data,
        }
    }

    fn namesrv_addr(&self) -> SocketAddr {
        self.namesrv.as_ref().expect("running").addr()
    }

    fn broker_addrs(&self) -> Vec<SocketAddr> {
        self.brokers.iter().map(|b| b.addr()).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for broker in self.brokers.drain(..) {
            let _ = broker.shutdown();
        }
        if let Some(namesrv) = self.namesrv.take() {
            namesrv.shutdown();
        }
    }
}

fn create_topic(topic: &str) -> RemotingCommand {
    create_topic_request(topic, QUEUES)
}

/// A consumer heartbeat of one client in `group`, subscribed to `topic`.
fn heartbeat(client: &str, group: &str, topic: &str) -> RemotingCommand {
    let consumer = ConsumerData {
        group_name: group.into(),
        subscription_data_set: vec![SubscriptionData {
            topic: topic.into(),
            sub_string: "*".into(),
            sub_version: 1,
            ..SubscriptionData::default()
        }],
        ..ConsumerData::default()
    };
    let hb = HeartbeatData {
        client_id: client.into(),
        consumer_data_set: vec![consumer],
        ..HeartbeatData::default()
    };
    RemotingCommand::request(req::HEART_BEAT).with_body(hb.encode())
}

/// Sends `request` and asserts SUCCESS; returns how long it took.
async fn ok(conn: &Connection, request: RemotingCommand) -> Duration {
    let started = Instant::now();
    let response = conn.invoke(request, TIMEOUT).await.expect("invoke");
    assert_eq!(response.code, rsp::SUCCESS, "{:?}", response.remark);
    started.elapsed()
}

/// The route of `topic`, asked once: it must exist now.
async fn route(ns: &Connection, topic: &str) -> TopicRouteData {
    let request = RemotingCommand::request(req::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", topic);
    let response = ns.invoke(request, TIMEOUT).await.expect("route");
    assert_eq!(
        response.code,
        rsp::SUCCESS,
        "no route for {topic} right after the change: {:?}",
        response.remark
    );
    TopicRouteData::decode(&response.body).expect("route body")
}

/// The broker groups a route lists, sorted, with the queues each routes.
fn groups_of(route: &TopicRouteData) -> Vec<(String, i32)> {
    let mut groups: Vec<(String, i32)> = route
        .queue_datas
        .iter()
        .map(|q| (q.broker_name.clone(), q.write_queue_nums))
        .collect();
    groups.sort();
    groups
}

/// Medians and maxima of the measured answers, for the log.
fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let median = samples.get(samples.len() / 2).copied().unwrap_or_default();
    let max = samples.last().copied().unwrap_or_default();
    println!(
        "{what}: {} answers, median {median:?}, max {max:?}",
        samples.len()
    );
}

#[test]
fn a_topic_made_on_every_broker_is_routed_to_every_group_at_once() {
    let cluster = Cluster::start(&["broker-a", "broker-b"]);
    let (brokers, ns_addr) = (cluster.broker_addrs(), cluster.namesrv_addr());
    run(move || async move {
        let brokers = [connect(brokers[0]).await, connect(brokers[1]).await];
        let ns = connect(ns_addr).await;
        let mut answers = Vec::new();
        for round in 0..ROUNDS {
            let topic = format!("Everywhere{round}");
            // One broker after the other, as `bolide-admin updateTopic -c` does.
            for broker in &brokers {
                answers.push(ok(broker, create_topic(&topic)).await);
            }
            let expected = [
                ("broker-a".to_string(), QUEUES),
                ("broker-b".into(), QUEUES),
            ];
            assert_eq!(groups_of(&route(&ns, &topic).await), expected, "{topic}");
        }
        report("updateTopic", answers);
    });
}

#[test]
fn a_heartbeat_that_made_a_retry_topic_answers_once_it_is_routed() {
    let cluster = Cluster::start(&["broker-a"]);
    let (broker, ns_addr) = (cluster.broker_addrs()[0], cluster.namesrv_addr());
    run(move || async move {
        let conn = connect(broker).await;
        let ns = connect(ns_addr).await;
        let mut answers = Vec::new();
        for round in 0..ROUNDS {
            let group = format!("Fresh{round}");
            answers.push(ok(&conn, heartbeat("c1", &group, "T")).await);
            let retry = format!("%RETRY%{group}");
            let expected = [("broker-a".to_string(), 1)];
            assert_eq!(groups_of(&route(&ns, &retry).await), expected, "{retry}");
        }
        report("first heartbeats", answers);
        // Nothing new: the next heartbeat has nothing to wait for.
        let again = ok(&conn, heartbeat("c1", "Fresh0", "T")).await;
        println!("a repeated heartbeat: {again:?}");
    });
}

/// A deleted topic leaves the route at once too (the NameServer drops a
/// broker's topics that its registration no longer lists).
#[test]
fn a_topic_deleted_on_its_broker_leaves_the_route() {
    let cluster = Cluster::start(&["broker-a"]);
    let (broker, ns_addr) = (cluster.broker_addrs()[0], cluster.namesrv_addr());
    run(move || async move {
        let conn = connect(broker).await;
        let ns = connect(ns_addr).await;
        ok(&conn, create_topic("Doomed")).await;
        route(&ns, "Doomed").await;
        let delete =
            RemotingCommand::request(req::DELETE_TOPIC_IN_BROKER).with_ext("topic", "Doomed");
        ok(&conn, delete).await;
        let request =
            RemotingCommand::request(req::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", "Doomed");
        let response = ns.invoke(request, TIMEOUT).await.expect("route");
        assert_eq!(response.code, rsp::TOPIC_NOT_EXIST, "{:?}", response.remark);
    });
}

/// A listener that accepts connections (the kernel's backlog does) and
/// never answers: a NameServer that hangs.
fn hanging_namesrv() -> (std::net::TcpListener, SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

/// With one NameServer refusing connections and one hanging, changes still
/// answer SUCCESS and the live NameServer routes them; only changes made
/// while the hanging one's first attempt is in flight wait (at most
/// `REGISTER_WAIT`), the others answer as fast as with no dead NameServer.
#[test]
fn namesrvs_that_are_down_or_hang_do_not_hold_every_change() {
    let ns = start_namesrv();
    let (hanging, hanging_addr) = hanging_namesrv();
    let refusing = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let data = tempfile::tempdir().unwrap();
    let mut config = broker_config(data.path(), ns.addr(), FlushModeName::Async);
    config.broker.namesrv_addrs = vec![
        refusing.to_string(),
        ns.addr().to_string(),
        hanging_addr.to_string(),
    ];
    let broker = start_broker(config);
    let (addr, ns_addr) = (broker.addr(), ns.addr());
    run(move || async move {
        let conn = connect(addr).await;
        let ns = connect(ns_addr).await;
        let mut answers = Vec::new();
        for round in 0..5 {
            let topic = format!("Despite{round}");
            answers.push(ok(&conn, create_topic(&topic)).await);
            let expected = [("broker-a".to_string(), QUEUES)];
            assert_eq!(groups_of(&route(&ns, &topic).await), expected, "{topic}");
        }
        println!("with a NameServer down and one hanging: {answers:?}");
    });
    broker.shutdown().unwrap();
    ns.shutdown();
    drop(hanging);
}
