//! The executor-local push consumer: long-polling pull loops feed process
//! queues, consume loops hand batches to the listener, and background tasks
//! heartbeat, rebalance, commit offsets and (orderly) renew queue locks.
//!
//! Per assigned queue there are two tasks: the *pull loop* (pulls while
//! the process queue is under its flow limits; orderly: while the queue is
//! locked) and the *consume loop* (takes batches in offset order and calls
//! the listener). The listener is synchronous and runs on this executor,
//! so listener calls never overlap; a slow listener delays this
//! consumer's other work, not the broker.
//!
//! Concurrent listener: `Success` acknowledges the batch; `ReconsumeLater`
//! sends each message back (CONSUMER_SEND_MSG_BACK, delay level
//! `retry_delay_level`, 0 = the broker's choice) and then
//! acknowledges it — a message the broker would not take is consumed again
//! locally after a pause. Broadcasting consumers drop failed messages, as
//! RocketMQ does (there is no group retry topic to send them to).
//!
//! Orderly listener: a queue is consumed only while this client holds its
//! broker lock (LOCK_BATCH_MQ at assignment, renewed every
//! `lock_interval`, trusted for [`LOCK_VALIDITY`]); `ReconsumeLater`
//! retries the same batch after `orderly_retry_delay`. Unassigned queues
//! commit their offset and are unlocked.
//!
//! Offset reset (RESET_CONSUMER_CLIENT_OFFSET from a broker, after an admin
//! reset), as RocketMQ's `MQClientInstance.resetOffset`: the held queues of
//! the reset topic that the table names are dropped (their pulls, buffered
//! messages and acknowledgements are discarded), the new offsets are put in
//! the offset store and committed (waiting for the broker), and a
//! rebalance restarts the queues from them.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide_proto::body::{ConsumeType, MessageModel};
use bolide_proto::codes::pull_sys_flag;
use bolide_proto::header::{ConsumerSendMsgBackRequestHeader, PullMessageRequestHeader};
use bolide_proto::ids::QueueOffset;
use bolide_transport::rt::{self, JoinHandle};

use super::broker_client::{decode_pulled, offset_to_wire, Notify, PullStatus, ResetRequest};
use super::config::ConsumerConfig;
use super::instance::{spawn_every, ConsumerClient, Offsets, Stoppable};
use super::process_queue::{FlowLimits, ProcessQueue};
use super::rebalance_impl::{diff, heartbeat, HeartbeatInfo};
use super::subscription::{retry_topic, Subscription};
use super::{ConsumeStatus, ConsumerError};
use crate::message::MessageExt;
use crate::route::MessageQueue;

/// Rebalance interval while a subscribed topic has no route.
const MISSING_ROUTE_RETRY: Duration = Duration::from_secs(1);

/// How long a granted broker lock is trusted without renewal (the broker
/// keeps it 60 s; Java trusts it 30 s).
pub const LOCK_VALIDITY: Duration = Duration::from_secs(30);
/// How long an idle consume loop sleeps before re-checking its queue.
const CONSUME_IDLE_WAIT: Duration = Duration::from_millis(500);

/// A message listener, called on the consumer's executor.
pub type ListenerFn = Rc<dyn Fn(&[MessageExt]) -> ConsumeStatus>;

/// How messages are handed to the application.
#[derive(Clone)]
pub enum Listener {
    /// Batches from any queue, in any order across queues.
    Concurrently(ListenerFn),
    /// One queue at a time per call, in queue order, under a broker lock.
    Orderly(ListenerFn),
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Listener::Concurrently(_) => "Concurrently",
            Listener::Orderly(_) => "Orderly",
        })
    }
}

impl Listener {
    fn is_orderly(&self) -> bool {
        matches!(self, Listener::Orderly(_))
    }

    fn call(&self, msgs: &[MessageExt]) -> ConsumeStatus {
        let f = match self {
            Listener::Concurrently(f) | Listener::Orderly(f) => f,
        };
        // A panicking listener must not take the executor down with it.
        std::panic::catch_unwind(AssertUnwindSafe(|| f(msgs))).unwrap_or_else(|_| {
            tracing::error!("consumer listener panicked; reconsuming later");
            ConsumeStatus::ReconsumeLater
        })
    }
}

