//! The consumers for plain threads and other async runtimes: each lives on
//! a [`ClientRuntime`] (its own by default) and is reached through a
//! [`LocalHandle`]. Blocking calls wait on the runtime thread's answer;
//! listeners run on the runtime thread and must be `Send + Sync`.
//!
//! ```no_run
//! use bolide_client::consumer::{ConsumeStatus, PushConsumer};
//!
//! let consumer = PushConsumer::builder("my-group")
//!     .namesrv("127.0.0.1:9876")
//!     .subscribe("TopicTest", "TagA || TagB")
//!     .listener(|msgs| {
//!         for m in msgs {
//!             println!("{} {:?}", m.msg_id, m.body);
//!         }
//!         ConsumeStatus::Success
//!     })
//!     .start()?;
//! // ...
//! consumer.shutdown()?;
//! # Ok::<(), bolide_client::consumer::ConsumerError>(())
//! ```

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bolide_proto::ids::QueueOffset;

use super::config::{ConsumeFrom, ConsumerConfig};
use super::lite_pull::LocalLitePullConsumer;
use super::push::{Listener, LocalPushConsumer};
use super::{ConsumeStatus, ConsumerError, MessageModel};
use crate::message::MessageExt;
use crate::nameserver::parse_addr_list;
use crate::rebalance::AllocateStrategy;
use crate::route::MessageQueue;
use crate::runtime::{ClientRuntime, LocalHandle};

/// How long dropping a running consumer waits for its shutdown (offset
/// commit, unregister) before giving up.
pub const DROP_SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// A listener callable from the runtime thread.
pub type SendListenerFn = Arc<dyn Fn(&[MessageExt]) -> ConsumeStatus + Send + Sync>;

#[derive(Clone)]
enum SendListener {
    Concurrently(SendListenerFn),
    Orderly(SendListenerFn),
}

impl SendListener {
    /// The executor-local form (built on the runtime thread).
    fn into_local(self) -> Listener {
        match self {
            SendListener::Concurrently(f) => {
                Listener::Concurrently(Rc::new(move |m: &[MessageExt]| f(m)))
            }
            SendListener::Orderly(f) => Listener::Orderly(Rc::new(move |m: &[MessageExt]| f(m))),
        }
    }
}

/// Settings common to both builders.
#[derive(Debug, Clone)]
struct Common {
    config: ConsumerConfig,
    namesrv: Option<String>,
    runtime: Option<ClientRuntime>,
}

impl Common {
    fn new(group: &str) -> Self {
        Common {
            config: ConsumerConfig::new(group),
            namesrv: None,
            runtime: None,
        }
    }

    /// The final config and the runtime to live on.
    fn resolve(mut self) -> Result<(ConsumerConfig, ClientRuntime), ConsumerError> {
        if let Some(list) = &self.namesrv {
            self.config.namesrv_addrs = parse_addr_list(list)?;
        }
        self.config.validate()?;
        let runtime = match self.runtime {
            Some(rt) => rt,
            None => ClientRuntime::start(&format!("bolide-consumer-{}", self.config.group))
                .map_err(|e| ConsumerError::OffsetFile(std::io::Error::other(e)))?,
        };
        Ok((self.config, runtime))
    }
}

macro_rules! common_setters {
    () => {
        /// NameServer addresses, `ip:port;ip:port`.
        pub fn namesrv(mut self, addrs: &str) -> Self {
            self.common.namesrv = Some(addrs.to_owned());
            self
        }

        pub fn message_model(mut self, model: MessageModel) -> Self {
            self.common.config.message_model = model;
            self
        }

        pub fn consume_from(mut self, from: ConsumeFrom) -> Self {
            self.common.config.consume_from = from;
            self
        }

        pub fn allocate(mut self, strategy: AllocateStrategy) -> Self {
            self.common.config.allocate = strategy;
            self
        }

        /// Lives on `runtime` instead of a runtime of its own.
        pub fn runtime(mut self, runtime: ClientRuntime) -> Self {
            self.common.runtime = Some(runtime);
            self
        }

        /// Any other setting (intervals, limits, instance name...).
        pub fn config(mut self, edit: impl FnOnce(&mut ConsumerConfig)) -> Self {
            edit(&mut self.common.config);
            self
        }
    };
}

/// A push consumer: the client pulls and calls a listener.
#[derive(Debug)]
pub struct PushConsumer;

