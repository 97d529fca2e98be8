//! The executor-local lite pull consumer: the application polls.
//!
//! Queues come from [`assign`](LocalLitePullConsumer::assign) (fixed, no
//! group coordination) or [`subscribe`](LocalLitePullConsumer::subscribe)
//! (heartbeat and rebalance as the push consumer does). Each queue has a
//! background pull task that long-polls the broker and buffers up to the
//! flow limits; [`poll`](LocalLitePullConsumer::poll) takes buffered
//! messages, rotating over queues, and moves each queue's *consumed
//! position* past what it returned.
//!
//! Commits: [`commit`](LocalLitePullConsumer::commit) stores the consumed
//! positions and waits for the broker; with `auto_commit` the positions
//! are stored as they move and committed every `persist_interval`.
//! [`seek`](LocalLitePullConsumer::seek) drops the queue's buffer and its
//! in-flight pull and restarts it from the given offset.
//!
//! A subscribed consumer is registered with the group, so a broker's
//! RESET_CONSUMER_CLIENT_OFFSET (after an admin reset) reaches it: each held
//! queue the table names is sought to its new offset, which is stored and
//! committed. (RocketMQ's Java client applies resets to push consumers
//! only; a Bolide lite pull consumer would otherwise commit its old
//! position over the reset.)

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide_proto::body::{ConsumeType, MessageModel, EXPRESSION_TYPE_TAG};
use bolide_proto::codes::pull_sys_flag;
use bolide_proto::header::PullMessageRequestHeader;
use bolide_proto::ids::QueueOffset;
use bolide_transport::rt::{self, JoinHandle};

use super::broker_client::{decode_pulled, offset_to_wire, Notify, PullStatus, ResetRequest};
use super::config::ConsumerConfig;
use super::instance::{spawn_every, ConsumerClient, Offsets, Stoppable};
use super::process_queue::{FlowLimits, ProcessQueue};
use super::push::wall_clock_ms;
use super::rebalance_impl::{diff, heartbeat, HeartbeatInfo};
use super::subscription::Subscription;
use super::ConsumerError;
use crate::message::MessageExt;
use crate::route::MessageQueue;

struct LiteQueue {
    mq: MessageQueue,
    sub: Subscription,
    buffer: RefCell<ProcessQueue<MessageExt>>,
    next_pull: Cell<QueueOffset>,
    /// One past the last polled message (or the seek / start offset).
    consumed: Cell<QueueOffset>,
    task: RefCell<Option<JoinHandle<()>>>,
}

impl LiteQueue {
    fn stop(&self) {
        if let Some(task) = self.task.borrow_mut().take() {
            task.cancel();
        }
    }
}

struct Lite {
    client: ConsumerClient,
    offsets: Offsets,
    subscriptions: RefCell<Vec<Subscription>>,
    queues: RefCell<BTreeMap<MessageQueue, Rc<LiteQueue>>>,
    /// Woken when a queue buffers messages.
    ready: Notify,
    /// Where the next poll starts its rotation over queues.
    rotation: Cell<usize>,
    stopped: Cell<bool>,
    background: RefCell<Vec<JoinHandle<()>>>,
}

/// A lite pull consumer living on the current glommio executor.
#[derive(Clone)]
pub struct LocalLitePullConsumer {
    inner: Rc<Lite>,
}

impl std::fmt::Debug for LocalLitePullConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLitePullConsumer")
            .field("client_id", &self.inner.client.client_id)
            .finish()
    }
}

impl LocalLitePullConsumer {
    /// A consumer with no queues yet; the periodic offset commit starts now.
    pub fn new(config: ConsumerConfig) -> Result<Self, ConsumerError> {
        let offsets = Offsets::open(&config)?;
        let lite = Rc::new(Lite {
            client: ConsumerClient::new(config)?,
            offsets,
            subscriptions: RefCell::new(Vec::new()),
            queues: RefCell::new(BTreeMap::new()),
            ready: Notify::new(),
            rotation: Cell::new(0),
            stopped: Cell::new(false),
            background: RefCell::new(Vec::new()),
        });
        let interval = lite.client.config.persist_interval;
        let task = spawn_every(&lite, interval, |l| {
            Box::pin(async move { l.persist(true).await })
        });
        lite.background.borrow_mut().push(task);
        Ok(LocalLitePullConsumer { inner: lite })
    }

