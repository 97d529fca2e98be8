//! The producer: [`Producer`], the async core that lives on a glommio
//! executor (`Rc`, for code that already runs one, like `loadgen`), and
//! [`BlockingProducer`], its `Send + Sync` facade over a
//! [`ClientRuntime`] for plain `fn main()` and other async runtimes.
//!
//! What a send does (remoting.md §4.2, §8.1–8.2):
//!
//! 1. **Route.** Publish queues come from the topic's route, fetched from
//!    the NameServer and cached per topic; refreshed every
//!    `route_refresh_interval` and, after a failed send, on the next send.
//!    A topic without a route is sent along `TBW102`'s route with
//!    `min(default_topic_queue_nums, queues)` queues per broker, and the
//!    broker auto-creates it (as RocketMQ clients do).
//! 2. **Queue.** Round robin over the publish queues, avoiding brokers whose
//!    recent sends were slow or failed ([`FaultTable`]) and, on a retry, the
//!    broker that just failed ([`QueueSelector`]). Or a caller's selector /
//!    sharding key (ordered sends: one attempt, no retry elsewhere).
//! 3. **Wire.** SEND_MESSAGE_V2 (310) with a fresh `UNIQ_KEY`; batches as
//!    SEND_BATCH_MESSAGE (320) with `m=true`; oneway sends with the oneway
//!    flag and no answer. One connection per broker address, reused.
//! 4. **Retry.** A sync send that fails at the transport or with a
//!    retriable code (system error/busy, no permission, topic missing,
//!    service unavailable) is retried up to `retries` more times, on another
//!    broker where possible, within one overall `send_timeout`.
//! 5. **Result.** SUCCESS and FLUSH_DISK_TIMEOUT / FLUSH_SLAVE_TIMEOUT /
//!    SLAVE_NOT_AVAILABLE (stored, weaker durability) give a [`SendResult`]
//!    with a [`SendStatus`]; other codes give [`ClientError::Response`].
//!
//! Every `heartbeat_interval` the producer sends HEART_BEAT (its group in
//! `producerDataSet`) to every master it has connected to (also once right
//! after connecting), and on [`Producer::shutdown`] UNREGISTER_CLIENT.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bolide_proto::body::{HeartbeatData, JsonBody, ProducerData, TopicRouteData};
use bolide_proto::codes::{request_code, response_code, version};
use bolide_proto::header::client::UnregisterClientRequestHeader;
use bolide_proto::header::send::SendMessageRequestHeader;
use bolide_proto::message::encode_batch_item;
use bolide_proto::msgid::UniqueKeyGenerator;
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, NoInbound, TransportError};
use bolide_transport::rt::{self, JoinHandle};
use bytes::{Bytes, BytesMut};

use crate::error::ClientError;
use crate::fault::FaultTable;
use crate::message::{invalid, Message, SendResult};
use crate::nameserver::{parse_addr_list, NameServerClient, NameServerClientConfig};
use crate::route::{master_addr, parse_addr, publish_info, MessageQueue, TopicPublishInfo};
use crate::runtime::{ClientRuntime, LocalHandle, TryPending};
use crate::selector::{select_by_key, QueueSelector};

/// RocketMQ's default send timeout.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(3);
/// The template topic of auto-created topics.
pub const AUTO_CREATE_TOPIC: &str = "TBW102";
/// Queues per broker of an auto-created topic.
pub const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 4;
/// Largest message (or batch) body the producer sends (Java's 4 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;
/// Route refresh and heartbeat period (RocketMQ's 30 s).
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(30);
/// How long shutdown waits for UNREGISTER_CLIENT answers per broker.
const UNREGISTER_TIMEOUT: Duration = Duration::from_secs(3);