impl PushConsumer {
    pub fn builder(group: &str) -> PushConsumerBuilder {
        PushConsumerBuilder {
            common: Common::new(group),
            subscriptions: Vec::new(),
            listener: None,
        }
    }
}

/// Builds and starts a push consumer.
pub struct PushConsumerBuilder {
    common: Common,
    subscriptions: Vec<(String, String)>,
    listener: Option<SendListener>,
}

impl std::fmt::Debug for PushConsumerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConsumerBuilder")
            .field("common", &self.common)
            .field("subscriptions", &self.subscriptions)
            .finish()
    }
}

impl PushConsumerBuilder {
    common_setters!();

    /// Subscribes `topic` with a tag expression (`*` or `A || B`).
    pub fn subscribe(mut self, topic: &str, expression: &str) -> Self {
        self.subscriptions
            .push((topic.to_owned(), expression.to_owned()));
        self
    }

    /// A concurrent listener, called with up to `consume_batch_size`
    /// messages.
    pub fn listener<F>(mut self, f: F) -> Self
    where
        F: Fn(&[MessageExt]) -> ConsumeStatus + Send + Sync + 'static,
    {
        self.listener = Some(SendListener::Concurrently(Arc::new(f)));
        self
    }

    /// An orderly listener: one queue's messages, in order, under a lock.
    pub fn orderly_listener<F>(mut self, f: F) -> Self
    where
        F: Fn(&[MessageExt]) -> ConsumeStatus + Send + Sync + 'static,
    {
        self.listener = Some(SendListener::Orderly(Arc::new(f)));
        self
    }

    pub fn consume_batch_size(mut self, n: usize) -> Self {
        self.common.config.consume_batch_size = n;
        self
    }

    /// Starts the consumer and waits until its first rebalance is done.
    pub fn start(self) -> Result<PushConsumerHandle, ConsumerError> {
        let listener = self.listener.ok_or_else(|| ConsumerError::Config {
            key: "listener",
            reason: "set a listener".to_owned(),
        })?;
        let subscriptions = self.subscriptions;
        let (config, runtime) = self.common.resolve()?;
        let handle = runtime
            .install(move || async move {
                let local =
                    LocalPushConsumer::start(config, &subscriptions, listener.into_local()).await?;
                Ok::<_, ConsumerError>(Rc::new(local))
            })
            .wait()?;
        let client_id = handle
            .call(|c| async move { c.client_id().to_owned() })
            .wait()?;
        Ok(PushConsumerHandle {
            handle: Some(handle),
            client_id,
            _runtime: runtime,
        })
    }
}

/// A running push consumer. [`shutdown`](Self::shutdown) stops it cleanly;
/// dropping it does the same, waiting at most [`DROP_SHUTDOWN_WAIT`].
#[derive(Debug)]
pub struct PushConsumerHandle {
    handle: Option<LocalHandle<LocalPushConsumer>>,
    client_id: String,
    /// Keeps the runtime thread alive.
    _runtime: ClientRuntime,
}

impl PushConsumerHandle {
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The queues assigned right now.
    pub fn assigned(&self) -> Result<Vec<MessageQueue>, ConsumerError> {
        let handle = self.handle.as_ref().ok_or(ConsumerError::Shutdown)?;
        Ok(handle.call(|c| async move { c.assigned() }).wait()?)
    }

    /// Rebalances now and waits for it.
    pub fn rebalance_now(&self) -> Result<(), ConsumerError> {
        let handle = self.handle.as_ref().ok_or(ConsumerError::Shutdown)?;
        Ok(handle
            .call(|c| async move { c.rebalance_now().await })
            .wait()?)
    }

    /// Commits offsets, unregisters, and stops.
    pub fn shutdown(mut self) -> Result<(), ConsumerError> {
        match self.handle.take() {
            Some(handle) => Ok(handle.call(|c| async move { c.shutdown().await }).wait()?),
            None => Ok(()),
        }
    }
}

impl Drop for PushConsumerHandle {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            // Bounded: the runtime (and with it the shutdown) may stop
            // right after this drop when this handle owned it.
            let done = handle.call(|c| async move { c.shutdown().await });
            let _ = done.wait_timeout(DROP_SHUTDOWN_WAIT);
        }
    }
}

/// A lite pull consumer: the application polls. Dropping it shuts it down
/// (waiting at most [`DROP_SHUTDOWN_WAIT`]).
pub struct LitePullConsumer {
    handle: Option<LocalHandle<LocalLitePullConsumer>>,
    _runtime: ClientRuntime,
}