/// One assigned queue.
struct QueueState {
    mq: MessageQueue,
    sub: Subscription,
    pq: RefCell<ProcessQueue<MessageExt>>,
    next_offset: Cell<QueueOffset>,
    dropped: Cell<bool>,
    /// Orderly: the broker lock is trusted until then.
    locked_until: Cell<Option<Instant>>,
    wake_consume: Notify,
    tasks: RefCell<Vec<JoinHandle<()>>>,
}

impl QueueState {
    fn is_locked(&self) -> bool {
        self.locked_until.get().is_some_and(|t| Instant::now() < t)
    }

    fn drop_queue(&self) {
        self.dropped.set(true);
        for task in self.tasks.borrow_mut().drain(..) {
            task.cancel();
        }
    }
}

struct Push {
    client: ConsumerClient,
    offsets: Offsets,
    /// Subscribed topics, the retry topic included (clustering).
    subscriptions: Vec<Subscription>,
    listener: Listener,
    queues: RefCell<BTreeMap<MessageQueue, Rc<QueueState>>>,
    stopped: Cell<bool>,
    background: RefCell<Vec<JoinHandle<()>>>,
}

/// A push consumer living on the current glommio executor.
#[derive(Clone)]
pub struct LocalPushConsumer {
    inner: Rc<Push>,
}

impl std::fmt::Debug for LocalPushConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPushConsumer")
            .field("client_id", &self.inner.client.client_id)
            .field("group", &self.inner.client.config.group)
            .finish()
    }
}

impl LocalPushConsumer {
    /// Starts consuming `subscriptions` (topic, tag expression): routes,
    /// heartbeat, a first rebalance, then the background tasks.
    pub async fn start(
        config: ConsumerConfig,
        subscriptions: &[(String, String)],
        listener: Listener,
    ) -> Result<Self, ConsumerError> {
        if subscriptions.is_empty() {
            return Err(ConsumerError::Config {
                key: "subscriptions",
                reason: "subscribe to at least one topic".to_owned(),
            });
        }
        let now_ms = wall_clock_ms();
        let mut subs: Vec<Subscription> = subscriptions
            .iter()
            .map(|(topic, expr)| Subscription::new(topic, expr, now_ms))
            .collect();
        if config.message_model == MessageModel::Clustering {
            subs.push(Subscription::new(&retry_topic(&config.group), "*", now_ms));
        }
        let offsets = Offsets::open(&config)?;
        let push = Rc::new(Push {
            client: ConsumerClient::new(config)?,
            offsets,
            subscriptions: subs,
            listener,
            queues: RefCell::new(BTreeMap::new()),
            stopped: Cell::new(false),
            background: RefCell::new(Vec::new()),
        });
        push.client.refresh_routes(push.topics()).await;
        push.send_heartbeats().await;
        push.rebalance().await;
        push.spawn_background();
        Ok(LocalPushConsumer { inner: push })
    }

    /// This consumer's client id, as the broker lists it.
    pub fn client_id(&self) -> &str {
        &self.inner.client.client_id
    }

    /// The queues currently assigned.
    pub fn assigned(&self) -> Vec<MessageQueue> {
        self.inner.queues.borrow().keys().cloned().collect()
    }

    /// Rebalances now, and waits for it.
    pub async fn rebalance_now(&self) {
        self.inner.rebalance().await;
    }

