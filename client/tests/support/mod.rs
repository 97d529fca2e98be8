//! Shared helpers of the client's end-to-end tests: a NameServer and a
//! 2-shard broker on loopback with a temporary data directory, and raw
//! SEND_MESSAGE_V2 sends over the remoting transport.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide_broker::config::{BrokerConfig, FlushModeName, Role};
use bolide_broker::runtime::BrokerHandle;
use bolide_client::remoting::{Connection, NoInbound};
use bolide_namesrv::config::NamesrvConfig;
use bolide_namesrv::server::NamesrvHandle;
use bolide_proto::body::TopicRouteData;
use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::header::offset::UpdateConsumerOffsetRequestHeader;
use bolide_proto::header::send::SendMessageRequestHeader;
use bolide_proto::message::PropertiesBuilder;
use bolide_proto::RemotingCommand;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A NameServer and a broker (and maybe its slave); stopped on drop.
pub struct Cluster {
    pub namesrv: Option<NamesrvHandle>,
    pub broker: Option<BrokerHandle>,
    pub slave: Option<BrokerHandle>,
    _data: tempfile::TempDir,
    _slave_data: Option<tempfile::TempDir>,
    /// The master's replication port (shard 0).
    replication_port: u16,
}

impl Cluster {
    pub fn start() -> Cluster {
        let config = NamesrvConfig {
            listen_addr: "127.0.0.1:0".into(),
            ..NamesrvConfig::default()
        };
        let namesrv = bolide_namesrv::server::spawn(config).expect("namesrv");
        let data = tempfile::tempdir().expect("tempdir");
        let config = broker_config(data.path(), namesrv.addr());
        let replication_port = config.replication_port();
        let broker = bolide_broker::runtime::start(config).expect("broker");
        Cluster {
            namesrv: Some(namesrv),
            broker: Some(broker),
            slave: None,
            _data: data,
            _slave_data: None,
            replication_port,
        }
    }

    /// A NameServer, an async master and its slave (which copies the
    /// master's metadata every 200 ms).
    pub fn start_with_slave() -> Cluster {
        let mut cluster = Cluster::start();
        let data = tempfile::tempdir().expect("tempdir");
        let mut config = broker_config(data.path(), cluster.namesrv_addr());
        config.broker.broker_id = 1;
        config.replication.role = Role::Slave;
        config.replication.master_addr = format!("127.0.0.1:{}", cluster.replication_port);
        config.replication.metadata_sync_interval_ms = 200;
        cluster.slave = Some(bolide_broker::runtime::start(config).expect("slave"));
        cluster._slave_data = Some(data);
        cluster
    }

    pub fn slave_addr(&self) -> SocketAddr {
        self.slave.as_ref().expect("running").addr()
    }

    /// Stops the master (it unregisters: routes list only the slave).
    pub fn stop_master(&mut self) {
        if let Some(b) = self.broker.take() {
            b.shutdown().expect("master stops cleanly");
        }
    }

    pub fn namesrv_addr(&self) -> SocketAddr {
        self.namesrv.as_ref().expect("running").addr()
    }