    /// The readable queues of `topic`, from the NameServer.
    pub async fn fetch_queues(&self, topic: &str) -> Result<Vec<MessageQueue>, ConsumerError> {
        if !self.inner.client.refresh_route(topic).await? {
            return Err(ConsumerError::NoRoute(topic.to_owned()));
        }
        Ok(self.inner.client.subscribe_queues(topic))
    }

    /// Consumes exactly `queues` (replacing any earlier assignment), each
    /// from its committed offset or per consume-from-where.
    pub async fn assign(&self, queues: Vec<MessageQueue>) -> Result<(), ConsumerError> {
        let lite = &self.inner;
        let mut topics: Vec<&str> = queues.iter().map(|q| q.topic.as_str()).collect();
        topics.dedup();
        for topic in topics {
            if !lite.client.has_route(topic) && !lite.client.refresh_route(topic).await? {
                return Err(ConsumerError::NoRoute(topic.to_owned()));
            }
        }
        let held: Vec<MessageQueue> = lite.queues.borrow().keys().cloned().collect();
        for mq in held.iter().filter(|q| !queues.contains(q)) {
            lite.remove_queue(mq).await;
        }
        for mq in queues {
            if !lite.queues.borrow().contains_key(&mq) {
                let sub = Subscription::new(&mq.topic, "*", wall_clock_ms());
                lite.add_queue(mq, sub).await?;
            }
        }
        Ok(())
    }

    /// Subscribes `topic` with a tag expression; the group's queues are
    /// shared with its other members by rebalance.
    pub async fn subscribe(&self, topic: &str, expression: &str) -> Result<(), ConsumerError> {
        let lite = &self.inner;
        let first = lite.subscriptions.borrow().is_empty();
        lite.subscriptions
            .borrow_mut()
            .push(Subscription::new(topic, expression, wall_clock_ms()));
        lite.client.refresh_route(topic).await?;
        lite.send_heartbeats().await;
        lite.rebalance().await;
        if first {
            lite.spawn_group_tasks();
        }
        Ok(())
    }

    /// Up to `max_poll_records` buffered messages, waiting at most
    /// `timeout` for the first.
    pub async fn poll(&self, timeout: Duration) -> Vec<MessageExt> {
        let deadline = Instant::now() + timeout;
        loop {
            let msgs = self.inner.take_ready();
            let left = deadline.saturating_duration_since(Instant::now());
            if !msgs.is_empty() || left.is_zero() || self.inner.stopped.get() {
                return msgs;
            }
            self.inner.ready.wait(left).await;
        }
    }

    /// Commits every queue's consumed position and waits for the broker
    /// (or writes the file).
    pub async fn commit(&self) -> Result<(), ConsumerError> {
        let lite = &self.inner;
        let held = lite.held();
        for q in lite.queues.borrow().values() {
            lite.offsets.update(&q.mq, q.consumed.get(), false);
        }
        lite.offsets.persist(&lite.client, &held, false).await
    }

    /// Restarts `mq` at `offset`: its buffer is dropped and the next poll
    /// returns messages from `offset` on.
    pub fn seek(&self, mq: &MessageQueue, offset: QueueOffset) -> Result<(), ConsumerError> {
        let lite = &self.inner;
        if !lite.seek(mq, offset) {
            return Err(ConsumerError::NotAssigned(mq.clone()));
        }
        if lite.client.config.auto_commit {
            lite.offsets.update(mq, offset, false);
        }
        Ok(())
    }

    /// The group's committed offset of `mq` (asked of the broker when
    /// clustering).
    pub async fn committed(&self, mq: &MessageQueue) -> Result<Option<QueueOffset>, ConsumerError> {
        self.inner.offsets.fetch(&self.inner.client, mq).await
    }

    /// The queues currently consumed.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        self.inner.held()
    }

    pub fn client_id(&self) -> &str {
        &self.inner.client.client_id
    }

    /// Commits (if auto-commit), stops every task, unregisters, closes.
    pub async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

impl Stoppable for Lite {
    fn is_stopped(&self) -> bool {
        self.stopped.get()
    }
}

impl Lite {
    fn config(&self) -> &ConsumerConfig {
        &self.client.config
    }

    fn held(&self) -> Vec<MessageQueue> {
        self.queues.borrow().keys().cloned().collect()
    }

    fn spawn_group_tasks(self: &Rc<Self>) {
        let config = self.config();
        let tasks = [
            spawn_every(self, config.heartbeat_interval, |l| {
                Box::pin(async move { l.send_heartbeats().await })
            }),
            spawn_every(self, config.route_refresh_interval, |l| {
                Box::pin(async move {
                    let topics: Vec<String> = l
                        .subscriptions
                        .borrow()
                        .iter()
                        .map(|s| s.topic.clone())
                        .collect();
                    l.client
                        .refresh_routes(topics.iter().map(String::as_str))
                        .await;
                })
            }),
            self.spawn_rebalance_loop(),
            self.spawn_reset_loop(),
        ];
        self.background.borrow_mut().extend(tasks);
    }