/// Settings of a producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Producer group (sent in every request and heartbeat).
    pub group: String,
    /// NameServers, `ip:port;ip:port`.
    pub namesrv_addr: String,
    /// Distinguishes producers of one process in the client id.
    pub instance_name: Option<String>,
    /// Overall bound of one send, retries included; also each connect.
    pub send_timeout: Duration,
    /// Extra attempts of a failed sync send.
    pub retries: u32,
    /// Queues per broker of a topic auto-created through `TBW102`.
    pub default_topic_queue_nums: i32,
    pub max_message_bytes: usize,
    pub route_refresh_interval: Duration,
    pub heartbeat_interval: Duration,
    /// Avoid brokers whose sends were slow or failed.
    pub fault_avoidance: bool,
    pub max_frame_bytes: usize,
}

impl ProducerConfig {
    /// Defaults for `group` talking to `namesrv_addr`.
    pub fn new(group: impl Into<String>, namesrv_addr: impl Into<String>) -> Self {
        ProducerConfig {
            group: group.into(),
            namesrv_addr: namesrv_addr.into(),
            instance_name: None,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            retries: 2,
            default_topic_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            route_refresh_interval: DEFAULT_PERIOD,
            heartbeat_interval: DEFAULT_PERIOD,
            fault_avoidance: true,
            max_frame_bytes: bolide_proto::MAX_FRAME_BYTES,
        }
    }
}

/// A selector's choice among a topic's publish queues.
pub type SelectFn = Box<dyn FnOnce(&[MessageQueue], &Message) -> Option<MessageQueue> + Send>;

/// What one send puts on the wire, ready to be aimed at a queue.
#[derive(Debug, Clone)]
struct Outgoing {
    topic: String,
    flag: i32,
    /// `None` for a batch (each item carries its own).
    properties: Option<String>,
    body: Bytes,
    batch: bool,
    /// The UNIQ_KEY(s), comma-joined for a batch.
    msg_id: String,
}

/// One topic's cached route and round-robin position.
#[derive(Debug)]
struct TopicEntry {
    route: TopicRouteData,
    info: TopicPublishInfo,
    selector: QueueSelector,
    /// Refetch before the next send (a send failed).
    stale: bool,
}

#[derive(Debug)]
struct Inner {
    config: ProducerConfig,
    client_id: String,
    namesrv: NameServerClient,
    topics: RefCell<HashMap<String, TopicEntry>>,
    conns: RefCell<HashMap<SocketAddr, Connection>>,
    /// Masters this producer connected to: heartbeat and unregister targets.
    masters: RefCell<BTreeSet<SocketAddr>>,
    faults: RefCell<FaultTable>,
    ids: RefCell<UniqueKeyGenerator>,
    /// Origin of the monotonic milliseconds the fault table runs on.
    epoch: Instant,
    timer: RefCell<Option<JoinHandle<()>>>,
    stopped: Cell<bool>,
}

/// The async producer; lives on one glommio executor. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Producer {
    inner: Rc<Inner>,
}

impl Producer {
    /// Creates the producer and starts its route-refresh / heartbeat task.
    /// Must run inside a glommio executor.
    pub fn start(config: ProducerConfig) -> Result<Producer, ClientError> {
        if config.group.is_empty() {
            return Err(invalid("producer group is empty"));
        }
        let addrs = parse_addr_list(&config.namesrv_addr)?;
        let ip = local_ipv4(addrs[0]);
        let now = wall_clock_ms();
        let salt = random_u64() as u32;
        let instance = config
            .instance_name
            .clone()
            .unwrap_or_else(|| (salt & 0xFFFF).to_string());
        let namesrv = NameServerClient::new(
            addrs,
            NameServerClientConfig {
                timeout: config.send_timeout,
                max_frame_bytes: config.max_frame_bytes,
            },
        )?;
        let inner = Rc::new(Inner {
            client_id: format!("{ip}@{}#{instance}", std::process::id()),
            ids: RefCell::new(UniqueKeyGenerator::new(ip, std::process::id(), salt, now)),
            config,
            namesrv,
            topics: RefCell::new(HashMap::new()),
            conns: RefCell::new(HashMap::new()),
            masters: RefCell::new(BTreeSet::new()),
            faults: RefCell::new(FaultTable::new()),
            epoch: Instant::now(),
            timer: RefCell::new(None),
            stopped: Cell::new(false),
        });
        let task = rt::spawn_local(periodic(Rc::downgrade(&inner))).detach();
        *inner.timer.borrow_mut() = Some(task);
        Ok(Producer { inner })
    }