    pub fn broker_addr(&self) -> SocketAddr {
        self.broker.as_ref().expect("running").addr()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(b) = self.slave.take() {
            let _ = b.shutdown();
        }
        if let Some(b) = self.broker.take() {
            let _ = b.shutdown();
        }
        if let Some(n) = self.namesrv.take() {
            n.shutdown();
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Two consecutive free ports (a 2-shard master's replication ports).
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let port = free_port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two consecutive free ports");
}

fn broker_config(data: &std::path::Path, namesrv: SocketAddr) -> BrokerConfig {
    let mut c = BrokerConfig::default();
    c.broker.listen_host = "127.0.0.1".into();
    c.broker.listen_port = free_port();
    c.broker.vip_port = false;
    c.broker.namesrv_addrs = vec![namesrv.to_string()];
    c.broker.shards = 2;
    c.replication.listen_port = free_port_pair();
    c.broker.register_interval_ms = 1_000;
    c.broker.max_message_bytes = 64 * 1024;
    c.store.data_dir = data.to_path_buf();
    c.store.segment_size_bytes = 1 << 20;
    c.store.flush_mode = FlushModeName::Async;
    c.store.flush_interval_ms = 10;
    c.store.read_cache_bytes = 1 << 20;
    c
}

/// Runs an async body on a fresh glommio executor thread and returns its
/// result.
pub fn run<T, F>(make: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(make)
        .expect("executor")
        .join()
        .expect("test body panicked")
}

/// One message to send with [`send_all`].
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub queue: u32,
    pub body: Vec<u8>,
    pub tags: String,
    pub keys: String,
    pub props: Vec<(String, String)>,
}

impl Outgoing {
    pub fn new(queue: u32, body: impl Into<Vec<u8>>, tags: &str) -> Self {
        Outgoing {
            queue,
            body: body.into(),
            tags: tags.into(),
            keys: String::new(),
            props: Vec::new(),
        }
    }
}

fn send_request(topic: &str, m: &Outgoing) -> RemotingCommand {
    let mut props = PropertiesBuilder::new();
    props.set("TAGS", &m.tags).expect("tags");
    if !m.keys.is_empty() {
        props.set("KEYS", &m.keys).expect("keys");
    }
    for (k, v) in &m.props {
        props.set(k, v).expect("prop");
    }
    let header = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: m.queue as i32,
        born_timestamp: 1,
        properties: Some(props.build()),
        ..SendMessageRequestHeader::default()
    };
    let mut cmd = RemotingCommand::request(req::SEND_MESSAGE_V2).with_body(m.body.clone());
    header.to_v2(&mut cmd.ext_fields);
    cmd
}

async fn connect(addr: SocketAddr) -> Connection {
    Connection::connect(addr, Rc::new(NoInbound), 16 << 20, TIMEOUT)
        .await
        .expect("connect")
}

/// Sends `msgs` to `topic` on `broker`, in order, each acknowledged.
pub fn send_all(broker: SocketAddr, topic: &str, msgs: Vec<Outgoing>) {
    let topic = topic.to_owned();
    run(move || async move {
        let conn = connect(broker).await;
        for m in &msgs {
            let response = conn
                .invoke(send_request(&topic, m), TIMEOUT)
                .await
                .expect("send");
            assert_eq!(response.code, rsp::SUCCESS, "{:?}", response.remark);
        }
        conn.close();
    })
}

/// Waits until the NameServer routes `topic` with at least `queues` read
/// queues.
pub fn wait_for_route(namesrv: SocketAddr, topic: &str, queues: i32) {
    let topic = topic.to_owned();
    run(move || async move {
        let conn = connect(namesrv).await;
        let request =
            RemotingCommand::request(req::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", topic.as_str());
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            let response = conn.invoke(request.clone(), TIMEOUT).await.expect("route");
            if response.code == rsp::SUCCESS {
                let route = TopicRouteData::decode(&response.body).expect("route body");
                let read: i32 = route.queue_datas.iter().map(|q| q.read_queue_nums).sum();
                if read >= queues {
                    return;
                }
            }
            glommio::timer::sleep(Duration::from_millis(50)).await;
        }
        panic!("topic {topic} never reached the NameServer");
    })
}

/// The max offsets of `topic`'s first `queues` queues on `broker` (0 for
/// a queue, or topic, it does not know).
pub fn max_offsets(broker: SocketAddr, topic: &str, queues: u32) -> Vec<i64> {
    let topic = topic.to_owned();
    run(move || async move {
        let conn = connect(broker).await;
        let mut maxes = Vec::new();
        for q in 0..queues {
            let request = RemotingCommand::request(req::GET_MAX_OFFSET)
                .with_ext("topic", topic.as_str())
                .with_ext("queueId", q.to_string().as_str());
            let response = conn.invoke(request, TIMEOUT).await.expect("max offset");
            let offset = response
                .ext_fields
                .get("offset")
                .and_then(|o| o.parse().ok());
            maxes.push(
                offset
                    .filter(|_| response.code == rsp::SUCCESS)
                    .unwrap_or(0),
            );
        }
        conn.close();
        maxes
    })
}

/// Whether the NameServer's route of `topic` names a master.
pub fn route_has_master(namesrv: SocketAddr, topic: &str) -> bool {
    let topic = topic.to_owned();
    run(move || async move {
        let conn = connect(namesrv).await;
        let request =
            RemotingCommand::request(req::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", topic.as_str());
        let response = conn.invoke(request, TIMEOUT).await.expect("route");
        let route = TopicRouteData::decode(&response.body).ok();
        route.is_some_and(|r| r.broker_datas.iter().any(|b| b.master_addr().is_some()))
    })
}

/// Whether the broker at `broker` holds `topic`'s config (a slave: has
/// copied it from its master).
pub fn knows_topic(broker: SocketAddr, topic: &str) -> bool {
    let quoted = format!("\"{topic}\"");
    run(move || async move {
        let conn = connect(broker).await;
        let request = RemotingCommand::request(req::GET_ALL_TOPIC_CONFIG);
        let response = conn.invoke(request, TIMEOUT).await.expect("topic configs");
        conn.close();
        response.code == rsp::SUCCESS && String::from_utf8_lossy(&response.body).contains(&quoted)
    })
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Admin CLI output: the whitespace-separated cells of the first line that
/// starts with `first`.
pub fn row<'a>(output: &'a str, first: &str) -> Vec<&'a str> {
    output
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row starting with {first:?} in\n{output}"))
}

/// Commits `offset` for `group` on one queue, as a consumer does.
pub fn commit_offset(broker: SocketAddr, group: &str, topic: &str, queue: i32, offset: i64) {
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: queue,
        commit_offset: offset,
    };
    run(move || async move {
        let conn = Connection::connect(broker, Rc::new(NoInbound), 16 << 20, TIMEOUT)
            .await
            .expect("connect");
        let request = RemotingCommand::request(req::UPDATE_CONSUMER_OFFSET).with_header(&header);
        let response = conn.invoke(request, TIMEOUT).await.expect("commit");
        assert_eq!(response.code, rsp::SUCCESS, "{:?}", response.remark);
    });
}