    /// Restarts a held queue at `offset`; false if it is not held.
    fn seek(self: &Rc<Self>, mq: &MessageQueue, offset: QueueOffset) -> bool {
        let Some(q) = self.queues.borrow().get(mq).cloned() else {
            return false;
        };
        q.stop();
        q.buffer.borrow_mut().clear();
        q.next_pull.set(offset);
        q.consumed.set(offset);
        self.start_pulling(&q);
        true
    }

    /// Applies offset resets as brokers send them.
    fn spawn_reset_loop(self: &Rc<Self>) -> JoinHandle<()> {
        let lite = self.clone();
        rt::spawn_local(async move {
            while let Some(reset) = lite.client.resets.recv().await {
                if lite.stopped.get() {
                    return;
                }
                lite.reset_offsets(reset).await;
            }
        })
        .detach()
    }

    /// Seeks the held queues `reset` names to their new offsets and commits
    /// them (waiting for the broker).
    async fn reset_offsets(self: &Rc<Self>, reset: ResetRequest) {
        if reset.group != self.config().group {
            return;
        }
        let mut reset_mqs = Vec::new();
        for (mq, offset) in &reset.offsets {
            if self.seek(mq, *offset) {
                self.offsets.update(mq, *offset, false);
                reset_mqs.push(mq.clone());
            }
        }
        if let Err(e) = self.offsets.persist(&self.client, &reset_mqs, false).await {
            tracing::warn!(topic = %reset.topic, error = %e, "reset offset commit failed");
        }
        tracing::info!(topic = %reset.topic, queues = reset_mqs.len(), "offsets reset");
    }

    fn spawn_rebalance_loop(self: &Rc<Self>) -> JoinHandle<()> {
        let lite = self.clone();
        rt::spawn_local(async move {
            while !lite.stopped.get() {
                lite.client
                    .rebalance
                    .wait(lite.config().rebalance_interval)
                    .await;
                if !lite.stopped.get() {
                    lite.rebalance().await;
                }
            }
        })
        .detach()
    }

    async fn send_heartbeats(&self) {
        let info = HeartbeatInfo {
            client_id: &self.client.client_id,
            group: &self.config().group,
            consume_type: ConsumeType::Actively,
            model: self.config().message_model,
            from: self.config().consume_from,
        };
        let hb = heartbeat(info, &self.subscriptions.borrow());
        self.client.heartbeat_all(&hb).await;
    }

    async fn rebalance(self: &Rc<Self>) {
        let subs = self.subscriptions.borrow().clone();
        for sub in subs {
            let wanted = match self.client.allocate(&sub.topic).await {
                Ok(wanted) => wanted,
                Err(e) => {
                    tracing::debug!(topic = %sub.topic, error = %e, "rebalance skipped");
                    continue;
                }
            };
            let d = diff(&sub.topic, self.queues.borrow().keys(), &wanted);
            for mq in d.removed {
                self.remove_queue(&mq).await;
            }
            for mq in d.added {
                if let Err(e) = self.add_queue(mq.clone(), sub.clone()).await {
                    tracing::warn!(%mq, error = %e, "queue not started");
                }
            }
        }
    }

    async fn add_queue(
        self: &Rc<Self>,
        mq: MessageQueue,
        sub: Subscription,
    ) -> Result<(), ConsumerError> {
        self.offsets.forget_stale(&mq);
        let start = self.client.start_offset(&mq, &self.offsets).await?;
        if self.stopped.get() || self.queues.borrow().contains_key(&mq) {
            return Ok(());
        }
        let q = Rc::new(LiteQueue {
            mq: mq.clone(),
            sub,
            buffer: RefCell::new(ProcessQueue::default()),
            next_pull: Cell::new(start),
            consumed: Cell::new(start),
            task: RefCell::new(None),
        });
        self.start_pulling(&q);
        self.queues.borrow_mut().insert(mq, q);
        Ok(())
    }

    fn start_pulling(self: &Rc<Self>, q: &Rc<LiteQueue>) {
        let task = rt::spawn_local(self.clone().pull_loop(q.clone())).detach();
        if let Some(old) = q.task.borrow_mut().replace(task) {
            old.cancel();
        }
    }