    /// This client's id, as heartbeats report it (`ip@pid#instance`).
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    /// Sends `msg`, retrying elsewhere on failure.
    pub async fn send(&self, msg: Message) -> Result<SendResult, ClientError> {
        let out = self.prepare(&msg)?;
        self.send_with_retries(&out).await
    }

    /// Sends `msg` without waiting for (or getting) an answer; one attempt.
    pub async fn send_oneway(&self, msg: Message) -> Result<(), ClientError> {
        let out = self.prepare(&msg)?;
        self.ensure_route(&out.topic).await?;
        let (mq, addr) = self.inner.select(&out.topic, None)?;
        let conn = self
            .inner
            .connection(addr, self.inner.config.send_timeout)
            .await?;
        let request = self.inner.request(&out, &mq);
        conn.invoke_oneway(request)
            .await
            .map_err(|source| ClientError::Transport { addr, source })
    }

    /// Sends `msgs` (one topic, no delay) as one batch to one queue.
    pub async fn send_batch(&self, msgs: Vec<Message>) -> Result<SendResult, ClientError> {
        let out = self.prepare_batch(&msgs)?;
        self.send_with_retries(&out).await
    }

    /// Sends to the queue `select` picks from the topic's publish queues;
    /// one attempt (an ordered send must not move to another queue).
    pub async fn send_with_selector<F>(
        &self,
        msg: Message,
        select: F,
    ) -> Result<SendResult, ClientError>
    where
        F: FnOnce(&[MessageQueue], &Message) -> Option<MessageQueue>,
    {
        let out = self.prepare(&msg)?;
        self.ensure_route(&out.topic).await?;
        let queues = self.publish_queues(&out.topic);
        let mq = select(&queues, &msg)
            .ok_or_else(|| invalid(format!("selector chose no queue of {}", out.topic)))?;
        if !queues.contains(&mq) {
            return Err(invalid(format!("selector chose {mq}, not a publish queue")));
        }
        self.send_to(&out, &mq).await
    }

    /// Ordered send: the same `key` always goes to the same queue while the
    /// topic's queues are unchanged.
    pub async fn send_by_key(&self, msg: Message, key: &str) -> Result<SendResult, ClientError> {
        self.send_with_selector(msg, |queues, _| select_by_key(queues, key).cloned())
            .await
    }

    /// Sends to `mq` (one attempt).
    pub async fn send_to_queue(
        &self,
        msg: Message,
        mq: &MessageQueue,
    ) -> Result<SendResult, ClientError> {
        let out = self.prepare(&msg)?;
        if mq.topic != out.topic {
            return Err(invalid(format!("{mq} is not a queue of {}", out.topic)));
        }
        self.ensure_route(&out.topic).await?;
        self.send_to(&out, mq).await
    }

    /// The publish queues of `topic` (fetching its route if needed).
    pub async fn fetch_publish_queues(
        &self,
        topic: &str,
    ) -> Result<Vec<MessageQueue>, ClientError> {
        self.ensure_route(topic).await?;
        Ok(self.publish_queues(topic))
    }

    /// Sends UNREGISTER_CLIENT to every master, stops the periodic task and
    /// closes the connections. Sends after this fail.
    pub async fn shutdown(&self) {
        if self.inner.stopped.replace(true) {
            return;
        }
        if let Some(timer) = self.inner.timer.borrow_mut().take() {
            timer.cancel();
        }
        let masters: Vec<SocketAddr> = self.inner.masters.borrow().iter().copied().collect();
        for addr in masters {
            self.inner.unregister(addr).await;
        }
        for (_, conn) in self.inner.conns.borrow_mut().drain() {
            conn.close();
        }
        self.inner.namesrv.close();
    }