    /// Commits offsets, unlocks, unregisters and closes the connections.
    pub async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Push {
    fn config(&self) -> &ConsumerConfig {
        &self.client.config
    }

    fn topics(&self) -> impl Iterator<Item = &str> {
        self.subscriptions.iter().map(|s| s.topic.as_str())
    }

    fn flow(&self) -> FlowLimits {
        match self.listener {
            Listener::Orderly(_) => FlowLimits {
                max_span: None,
                ..self.config().flow
            },
            Listener::Concurrently(_) => self.config().flow,
        }
    }

    async fn send_heartbeats(&self) {
        let info = HeartbeatInfo {
            client_id: &self.client.client_id,
            group: &self.config().group,
            consume_type: ConsumeType::Passively,
            model: self.config().message_model,
            from: self.config().consume_from,
        };
        let hb = heartbeat(info, &self.subscriptions);
        self.client.heartbeat_all(&hb).await;
    }

    fn held(&self) -> Vec<MessageQueue> {
        self.queues.borrow().keys().cloned().collect()
    }

    fn spawn_background(self: &Rc<Self>) {
        let config = self.config();
        let mut tasks = vec![
            spawn_every(self, config.heartbeat_interval, |p| {
                Box::pin(async move { p.send_heartbeats().await })
            }),
            spawn_every(self, config.persist_interval, |p| {
                Box::pin(async move { p.persist(true).await })
            }),
            spawn_every(self, config.route_refresh_interval, |p| {
                Box::pin(async move { p.client.refresh_routes(p.topics()).await })
            }),
            self.spawn_rebalance_loop(),
            self.spawn_reset_loop(),
        ];
        if self.listener.is_orderly() {
            tasks.push(spawn_every(self, config.lock_interval, |p| {
                Box::pin(async move { p.relock_all().await })
            }));
        }
        self.background.borrow_mut().extend(tasks);
    }

    /// Rebalances every `rebalance_interval`, or at once when woken; every
    /// second while a subscribed topic has no route yet (a topic created a
    /// moment ago by a producer reaches the NameServer shortly after).
    fn spawn_rebalance_loop(self: &Rc<Self>) -> JoinHandle<()> {
        let push = self.clone();
        rt::spawn_local(async move {
            while !push.stopped.get() {
                let routeless = push
                    .subscriptions
                    .iter()
                    .any(|s| !push.client.has_route(&s.topic));
                let interval = push.config().rebalance_interval;
                let wait = if routeless {
                    interval.min(MISSING_ROUTE_RETRY)
                } else {
                    interval
                };
                push.client.rebalance.wait(wait).await;
                if push.stopped.get() {
                    return;
                }
                push.rebalance().await;
            }
        })
        .detach()
    }

    /// Applies offset resets as brokers send them.
    fn spawn_reset_loop(self: &Rc<Self>) -> JoinHandle<()> {
        let push = self.clone();
        rt::spawn_local(async move {
            while let Some(reset) = push.client.resets.recv().await {
                if push.stopped.get() {
                    return;
                }
                push.reset_offsets(reset).await;
            }
        })
        .detach()
    }

    /// Drops the held queues `reset` names, stores and commits their new
    /// offsets, then rebalances so they restart there.
    async fn reset_offsets(&self, reset: ResetRequest) {
        if reset.group != self.config().group {
            return;
        }
        // Suspend: drop the queues first, so no pull, acknowledgement or
        // periodic commit can move them back to the old position.
        let mut reset_mqs = Vec::new();
        for (mq, offset) in &reset.offsets {
            let Some(q) = self.queues.borrow_mut().remove(mq) else {
                continue;
            };
            q.drop_queue();
            self.offsets.update(mq, *offset, false);
            reset_mqs.push(mq.clone());
        }
        if let Err(e) = self.offsets.persist(&self.client, &reset_mqs, false).await {
            tracing::warn!(topic = %reset.topic, error = %e, "reset offset commit failed");
        }
        for mq in &reset_mqs {
            if !self.queues.borrow().contains_key(mq) {
                self.offsets.forget_stale(mq);
            }
        }
        tracing::info!(topic = %reset.topic, queues = reset_mqs.len(), "offsets reset");
        // Resume: the rebalance assigns the queues again from the new offsets.
        self.client.rebalance.notify();
    }

    async fn rebalance(self: &Rc<Self>) {
        for sub in &self.subscriptions {
            if self.stopped.get() {
                return;
            }
            let topic = sub.topic.as_str();
            if !self.client.has_route(topic) {
                // A newly found route means new brokers: they must know
                // this consumer before it asks them for the group's members.
                if let Ok(true) = self.client.refresh_route(topic).await {
                    self.send_heartbeats().await;
                }
            }
            let wanted = match self.client.allocate(topic).await {
                Ok(wanted) => wanted,
                Err(e) => {
                    tracing::debug!(topic, error = %e, "rebalance skipped");
                    continue;
                }
            };
            let d = diff(topic, self.queues.borrow().keys(), &wanted);
            for mq in d.removed {
                self.remove_queue(&mq).await;
            }
            for mq in d.added {
                if let Err(e) = self.add_queue(mq.clone(), sub).await {
                    tracing::warn!(%mq, error = %e, "queue not started");
                }
            }
        }
    }

    async fn add_queue(
        self: &Rc<Self>,
        mq: MessageQueue,
        sub: &Subscription,
    ) -> Result<(), ConsumerError> {
        let mut locked_until = None;
        if self.listener.is_orderly() {
            if !self.lock(&mq).await? {
                return Ok(()); // still held by another client; next rebalance retries
            }
            locked_until = Some(Instant::now() + LOCK_VALIDITY);
        }
        self.offsets.forget_stale(&mq);
        let start = self.client.start_offset(&mq, &self.offsets).await?;
        if self.stopped.get() || self.queues.borrow().contains_key(&mq) {
            return Ok(());
        }
        self.offsets.update(&mq, start, false);
        let q = Rc::new(QueueState {
            mq: mq.clone(),
            sub: sub.clone(),
            pq: RefCell::new(ProcessQueue::default()),
            next_offset: Cell::new(start),
            dropped: Cell::new(false),
            locked_until: Cell::new(locked_until),
            wake_consume: Notify::new(),
            tasks: RefCell::new(Vec::new()),
        });
        let pull = rt::spawn_local(self.clone().pull_loop(q.clone())).detach();
        let consume = rt::spawn_local(self.clone().consume_loop(q.clone())).detach();
        q.tasks.borrow_mut().extend([pull, consume]);
        tracing::debug!(%mq, offset = start.0, "queue assigned");
        self.queues.borrow_mut().insert(mq, q);
        Ok(())
    }

    /// Stops a queue, commits its offset (waiting for the broker, so the
    /// next owner starts there) and, orderly, releases its lock.
    async fn remove_queue(&self, mq: &MessageQueue) {
        let Some(q) = self.queues.borrow_mut().remove(mq) else {
            return;
        };
        q.drop_queue();
        if let Err(e) = self
            .offsets
            .persist(&self.client, std::slice::from_ref(mq), false)
            .await
        {
            tracing::debug!(%mq, error = %e, "offset commit on unassign failed");
        }
        self.offsets.forget_stale(mq);
        if self.listener.is_orderly() {
            self.unlock(std::slice::from_ref(mq)).await;
        }
        tracing::debug!(%mq, "queue unassigned");
    }

    async fn shutdown(&self) {
        if self.stopped.replace(true) {
            return;
        }
        for task in self.background.borrow_mut().drain(..) {
            task.cancel();
        }
        let held = self.held();
        for q in self.queues.borrow().values() {
            q.drop_queue();
        }
        self.persist(false).await;
        if self.listener.is_orderly() {
            self.unlock(&held).await;
        }
        self.queues.borrow_mut().clear();
        self.client.unregister_all().await;
        self.client.close();
    }

    async fn persist(&self, oneway: bool) {
        let held = self.held();
        if let Err(e) = self.offsets.persist(&self.client, &held, oneway).await {
            tracing::debug!(error = %e, "offset persist incomplete");
        }
    }
}

impl Stoppable for Push {
    fn is_stopped(&self) -> bool {
        self.stopped.get()
    }
}

// Pulling.
impl Push {
    async fn pull_loop(self: Rc<Self>, q: Rc<QueueState>) {
        while !q.dropped.get() {
            let paused = self.flow().check(&q.pq.borrow()).is_some();
            let unlocked = self.listener.is_orderly() && !q.is_locked();
            if paused || unlocked {
                rt::sleep(self.config().flow_control_delay).await;
                continue;
            }
            if let Err(e) = self.pull_once(&q).await {
                tracing::debug!(mq = %q.mq, error = %e, "pull failed; retrying");
                rt::sleep(self.config().pull_error_delay).await;
            }
        }
    }

