//! Shared helpers of the broker's end-to-end tests: a NameServer and a
//! broker on loopback with a temporary data directory, and a minimal
//! wire-level client built on the remoting transport.

#![allow(dead_code)]

pub mod process;
pub mod txn;

use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use bolide_broker::config::{BrokerConfig, FlushModeName};
use bolide_broker::runtime::BrokerHandle;
use bolide_namesrv::config::NamesrvConfig;
use bolide_namesrv::server::NamesrvHandle;
use bolide_proto::codes::{pull_sys_flag, request_code as req};
use bolide_proto::header::pull::PullMessageRequestHeader;
use bolide_proto::header::send::SendMessageRequestHeader;
use bolide_proto::message::PropertiesBuilder;
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, NoInbound};

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A port nobody listens on right now (bound and released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `n` consecutive free ports, the first returned (a master's per-shard
/// replication ports).
pub fn free_ports(n: u16) -> u16 {
    for _ in 0..100 {
        let first = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = first.local_addr().expect("addr").port();
        let rest_free = (1..n).all(|i| {
            port.checked_add(i)
                .is_some_and(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        });
        if rest_free {
            return port;
        }
    }
    panic!("no {n} consecutive free ports");
}

pub fn start_namesrv() -> NamesrvHandle {
    let config = NamesrvConfig {
        listen_addr: "127.0.0.1:0".into(),
        ..NamesrvConfig::default()
    };
    bolide_namesrv::server::spawn(config).expect("namesrv")
}

/// A broker config for tests: loopback, small segments, 2 shards.
pub fn broker_config(data: &Path, namesrv: SocketAddr, flush: FlushModeName) -> BrokerConfig {
    let mut c = BrokerConfig::default();
    c.broker.listen_host = "127.0.0.1".into();
    c.broker.listen_port = free_port();
    c.broker.vip_port = false;
    c.broker.namesrv_addrs = vec![namesrv.to_string()];
    c.broker.shards = 2;
    c.replication.listen_port = free_ports(2);
    c.broker.register_interval_ms = 1_000;
    c.broker.max_message_bytes = 64 * 1024;
    c.store.data_dir = data.to_path_buf();
    c.store.segment_size_bytes = 1 << 20;
    c.store.flush_mode = flush;
    c.store.flush_interval_ms = 10;
    c.store.read_cache_bytes = 1 << 20;
    c
}

pub fn start_broker(config: BrokerConfig) -> BrokerHandle {
    bolide_broker::runtime::start(config).expect("broker")
}

/// Runs an async test body on a fresh glommio executor.
pub fn run<F: std::future::Future<Output = ()> + 'static>(
    make: impl FnOnce() -> F + Send + 'static,
) {
    glommio::LocalExecutorBuilder::default()
        .spawn(make)
        .expect("executor")
        .join()
        .expect("test body panicked");
}

pub async fn connect(addr: SocketAddr) -> Connection {
    Connection::connect(addr, Rc::new(NoInbound), 16 << 20, TIMEOUT)
        .await
        .expect("connect")
}

/// A SEND_MESSAGE_V2 request.
pub fn send_request(
    topic: &str,
    queue: i32,
    body: &[u8],
    tags: &str,
    keys: &str,
) -> RemotingCommand {
    let mut props = PropertiesBuilder::new();
    props.set("TAGS", tags).expect("tags");
    props.set("KEYS", keys).expect("keys");
    let header = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: queue,
        born_timestamp: 1,
        properties: Some(props.build()),
        ..SendMessageRequestHeader::default()
    };
    let mut cmd = RemotingCommand::request(req::SEND_MESSAGE_V2).with_body(body.to_vec());
    header.to_v2(&mut cmd.ext_fields);
    cmd
}

/// A PULL_MESSAGE request with its own subscription (`expr`).
pub fn pull_request(
    group: &str,
    topic: &str,
    queue: i32,
    offset: i64,
    expr: &str,
    suspend_ms: i64,
) -> RemotingCommand {
    let mut sys_flag = pull_sys_flag::SUBSCRIPTION;
    if suspend_ms > 0 {
        sys_flag |= pull_sys_flag::SUSPEND;
    }
    let header = PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: queue,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag,
        suspend_timeout_millis: suspend_ms,
        subscription: Some(expr.into()),
        ..PullMessageRequestHeader::default()
    };
    RemotingCommand::request(req::PULL_MESSAGE).with_header(&header)
}

/// Polls `probe` every 20 ms until it yields a value; panics naming
/// `what` after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        glommio::timer::sleep(Duration::from_millis(20)).await;
    }
}

/// UPDATE_AND_CREATE_TOPIC as `bolide-admin updateTopic` sends it.
pub fn create_topic_request(topic: &str, queues: i32) -> RemotingCommand {
    let header = bolide_proto::header::admin::CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(0),
        order: Some(false),
        attributes: None,
        force: None,
    };
    RemotingCommand::request(req::UPDATE_AND_CREATE_TOPIC).with_header(&header)
}

/// Reads a numeric ext field of a response.
pub fn ext_i64(cmd: &RemotingCommand, key: &str) -> i64 {
    cmd.ext_fields
        .get(key)
        .unwrap_or_else(|| panic!("missing {key} in {:?}", cmd.ext_fields))
        .parse()
        .expect("number")
}

/// Runs `body(broker, namesrv)` against a fresh NameServer and 2-shard
/// broker (async flush, temp data dir; `tweak` adjusts the config), then
/// shuts both down.
pub fn with_broker<F, Fut>(tweak: impl FnOnce(&mut BrokerConfig), body: F)
where
    F: FnOnce(SocketAddr, SocketAddr) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let ns = start_namesrv();
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = broker_config(data.path(), ns.addr(), FlushModeName::Async);
    tweak(&mut config);
    let broker = start_broker(config);
    let (addr, ns_addr) = (broker.addr(), ns.addr());
    run(move || body(addr, ns_addr));
    broker.shutdown().unwrap();
    ns.shutdown();
}