    fn prepare(&self, msg: &Message) -> Result<Outgoing, ClientError> {
        self.check_running()?;
        msg.validate()?;
        self.check_size(msg.body.len())?;
        let msg_id = self.inner.next_uniq_key();
        Ok(Outgoing {
            topic: msg.topic.clone(),
            flag: msg.flag,
            properties: Some(msg.encode_properties(&msg_id)?),
            body: msg.body.clone(),
            batch: false,
            msg_id,
        })
    }

    fn prepare_batch(&self, msgs: &[Message]) -> Result<Outgoing, ClientError> {
        self.check_running()?;
        let first = msgs.first().ok_or_else(|| invalid("empty batch"))?;
        let mut body = BytesMut::new();
        let mut ids = Vec::with_capacity(msgs.len());
        for msg in msgs {
            msg.validate()?;
            if msg.topic != first.topic {
                return Err(invalid("a batch's messages must share one topic"));
            }
            if msg.delay_level > 0 {
                return Err(invalid("batch messages cannot be delayed"));
            }
            let id = self.inner.next_uniq_key();
            encode_batch_item(msg.flag, &msg.body, &msg.encode_properties(&id)?, &mut body);
            ids.push(id);
        }
        self.check_size(body.len())?;
        Ok(Outgoing {
            topic: first.topic.clone(),
            flag: 0,
            properties: None,
            body: body.freeze(),
            batch: true,
            msg_id: ids.join(","),
        })
    }

    fn check_running(&self) -> Result<(), ClientError> {
        if self.inner.stopped.get() {
            return Err(crate::runtime::Canceled.into());
        }
        Ok(())
    }

    fn check_size(&self, len: usize) -> Result<(), ClientError> {
        let max = self.inner.config.max_message_bytes;
        if len > max {
            return Err(invalid(format!("body is {len} bytes, more than {max}")));
        }
        Ok(())
    }

    fn publish_queues(&self, topic: &str) -> Vec<MessageQueue> {
        let topics = self.inner.topics.borrow();
        topics
            .get(topic)
            .map(|e| e.info.queues.clone())
            .unwrap_or_default()
    }