    fn pull_header(&self, q: &QueueState) -> PullMessageRequestHeader {
        let config = self.config();
        let commit = match config.message_model {
            MessageModel::Clustering => self.offsets.get(&q.mq).filter(|o| o.0 > 0),
            MessageModel::Broadcasting => None,
        };
        let mut sys_flag = pull_sys_flag::SUSPEND | pull_sys_flag::SUBSCRIPTION;
        if commit.is_some() {
            sys_flag |= pull_sys_flag::COMMIT_OFFSET;
        }
        PullMessageRequestHeader {
            consumer_group: config.group.clone(),
            topic: q.mq.topic.clone(),
            queue_id: i32::try_from(q.mq.queue_id.0).unwrap_or(i32::MAX),
            queue_offset: offset_to_wire(q.next_offset.get()),
            max_msg_nums: i32::try_from(config.pull_batch_size).unwrap_or(32),
            sys_flag,
            commit_offset: commit.map_or(0, offset_to_wire),
            suspend_timeout_millis: i64::try_from(config.suspend_timeout.as_millis())
                .unwrap_or(15_000),
            subscription: Some(q.sub.expression.clone()),
            sub_version: q.sub.sub_version,
            expression_type: Some(bolide_proto::body::EXPRESSION_TYPE_TAG.to_owned()),
            max_msg_bytes: None,
            broker_name: Some(q.mq.broker_name.clone()),
        }
    }