    async fn remove_queue(&self, mq: &MessageQueue) {
        let Some(q) = self.queues.borrow_mut().remove(mq) else {
            return;
        };
        q.stop();
        if self.config().auto_commit {
            self.offsets.update(mq, q.consumed.get(), true);
            if let Err(e) = self
                .offsets
                .persist(&self.client, std::slice::from_ref(mq), false)
                .await
            {
                tracing::debug!(%mq, error = %e, "offset commit on unassign failed");
            }
        }
        self.offsets.forget_stale(mq);
    }

    async fn pull_loop(self: Rc<Self>, q: Rc<LiteQueue>) {
        let flow = FlowLimits {
            max_span: None,
            ..self.config().flow
        };
        loop {
            if flow.check(&q.buffer.borrow()).is_some() {
                rt::sleep(self.config().flow_control_delay).await;
                continue;
            }
            if let Err(e) = self.pull_once(&q).await {
                tracing::debug!(mq = %q.mq, error = %e, "pull failed; retrying");
                rt::sleep(self.config().pull_error_delay).await;
            }
        }
    }

    async fn pull_once(&self, q: &LiteQueue) -> Result<(), ConsumerError> {
        let config = self.config();
        let addr = self.client.addr_of(&q.mq)?;
        let header = PullMessageRequestHeader {
            consumer_group: config.group.clone(),
            topic: q.mq.topic.clone(),
            queue_id: i32::try_from(q.mq.queue_id.0).unwrap_or(i32::MAX),
            queue_offset: offset_to_wire(q.next_pull.get()),
            max_msg_nums: i32::try_from(config.pull_batch_size).unwrap_or(32),
            sys_flag: pull_sys_flag::SUSPEND | pull_sys_flag::SUBSCRIPTION,
            suspend_timeout_millis: i64::try_from(config.suspend_timeout.as_millis())
                .unwrap_or(15_000),
            subscription: Some(q.sub.expression.clone()),
            sub_version: q.sub.sub_version,
            expression_type: Some(EXPRESSION_TYPE_TAG.to_owned()),
            broker_name: Some(q.mq.broker_name.clone()),
            ..PullMessageRequestHeader::default()
        };
        let response = self
            .client
            .links
            .pull(addr, &header, config.pull_timeout)
            .await?;
        if response.status == PullStatus::Found {
            let msgs = decode_pulled(&response.body, &q.sub);
            q.buffer
                .borrow_mut()
                .put(msgs.into_iter().map(|m| (m.queue_offset, m.body.len(), m)));
            self.ready.notify();
        }
        q.next_pull.set(response.next_begin_offset);
        Ok(())
    }

    /// Takes up to `max_poll_records` messages, rotating over queues.
    fn take_ready(&self) -> Vec<MessageExt> {
        let queues: Vec<Rc<LiteQueue>> = self.queues.borrow().values().cloned().collect();
        let max = self.config().max_poll_records;
        let mut out = Vec::new();
        let start = self.rotation.get();
        self.rotation.set(start.wrapping_add(1));
        for i in 0..queues.len() {
            if out.len() >= max {
                break;
            }
            let q = &queues[(start + i) % queues.len()];
            let batch = q.buffer.borrow_mut().take(max - out.len());
            if batch.is_empty() {
                continue;
            }
            let (offsets, msgs): (Vec<QueueOffset>, Vec<MessageExt>) = batch.into_iter().unzip();
            if let Some(position) = q.buffer.borrow_mut().ack(offsets) {
                q.consumed.set(position);
                if self.config().auto_commit {
                    self.offsets.update(&q.mq, position, true);
                }
            }
            out.extend(msgs);
        }
        out
    }

    async fn persist(&self, oneway: bool) {
        if !self.config().auto_commit {
            return;
        }
        if let Err(e) = self
            .offsets
            .persist(&self.client, &self.held(), oneway)
            .await
        {
            tracing::debug!(error = %e, "offset persist incomplete");
        }
    }

    async fn shutdown(&self) {
        if self.stopped.replace(true) {
            return;
        }
        for task in self.background.borrow_mut().drain(..) {
            task.cancel();
        }
        for q in self.queues.borrow().values() {
            q.stop();
        }
        self.persist(false).await;
        self.queues.borrow_mut().clear();
        self.ready.notify();
        if self.config().message_model == MessageModel::Clustering
            && !self.subscriptions.borrow().is_empty()
        {
            self.client.unregister_all().await;
        }
        self.client.close();
    }
}