impl std::fmt::Debug for LitePullConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LitePullConsumer").finish_non_exhaustive()
    }
}

/// Builds a [`LitePullConsumer`].
#[derive(Debug)]
pub struct LitePullConsumerBuilder {
    common: Common,
}

impl LitePullConsumerBuilder {
    common_setters!();

    pub fn auto_commit(mut self, on: bool) -> Self {
        self.common.config.auto_commit = on;
        self
    }

    pub fn max_poll_records(mut self, n: usize) -> Self {
        self.common.config.max_poll_records = n;
        self
    }

    /// Creates the consumer (no queues yet: `assign` or `subscribe`).
    pub fn start(self) -> Result<LitePullConsumer, ConsumerError> {
        let (config, runtime) = self.common.resolve()?;
        let handle = runtime
            .install(move || async move {
                Ok::<_, ConsumerError>(Rc::new(LocalLitePullConsumer::new(config)?))
            })
            .wait()?;
        Ok(LitePullConsumer {
            handle: Some(handle),
            _runtime: runtime,
        })
    }
}

impl LitePullConsumer {
    pub fn builder(group: &str) -> LitePullConsumerBuilder {
        LitePullConsumerBuilder {
            common: Common::new(group),
        }
    }

    fn handle(&self) -> Result<&LocalHandle<LocalLitePullConsumer>, ConsumerError> {
        self.handle.as_ref().ok_or(ConsumerError::Shutdown)
    }

    /// The readable queues of `topic`.
    pub fn fetch_queues(&self, topic: &str) -> Result<Vec<MessageQueue>, ConsumerError> {
        let topic = topic.to_owned();
        self.handle()?
            .try_call(move |c| async move { c.fetch_queues(&topic).await })
            .wait()
    }

    /// Consumes exactly `queues`.
    pub fn assign(&self, queues: Vec<MessageQueue>) -> Result<(), ConsumerError> {
        self.handle()?
            .try_call(move |c| async move { c.assign(queues).await })
            .wait()
    }

    /// Subscribes `topic` (group rebalance).
    pub fn subscribe(&self, topic: &str, expression: &str) -> Result<(), ConsumerError> {
        let (topic, expression) = (topic.to_owned(), expression.to_owned());
        self.handle()?
            .try_call(move |c| async move { c.subscribe(&topic, &expression).await })
            .wait()
    }

    /// Blocks up to `timeout` for messages.
    pub fn poll(&self, timeout: Duration) -> Result<Vec<MessageExt>, ConsumerError> {
        Ok(self
            .handle()?
            .call(move |c| async move { c.poll(timeout).await })
            .wait()?)
    }

    /// Commits the consumed positions and waits for the broker.
    pub fn commit(&self) -> Result<(), ConsumerError> {
        self.handle()?
            .try_call(|c| async move { c.commit().await })
            .wait()
    }

    /// Restarts `mq` at `offset`.
    pub fn seek(&self, mq: &MessageQueue, offset: u64) -> Result<(), ConsumerError> {
        let mq = mq.clone();
        self.handle()?
            .try_call(move |c| async move { c.seek(&mq, QueueOffset(offset)) })
            .wait()
    }

    /// The group's committed offset of `mq`.
    pub fn committed(&self, mq: &MessageQueue) -> Result<Option<u64>, ConsumerError> {
        let mq = mq.clone();
        let got = self
            .handle()?
            .try_call(move |c| async move { c.committed(&mq).await })
            .wait()?;
        Ok(got.map(|o| o.0))
    }

    /// The queues consumed now.
    pub fn assignment(&self) -> Result<Vec<MessageQueue>, ConsumerError> {
        Ok(self
            .handle()?
            .call(|c| async move { c.assignment() })
            .wait()?)
    }

    /// Commits (auto-commit), unregisters, stops.
    pub fn shutdown(mut self) -> Result<(), ConsumerError> {
        match self.handle.take() {
            Some(handle) => Ok(handle.call(|c| async move { c.shutdown().await }).wait()?),
            None => Ok(()),
        }
    }
}

impl Drop for LitePullConsumer {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let done = handle.call(|c| async move { c.shutdown().await });
            let _ = done.wait_timeout(DROP_SHUTDOWN_WAIT);
        }
    }
}