    async fn pull_once(&self, q: &QueueState) -> Result<(), ConsumerError> {
        let addr = self.client.addr_of(&q.mq)?;
        let header = self.pull_header(q);
        let response = self
            .client
            .links
            .pull(addr, &header, self.config().pull_timeout)
            .await?;
        if q.dropped.get() {
            return Ok(());
        }
        let next = response.next_begin_offset;
        match response.status {
            PullStatus::Found => {
                let msgs = decode_pulled(&response.body, &q.sub);
                q.next_offset.set(next);
                let added =
                    q.pq.borrow_mut()
                        .put(msgs.into_iter().map(|m| (m.queue_offset, m.body.len(), m)));
                if added == 0 {
                    self.advance_if_idle(q, next);
                }
                q.wake_consume.notify();
            }
            PullStatus::NoNewMsg | PullStatus::NoMatchedMsg => {
                q.next_offset.set(next);
                self.advance_if_idle(q, next);
            }
            PullStatus::OffsetIllegal => {
                tracing::warn!(mq = %q.mq, from = header.queue_offset, to = next.0, "offset moved");
                q.next_offset.set(next);
                if q.pq.borrow().is_empty() {
                    self.offsets.update(&q.mq, next, false);
                }
            }
        }
        Ok(())
    }

    /// With nothing in flight, everything before `next` is consumed or
    /// filtered out: the committed offset may move there.
    fn advance_if_idle(&self, q: &QueueState, next: QueueOffset) {
        if q.pq.borrow().is_empty() {
            self.offsets.update(&q.mq, next, true);
        }
    }
}

// Consuming.
impl Push {
    async fn consume_loop(self: Rc<Self>, q: Rc<QueueState>) {
        let batch_size = self.config().consume_batch_size;
        while !q.dropped.get() {
            if self.listener.is_orderly() && !q.is_locked() {
                q.wake_consume.wait(self.config().flow_control_delay).await;
                continue;
            }
            let batch = q.pq.borrow_mut().take(batch_size);
            if batch.is_empty() {
                q.wake_consume.wait(CONSUME_IDLE_WAIT).await;
                continue;
            }
            let (offsets, msgs): (Vec<QueueOffset>, Vec<MessageExt>) = batch.into_iter().unzip();
            let status = self.listener.call(&msgs);
            if q.dropped.get() {
                return;
            }
            match (&self.listener, status) {
                (_, ConsumeStatus::Success) => self.ack(&q, offsets),
                (Listener::Orderly(_), ConsumeStatus::ReconsumeLater) => {
                    self.retry_in_place(&q, offsets, msgs).await
                }
                (Listener::Concurrently(_), ConsumeStatus::ReconsumeLater) => {
                    self.send_back(&q, offsets, msgs).await
                }
            }
        }
    }

    fn ack(&self, q: &QueueState, offsets: Vec<QueueOffset>) {
        if let Some(commit) = q.pq.borrow_mut().ack(offsets) {
            self.offsets.update(&q.mq, commit, true);
        }
    }

    async fn retry_in_place(
        &self,
        q: &QueueState,
        offsets: Vec<QueueOffset>,
        msgs: Vec<MessageExt>,
    ) {
        let batch = offsets
            .into_iter()
            .zip(msgs)
            .map(|(o, mut m)| {
                m.reconsume_times = m.reconsume_times.saturating_add(1);
                (o, m)
            })
            .collect();
        q.pq.borrow_mut().give_back(batch);
        rt::sleep(self.config().orderly_retry_delay).await;
        q.wake_consume.notify();
    }