    async fn send_with_retries(&self, out: &Outgoing) -> Result<SendResult, ClientError> {
        self.ensure_route(&out.topic).await?;
        let inner = &self.inner;
        let deadline = Instant::now() + inner.config.send_timeout;
        let mut last_broker: Option<String> = None;
        let mut last_error = None;
        for attempt in 0..=inner.config.retries {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let (mq, addr) = inner.select(&out.topic, last_broker.as_deref())?;
            match inner.attempt(out, &mq, addr, left).await {
                Ok(result) => return Ok(result),
                Err(e) if !is_retriable(&e) => return Err(e),
                Err(e) => {
                    tracing::debug!(attempt, queue = %mq, error = %e, "send failed; retrying");
                    inner.mark_stale(&out.topic);
                    last_broker = Some(mq.broker_name);
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or(ClientError::Transport {
            addr: inner.namesrv.current_addr(),
            source: TransportError::Timeout(inner.config.send_timeout),
        }))
    }

    /// One attempt at `mq`, marking the route stale on failure.
    async fn send_to(&self, out: &Outgoing, mq: &MessageQueue) -> Result<SendResult, ClientError> {
        let addr = self.inner.master_of(&out.topic, &mq.broker_name)?;
        let result = self
            .inner
            .attempt(out, mq, addr, self.inner.config.send_timeout)
            .await;
        if result.is_err() {
            self.inner.mark_stale(&out.topic);
        }
        result
    }

    /// Makes sure `topic` has a usable cached route (fetching it if absent
    /// or stale; a stale route is kept if the refetch fails).
    async fn ensure_route(&self, topic: &str) -> Result<(), ClientError> {
        let known = self.inner.topics.borrow().get(topic).map(|e| e.stale);
        match known {
            Some(false) => Ok(()),
            Some(true) => {
                if let Err(e) = self.inner.refresh_topic(topic).await {
                    tracing::debug!(topic, error = %e, "route refresh failed; keeping the old one");
                }
                Ok(())
            }
            None => self.inner.refresh_topic(topic).await,
        }
    }
}

impl Inner {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn next_uniq_key(&self) -> String {
        self.ids.borrow_mut().next(wall_clock_ms())
    }

    fn mark_stale(&self, topic: &str) {
        if let Some(entry) = self.topics.borrow_mut().get_mut(topic) {
            entry.stale = true;
        }
    }

    /// Fetches `topic`'s route (or the `TBW102` fallback) and caches it.
    async fn refresh_topic(&self, topic: &str) -> Result<(), ClientError> {
        let route = match self.namesrv.topic_route(topic).await? {
            Some(route) if publish_info(topic, &route).is_ok() => route,
            _ => self.auto_create_route(topic).await?,
        };
        let info = publish_info(topic, &route);
        let mut topics = self.topics.borrow_mut();
        match topics.get_mut(topic) {
            Some(entry) => {
                entry.route = route;
                entry.info = info;
                entry.stale = false;
            }
            None => {
                let selector = QueueSelector::new(random_u64() as u32);
                topics.insert(
                    topic.to_owned(),
                    TopicEntry {
                        route,
                        info,
                        selector,
                        stale: false,
                    },
                );
            }
        }
        Ok(())
    }

    /// `TBW102`'s route with `min(default_topic_queue_nums, n)` queues per
    /// broker: where a send of an unknown topic goes to be auto-created.
    async fn auto_create_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        let no_route = || ClientError::Response {
            addr: self.namesrv.current_addr(),
            code: response_code::TOPIC_NOT_EXIST,
            remark: format!(
                "no route info of topic {topic}, and no {AUTO_CREATE_TOPIC} to create it"
            ),
        };
        let mut route = self
            .namesrv
            .topic_route(AUTO_CREATE_TOPIC)
            .await?
            .ok_or_else(no_route)?;
        let want = self.config.default_topic_queue_nums.max(1);
        for data in &mut route.queue_datas {
            let n = want.min(data.read_queue_nums);
            data.read_queue_nums = n;
            data.write_queue_nums = n;
        }
        if !publish_info(topic, &route).is_ok() {
            return Err(no_route());
        }
        Ok(route)
    }

    /// The next queue for `topic` and its master's address.
    fn select(
        &self,
        topic: &str,
        last_broker: Option<&str>,
    ) -> Result<(MessageQueue, SocketAddr), ClientError> {
        let now = self.now_ms();
        let empty = FaultTable::new();
        let faults = self.faults.borrow();
        let faults = if self.config.fault_avoidance {
            &*faults
        } else {
            &empty
        };
        let mut topics = self.topics.borrow_mut();
        let entry = topics
            .get_mut(topic)
            .ok_or_else(|| invalid(format!("no route for {topic}")))?;
        let mq = entry
            .selector
            .select(&entry.info.queues, faults, last_broker, now)
            .cloned()
            .ok_or_else(|| invalid(format!("topic {topic} has no writable queue")))?;
        let addr = master_addr(&entry.route, &mq.broker_name)
            .ok_or_else(|| invalid(format!("broker {} has no master", mq.broker_name)))?;
        Ok((mq, parse_addr(addr)?))
    }

    fn master_of(&self, topic: &str, broker: &str) -> Result<SocketAddr, ClientError> {
        let topics = self.topics.borrow();
        let addr = topics
            .get(topic)
            .and_then(|e| master_addr(&e.route, broker))
            .ok_or_else(|| invalid(format!("broker {broker} of {topic} has no master")))?;
        parse_addr(addr)
    }

    /// One send to `mq` at `addr`, bounded by `timeout`; feeds the fault
    /// table.
    async fn attempt(
        &self,
        out: &Outgoing,
        mq: &MessageQueue,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<SendResult, ClientError> {
        let started = Instant::now();
        let result = self.invoke_send(out, mq, addr, timeout).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let now = self.now_ms();
        let mut faults = self.faults.borrow_mut();
        match &result {
            Ok(_) => faults.record_latency(&mq.broker_name, latency_ms, now),
            Err(e) if is_broker_fault(e) => faults.record_failure(&mq.broker_name, latency_ms, now),
            Err(_) => {}
        }
        result
    }

    async fn invoke_send(
        &self,
        out: &Outgoing,
        mq: &MessageQueue,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<SendResult, ClientError> {
        let started = Instant::now();
        let conn = self.connection(addr, timeout).await?;
        let left = timeout.saturating_sub(started.elapsed());
        let response = conn
            .invoke(self.request(out, mq), left.max(Duration::from_millis(1)))
            .await
            .map_err(|source| ClientError::Transport { addr, source })?;
        send_result(addr, out, mq, response)
    }

    /// The send request for `out` aimed at `mq`.
    fn request(&self, out: &Outgoing, mq: &MessageQueue) -> RemotingCommand {
        let header = SendMessageRequestHeader {
            producer_group: self.config.group.clone(),
            topic: out.topic.clone(),
            default_topic: AUTO_CREATE_TOPIC.to_owned(),
            default_topic_queue_nums: self.config.default_topic_queue_nums,
            queue_id: i32::try_from(mq.queue_id.0).unwrap_or(-1),
            sys_flag: 0,
            born_timestamp: wall_clock_ms(),
            flag: out.flag,
            properties: out.properties.clone(),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: None,
            batch: Some(out.batch),
            broker_name: Some(mq.broker_name.clone()),
        };
        let code = if out.batch {
            request_code::SEND_BATCH_MESSAGE
        } else {
            request_code::SEND_MESSAGE_V2
        };
        let mut cmd = RemotingCommand {
            version: version::BOLIDE,
            ..RemotingCommand::request(code)
        }
        .with_body(out.body.clone());
        header.to_v2(&mut cmd.ext_fields);
        cmd
    }

    /// The open connection to `addr`, or a new one (which also gets a
    /// heartbeat right away). No `RefCell` borrow is held across awaits.
    async fn connection(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<Connection, ClientError> {
        if let Some(conn) = self.open_connection(addr) {
            return Ok(conn);
        }
        let handler = Rc::new(NoInbound);
        let conn = Connection::connect(addr, handler, self.config.max_frame_bytes, timeout)
            .await
            .map_err(|source| ClientError::Transport { addr, source })?;
        if let Some(existing) = self.open_connection(addr) {
            conn.close(); // lost a connect race: keep the first
            return Ok(existing);
        }
        self.conns.borrow_mut().insert(addr, conn.clone());
        if self.masters.borrow_mut().insert(addr) {
            let (conn, request) = (conn.clone(), self.heartbeat_request());
            let timeout = self.config.send_timeout;
            rt::spawn_local(async move { heartbeat(&conn, request, timeout).await }).detach();
        }
        Ok(conn)
    }

    fn open_connection(&self, addr: SocketAddr) -> Option<Connection> {
        let conns = self.conns.borrow();
        conns.get(&addr).filter(|c| !c.is_closed()).cloned()
    }

    fn heartbeat_request(&self) -> RemotingCommand {
        let data = HeartbeatData {
            client_id: self.client_id.clone(),
            producer_data_set: vec![ProducerData {
                group_name: self.config.group.clone(),
            }],
            ..HeartbeatData::default()
        };
        RemotingCommand {
            version: version::BOLIDE,
            ..RemotingCommand::request(request_code::HEART_BEAT)
        }
        .with_body(data.encode())
    }

    /// Heartbeats every master (reconnecting where needed).
    async fn heartbeat_all(&self) {
        let masters: Vec<SocketAddr> = self.masters.borrow().iter().copied().collect();
        let timeout = self.config.send_timeout;
        for addr in masters {
            match self.connection(addr, timeout).await {
                Ok(conn) => heartbeat(&conn, self.heartbeat_request(), timeout).await,
                Err(e) => tracing::debug!(%addr, error = %e, "heartbeat: cannot connect"),
            }
        }
    }

    /// Refetches every cached topic's route.
    async fn refresh_all(&self) {
        let topics: Vec<String> = self.topics.borrow().keys().cloned().collect();
        for topic in topics {
            if let Err(e) = self.refresh_topic(&topic).await {
                tracing::debug!(%topic, error = %e, "periodic route refresh failed");
            }
        }
    }

    async fn unregister(&self, addr: SocketAddr) {
        let Some(conn) = self.open_connection(addr) else {
            return;
        };
        let header = UnregisterClientRequestHeader {
            client_id: self.client_id.clone(),
            producer_group: Some(self.config.group.clone()),
            consumer_group: None,
        };
        let request = RemotingCommand {
            version: version::BOLIDE,
            ..RemotingCommand::request(request_code::UNREGISTER_CLIENT)
        }
        .with_header(&header);
        if let Err(e) = conn.invoke(request, UNREGISTER_TIMEOUT).await {
            tracing::debug!(%addr, error = %e, "unregister failed");
        }
    }
}

/// Route refresh and heartbeats, each on its own period, until the
/// producer is dropped or shut down.
async fn periodic(inner: Weak<Inner>) {
    let Some(config) = inner.upgrade().map(|i| i.config.clone()) else {
        return;
    };
    let tick = config
        .route_refresh_interval
        .min(config.heartbeat_interval)
        .max(Duration::from_millis(10));
    let (mut next_refresh, mut next_heartbeat) = (
        Instant::now() + config.route_refresh_interval,
        Instant::now() + config.heartbeat_interval,
    );
    loop {
        rt::sleep(tick).await;
        let Some(inner) = inner.upgrade().filter(|i| !i.stopped.get()) else {
            return;
        };
        let now = Instant::now();
        if now >= next_refresh {
            inner.refresh_all().await;
            next_refresh = now + config.route_refresh_interval;
        }
        if now >= next_heartbeat {
            inner.heartbeat_all().await;
            next_heartbeat = now + config.heartbeat_interval;
        }
    }
}

async fn heartbeat(conn: &Connection, request: RemotingCommand, timeout: Duration) {
    match conn.invoke(request, timeout).await {
        Ok(r) if r.code == response_code::SUCCESS => {}
        Ok(r) => tracing::debug!(peer = %conn.peer_addr(), code = r.code, "heartbeat refused"),
        Err(e) => tracing::debug!(peer = %conn.peer_addr(), error = %e, "heartbeat failed"),
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A random number from the std hasher's per-process random keys (no rand
/// dependency).
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

/// The local IPv4 address that routes to `peer` (a UDP "connect" sends
/// nothing); loopback when unknown.
pub(crate) fn local_ipv4(peer: SocketAddr) -> Ipv4Addr {
    let probe = || -> std::io::Result<std::net::IpAddr> {
        let socket = std::net::UdpSocket::bind("0.0.0.0:0")?;
        socket.connect(peer)?;
        Ok(socket.local_addr()?.ip())
    };
    match probe() {
        Ok(std::net::IpAddr::V4(ip)) if !ip.is_unspecified() => ip,
        _ => Ipv4Addr::LOCALHOST,
    }
}

mod blocking;
mod outcome;
#[cfg(test)]
mod tests;

pub use blocking::BlockingProducer;
use outcome::{is_broker_fault, is_retriable, send_result};
