//! [`BlockingProducer`]: the producer for code outside glommio.

use super::*;

/// A `Send + Sync` producer for code outside glommio: each call runs the
/// [`Producer`] on a [`ClientRuntime`] thread. Blocking methods wait for
/// the result; `send_async` returns a [`TryPending`] to `.await` (on any
/// executor) or `.wait()` on.
#[derive(Debug)]
pub struct BlockingProducer {
    handle: Option<LocalHandle<Producer>>,
    client_id: String,
    /// Keeps the runtime alive as long as the producer.
    _runtime: ClientRuntime,
}

impl BlockingProducer {
    /// Starts a producer on its own runtime thread.
    pub fn start(config: ProducerConfig) -> Result<BlockingProducer, ClientError> {
        let runtime =
            ClientRuntime::start("bolide-producer").map_err(|e| ClientError::Transport {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                source: TransportError::Io(e),
            })?;
        BlockingProducer::start_on(&runtime, config)
    }

    /// Starts a producer on an existing runtime (shared with consumers).
    pub fn start_on(
        runtime: &ClientRuntime,
        config: ProducerConfig,
    ) -> Result<BlockingProducer, ClientError> {
        let handle = runtime
            .install(move || async move { Producer::start(config).map(Rc::new) })
            .wait()?;
        let client_id = handle
            .call(|p| async move { p.client_id().to_owned() })
            .wait()?;
        Ok(BlockingProducer {
            handle: Some(handle),
            client_id,
            _runtime: runtime.clone(),
        })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    fn run<F, Fut, R>(&self, job: F) -> TryPending<R, ClientError>
    where
        F: FnOnce(Rc<Producer>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<R, ClientError>> + 'static,
        R: Send + 'static,
    {
        match &self.handle {
            Some(handle) => handle.try_call(job),
            None => {
                let (_, pending) = crate::runtime::oneshot();
                TryPending::new(pending) // canceled at once
            }
        }
    }

    /// Sends and waits for the result (retrying elsewhere on failure).
    pub fn send(&self, msg: Message) -> Result<SendResult, ClientError> {
        self.send_async(msg).wait()
    }

    /// Starts a send; await the result or `.wait()` on it.
    pub fn send_async(&self, msg: Message) -> TryPending<SendResult, ClientError> {
        self.run(move |p| async move { p.send(msg).await })
    }

    /// Sends without an answer; returns once the request is queued.
    pub fn send_oneway(&self, msg: Message) -> Result<(), ClientError> {
        self.run(move |p| async move { p.send_oneway(msg).await })
            .wait()
    }

    /// Sends `msgs` (one topic) as one batch.
    pub fn send_batch(&self, msgs: Vec<Message>) -> Result<SendResult, ClientError> {
        self.run(move |p| async move { p.send_batch(msgs).await })
            .wait()
    }

    /// Sends to the queue `select` picks (one attempt).
    pub fn send_with_selector<F>(&self, msg: Message, select: F) -> Result<SendResult, ClientError>
    where
        F: FnOnce(&[MessageQueue], &Message) -> Option<MessageQueue> + Send + 'static,
    {
        self.run(move |p| async move { p.send_with_selector(msg, select).await })
            .wait()
    }

    /// Ordered send by sharding key.
    pub fn send_by_key(&self, msg: Message, key: &str) -> Result<SendResult, ClientError> {
        let key = key.to_owned();
        self.run(move |p| async move { p.send_by_key(msg, &key).await })
            .wait()
    }

    /// Sends to `mq` (one attempt).
    pub fn send_to_queue(&self, msg: Message, mq: MessageQueue) -> Result<SendResult, ClientError> {
        self.run(move |p| async move { p.send_to_queue(msg, &mq).await })
            .wait()
    }

    /// The publish queues of `topic`.
    pub fn publish_queues(&self, topic: &str) -> Result<Vec<MessageQueue>, ClientError> {
        let topic = topic.to_owned();
        self.run(move |p| async move { p.fetch_publish_queues(&topic).await })
            .wait()
    }

    /// Unregisters from the brokers and stops (also done on drop).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(handle) = self.handle.take() else {
            return;
        };
        let done = handle.call(|p| async move { p.shutdown().await });
        // Bounded: unregisters are bounded per broker; don't hang a drop.
        let _ = done.wait_timeout(UNREGISTER_TIMEOUT * 2);
    }
}

impl Drop for BlockingProducer {
    fn drop(&mut self) {
        self.stop();
    }
}