    /// Sends each message back for a later retry; those the broker took
    /// (or, broadcasting, all) are acknowledged, the rest retried locally
    /// after a pause.
    async fn send_back(&self, q: &QueueState, offsets: Vec<QueueOffset>, msgs: Vec<MessageExt>) {
        if self.config().message_model == MessageModel::Broadcasting {
            tracing::warn!(mq = %q.mq, count = msgs.len(), "broadcasting: failed messages dropped");
            return self.ack(q, offsets);
        }
        let mut done = Vec::new();
        let mut again = Vec::new();
        for (offset, msg) in offsets.into_iter().zip(msgs) {
            match self.send_back_one(q, &msg).await {
                Ok(()) => {
                    tracing::debug!(msg_id = %msg.msg_id, "sent back for retry");
                    done.push(offset)
                }
                Err(e) => {
                    tracing::warn!(msg_id = %msg.msg_id, error = %e, "send back failed; consuming again locally");
                    again.push((offset, msg));
                }
            }
        }
        self.ack(q, done);
        if !again.is_empty() {
            q.pq.borrow_mut().give_back(again);
            rt::sleep(self.config().pull_error_delay).await;
        }
    }

    async fn send_back_one(&self, q: &QueueState, msg: &MessageExt) -> Result<(), ConsumerError> {
        let addr = self.client.addr_of(&q.mq)?;
        let header = ConsumerSendMsgBackRequestHeader {
            offset: i64::try_from(msg.commit_log_offset.0).unwrap_or(i64::MAX),
            group: self.config().group.clone(),
            delay_level: self.config().retry_delay_level,
            origin_msg_id: Some(msg.msg_id.clone()),
            origin_topic: Some(msg.topic.clone()),
            unit_mode: Some(false),
            max_reconsume_times: Some(self.config().max_reconsume_times),
        };
        Ok(self.client.links.send_back(addr, &header).await?)
    }
}

// Orderly locks.
impl Push {
    async fn lock(&self, mq: &MessageQueue) -> Result<bool, ConsumerError> {
        // Only a master holds queue locks (RocketMQ locks on brokerId 0).
        let addr = self
            .client
            .master_addr(&mq.broker_name)
            .ok_or_else(|| ConsumerError::UnknownBroker(mq.broker_name.clone()))?;
        let locked = self
            .client
            .links
            .lock(
                addr,
                &self.config().group,
                &self.client.client_id,
                std::slice::from_ref(mq),
            )
            .await?;
        Ok(locked.contains(mq))
    }

    /// Renews the locks of every held queue, broker by broker.
    async fn relock_all(&self) {
        for (broker, mqs) in by_broker(&self.held()) {
            let Some(addr) = self.client.master_addr(&broker) else {
                continue;
            };
            let group = &self.config().group;
            let locked = match self
                .client
                .links
                .lock(addr, group, &self.client.client_id, &mqs)
                .await
            {
                Ok(locked) => locked,
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "lock renewal failed");
                    continue;
                }
            };
            let queues = self.queues.borrow();
            for mq in &mqs {
                if let Some(q) = queues.get(mq) {
                    let until = locked.contains(mq).then(|| Instant::now() + LOCK_VALIDITY);
                    q.locked_until.set(until);
                    q.wake_consume.notify();
                }
            }
        }
    }

    async fn unlock(&self, mqs: &[MessageQueue]) {
        for (broker, mqs) in by_broker(mqs) {
            let Some(addr) = self.client.master_addr(&broker) else {
                continue;
            };
            let group = &self.config().group;
            if let Err(e) = self
                .client
                .links
                .unlock(addr, group, &self.client.client_id, &mqs)
                .await
            {
                tracing::debug!(%addr, error = %e, "unlock failed");
            }
        }
    }
}

/// Groups queues by broker name.
fn by_broker(mqs: &[MessageQueue]) -> BTreeMap<String, Vec<MessageQueue>> {
    let mut out: BTreeMap<String, Vec<MessageQueue>> = BTreeMap::new();
    for mq in mqs {
        out.entry(mq.broker_name.clone())
            .or_default()
            .push(mq.clone());
    }
    out
}
