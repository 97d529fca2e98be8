//! One shard: one core's executor, its store, and its end of the mesh
//! that carries queue operations to the shard that owns the queue.
//!
//! * [`call`] — [`Shard::call`] runs a typed [`ShardRequest`] on the
//!   owner: in place when this shard owns the queue, otherwise over the
//!   mesh, the reply coming back to this shard (the connection's shard)
//!   typed as the request says; [`Shard::receive`] takes what the mesh
//!   brings.
//! * [`ops`] — the requests (append, send, get, bounds, ...), one struct
//!   each, and the typed methods handlers call.
//! * [`mesh`] — the seam: the [`Mesh`] a shard sends through (the
//!   executor's channel mesh between threads in the runtime,
//!   [`mesh::local_mesh`] between shards on one executor in the
//!   simulation).
//!
//! Long polling happens on the owner: a pull that found nothing is parked
//! there until the store dispatches a matching message or the hold time
//! ends.

pub mod call;
pub mod mesh;
pub mod ops;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bolide_proto::ids::ShardId;
use bolide_proto::message::{NewMessage, Properties};
use bolide_proto::msgid::UniqueKeyGenerator;
use bolide_proto::RemotingCommand;
use bolide_store::io::Storage;
use bolide_store::pull::GetStatus;
use bolide_store::store::{
    AppendResult, Dispatched, GetRequest, GetResult, RecordFilter, ShardStore,
};
use bolide_store::StoreError;
use bolide_transport::remoting::{Connection, TransportError};
use bolide_transport::rt;
use bolide_transport::rt::local_channel::{self, LocalSender};

pub use call::{Envelope, Parcel, ShardRequest};
pub use mesh::{Mesh, MESH_CHANNEL_CAPACITY};

use crate::clock::SharedClock;
use crate::config::Role;
use crate::longpoll::{ParkedPulls, PullTicket};
use crate::replica::master::Replicated;
use crate::replica::ShardReplica;
use crate::router::shard_for;
use crate::shared::BrokerShared;

/// Longest [`Shard::persist_now`] waits for the persister.
const PERSIST_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting [`Shard::persist_now`] looks at the persister's
/// progress. Polling keeps the persister a plain thread; waits are rare
/// (admin changes, the first send into a new topic).
const PERSIST_POLL: Duration = Duration::from_millis(1);
/// Longest a request waits for the NameServers to learn its topic change
/// before answering anyway. A reachable NameServer answers in
/// milliseconds, and one known to be down is not waited for
/// (`crate::register`), so this only runs out while a NameServer hangs
/// (one that stopped answering without refusing connections), once per
/// change; below the 5 s that admin tools allow a call.
pub const REGISTER_WAIT: Duration = Duration::from_secs(3);

/// Why a request to a client got no answer ([`ops::Invoke`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCallError {
    /// The connection is gone.
    NotConnected,
    /// No answer within the timeout.
    Timeout(String),
    /// The connection failed.
    Failed(String),
}

/// A stored send, and (on a sync master) whether a slave holds it.
#[derive(Debug)]
pub struct Sent {
    pub results: Vec<AppendResult>,
    /// `None` unless this broker is a sync master.
    pub replicated: Option<Replicated>,
}

/// True when a pull result is "nothing yet" (PULL_NOT_FOUND), the only kind
/// that long polling holds (remoting.md §7.2).
pub fn is_not_found(status: GetStatus, offset: u64) -> bool {
    match status {
        GetStatus::OffsetOverflowOne | GetStatus::OffsetFoundNull => true,
        GetStatus::NoMessageInQueue | GetStatus::NoMatchedLogicQueue => offset == 0,
        _ => false,
    }
}

/// One core's shard, over the store's storage `S` (real files in the
/// runtime, the in-memory disk in tests and the simulation).
pub struct Shard<S: Storage> {
    pub id: ShardId,
    pub shard_count: u16,
    pub shared: Arc<BrokerShared>,
    /// Replaced only when a slave cuts its log (see [`Shard::truncate_store`]).
    store: RefCell<Rc<ShardStore<S>>>,
    /// Replication: epochs, and a master's slaves.
    pub replica: ShardReplica,
    /// The one clock of this broker; the store stamps records with it too.
    pub clock: SharedClock,
    /// `brokerIP1:listenPort`, written into records as the store host.
    pub store_host: SocketAddr,
    /// This shard's end of the mesh to the others.
    mesh: Box<dyn Mesh<Parcel<S>>>,
    /// What waits to leave for each peer, by peer index.
    outboxes: RefCell<Vec<call::Outbox<S>>>,
    /// Calls to other shards waiting for their reply, by call id: the
    /// peer called, and the caller to wake.
    pending: RefCell<HashMap<u64, (usize, LocalSender<()>)>>,
    next_call: Cell<u64>,
    parked: RefCell<ParkedPulls>,
    wakers: RefCell<HashMap<PullTicket, LocalSender<()>>>,
    connections: RefCell<HashMap<u64, Connection>>,
    unique_keys: RefCell<UniqueKeyGenerator>,
    next_queue: Cell<u32>,
}

impl<S: Storage> std::fmt::Debug for Shard<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("id", &self.id)
            .field("shard_count", &self.shard_count)
            .finish()
    }
}

impl<S: Storage> Shard<S> {
    /// Builds the shard and hooks long polling into the store's dispatch.
    /// `mesh` is this shard's end (its `peer_id` is `id`); `clock` should be
    /// the one the store's disk runs on ([`bolide_store::io::Storage::clock`]).
    pub fn new(
        id: ShardId,
        shared: Arc<BrokerShared>,
        store: Rc<ShardStore<S>>,
        store_host: SocketAddr,
        mesh: impl Mesh<Parcel<S>>,
        clock: SharedClock,
        replica: ShardReplica,
    ) -> Rc<Self> {
        assert_eq!(
            mesh.peer_id(),
            id.0 as usize,
            "the mesh end of another shard"
        );
        let shard_count = mesh.peer_count().max(1) as u16;
        let ip = match store_host.ip() {
            std::net::IpAddr::V4(ip) => ip,
            std::net::IpAddr::V6(_) => std::net::Ipv4Addr::LOCALHOST,
        };
        let keys = UniqueKeyGenerator::new(ip, std::process::id(), id.0 as u32, clock.now_ms());
        let shard = Rc::new(Shard {
            id,
            shard_count,
            shared,
            store: RefCell::new(store),
            replica,
            clock,
            store_host,
            mesh: Box::new(mesh),
            outboxes: RefCell::new((0..shard_count).map(|_| call::Outbox::default()).collect()),
            pending: RefCell::new(HashMap::new()),
            next_call: Cell::new(1),
            parked: RefCell::new(ParkedPulls::default()),
            wakers: RefCell::new(HashMap::new()),
            connections: RefCell::new(HashMap::new()),
            unique_keys: RefCell::new(keys),
            next_queue: Cell::new(id.0 as u32),
        });
        shard.listen_to_store();
        shard
    }

    /// The shard's store.
    pub fn store(&self) -> Rc<ShardStore<S>> {
        self.store.borrow().clone()
    }

    /// Hooks long polling into the store's dispatch.
    fn listen_to_store(self: &Rc<Self>) {
        let weak: Weak<Self> = Rc::downgrade(self);
        self.store()
            .set_dispatch_listener(Box::new(move |d: &Dispatched<'_>| {
                if let Some(shard) = weak.upgrade() {
                    shard.on_dispatched(d);
                }
            }));
    }

    /// Cuts the log at `end` by closing the store and opening it again
    /// (`ShardStore::reopen_truncated`); work under way on the old store
    /// fails and is retried by its client. Only a slave does this, when its
    /// master's log turned out shorter.
    pub async fn truncate_store(self: &Rc<Self>, end: u64) -> Result<(), StoreError> {
        let (store, report) = self.store().reopen_truncated(end).await?;
        *self.store.borrow_mut() = store;
        self.listen_to_store();
        tracing::info!(shard = self.id.0, "log cut at {end}: {report}");
        Ok(())
    }

    /// A fresh unique key (`UNIQ_KEY`) for a message that came without one.
    pub fn unique_key(&self) -> String {
        self.unique_keys.borrow_mut().next(self.clock.now_ms())
    }

    /// Runs pure CPU work that can take milliseconds (decoding a huge
    /// request) on the executor's blocking thread, so this shard keeps
    /// serving other requests meanwhile.
    pub async fn off_executor<F, R>(&self, work: F) -> R
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        rt::spawn_blocking(work).await
    }

    /// Asks the config persister for a pass now and waits for it without
    /// blocking this executor; the outcome of that pass. The persister is a
    /// thread doing real file I/O, so this waits in real time (the
    /// runtime's timer), not on the shard's clock, which a test may hold
    /// still.
    pub async fn persist_now(&self) -> Result<(), String> {
        let ticket = self.shared.request_flush();
        let deadline = Instant::now() + PERSIST_WAIT;
        loop {
            if let Some(outcome) = self.shared.flush_outcome(ticket) {
                return outcome;
            }
            if Instant::now() >= deadline {
                return Err(format!("not persisted within {PERSIST_WAIT:?}"));
            }
            rt::sleep(PERSIST_POLL).await;
        }
    }

    /// Waits until the NameServers know topic-config `version` (see
    /// [`crate::shared::BrokerShared::topics_changed`]), at most
    /// [`REGISTER_WAIT`]; false, and a log line, if that ran out. The
    /// change itself is made either way: like RocketMQ, the request answers
    /// after the wait whatever its outcome.
    pub async fn registered(&self, version: u64) -> bool {
        let reached = async {
            self.shared.wait_registered(version).await;
            true
        };
        // Real time, as for `persist_now`: the registrar's network round
        // trips do not follow the shard's clock.
        let timeout = async {
            rt::sleep(REGISTER_WAIT).await;
            false
        };
        let registered = futures_lite::future::or(reached, timeout).await;
        if !registered {
            tracing::warn!(
                version,
                registered_version = self.shared.registered_version(),
                wait = ?REGISTER_WAIT,
                "answering before every NameServer confirmed a topic change; \
                 the registrar keeps trying"
            );
        }
        registered
    }

    /// Pauses a long task until the executor has polled for I/O and run
    /// what became ready. A plain yield is not enough: the executor polls
    /// I/O only once its run queue is empty (or its preempt timer fires),
    /// and a task that yields is ready again at once.
    pub async fn let_others_run(&self) {
        self.clock.sleep(Duration::from_micros(1)).await;
    }

    /// Round-robin counter for sends that let the broker pick the queue.
    pub fn next_queue(&self) -> u32 {
        let q = self.next_queue.get();
        self.next_queue.set(q.wrapping_add(1));
        q
    }

    /// The shard owning `(topic, queue)`.
    pub fn owner(&self, topic: &str, queue: u32) -> ShardId {
        shard_for(topic, bolide_proto::ids::QueueId(queue), self.shard_count)
    }

    pub fn register_connection(&self, conn: &Connection) {
        self.connections
            .borrow_mut()
            .insert(conn.id(), conn.clone());
    }

    /// Connections this shard serves now.
    pub fn connection_count(&self) -> usize {
        self.connections.borrow().len()
    }

    pub fn forget_connection(&self, conn: &Connection) {
        self.connections.borrow_mut().remove(&conn.id());
    }

    /// The client connection `conn_id` if this shard holds it.
    fn connection(&self, conn_id: u64) -> Option<Connection> {
        self.connections.borrow().get(&conn_id).cloned()
    }

    async fn invoke_here(
        &self,
        conn_id: u64,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientCallError> {
        let conn = self
            .connection(conn_id)
            .ok_or(ClientCallError::NotConnected)?;
        conn.invoke(command, timeout).await.map_err(|e| match e {
            TransportError::Timeout(_) => ClientCallError::Timeout(e.to_string()),
            TransportError::Closed => ClientCallError::NotConnected,
            e => ClientCallError::Failed(e.to_string()),
        })
    }

    /// A pull here, the owner; parked until an arrival or `hold_ms` when it
    /// found nothing.
    async fn get_here(&self, op: ops::Get) -> Result<GetResult, StoreError> {
        let codes = op.filter.tag_codes();
        let by_properties = |p: Properties<'_>| op.filter.matches_properties(p.as_str());
        let req = GetRequest {
            topic: &op.topic,
            queue_id: op.queue,
            offset: op.offset,
            max_count: op.max_count,
            max_bytes: op.max_bytes,
            tag_codes: codes.as_deref(),
            record_filter: op
                .filter
                .reads_records()
                .then_some(RecordFilter(&by_properties)),
        };
        let first = self.store().get_messages(&req).await?;
        if op.hold_ms == 0 || !is_not_found(first.status, op.offset) {
            return Ok(first);
        }
        let deadline_ms = self.clock.monotonic_ms() + op.hold_ms;
        let ticket = self.parked.borrow_mut().park(
            &op.topic,
            op.queue,
            op.offset,
            deadline_ms,
            op.filter.clone(),
        );
        let Some(ticket) = ticket else {
            return Ok(first);
        };
        let (tx, rx) = local_channel::new_bounded(1);
        self.wakers.borrow_mut().insert(ticket, tx);
        let hold = Duration::from_millis(op.hold_ms);
        futures_lite::future::or(
            async {
                rx.recv().await;
            },
            self.clock.sleep(hold),
        )
        .await;
        self.wakers.borrow_mut().remove(&ticket);
        let expired = self.parked.borrow_mut().expired(self.clock.monotonic_ms());
        for t in expired {
            // Dropping a waker wakes its pull, which then answers as expired.
            self.wakers.borrow_mut().remove(&t);
        }
        self.store().get_messages(&req).await
    }

    fn on_dispatched(&self, d: &Dispatched<'_>) {
        let woken = self.parked.borrow_mut().on_arrival(d);
        let mut wakers = self.wakers.borrow_mut();
        for ticket in woken {
            if let Some(tx) = wakers.remove(&ticket) {
                let _ = tx.try_send(());
            }
        }
    }

    /// Appends a client's send here, the owner; a sync master then waits
    /// for a slave to confirm the records' end.
    async fn send_here(&self, msgs: &[NewMessage]) -> Result<Sent, StoreError> {
        let results = self.store().append_batch(msgs).await?;
        let replication = &self.shared.config.replication;
        let replicated = match replication.role {
            Role::SyncMaster => {
                let end = results
                    .last()
                    .map_or(0, |r| r.physical_offset.0 + r.size_bytes as u64);
                let timeout = Duration::from_millis(replication.sync_timeout_ms);
                Some(self.replica.tracker.wait(end, timeout).await)
            }
            Role::AsyncMaster | Role::Slave => None,
        };
        Ok(Sent {
            results,
            replicated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_not_found_results_are_held() {
        assert!(is_not_found(GetStatus::OffsetOverflowOne, 5));
        assert!(is_not_found(GetStatus::NoMessageInQueue, 0));
        assert!(!is_not_found(GetStatus::NoMessageInQueue, 3));
        assert!(is_not_found(GetStatus::NoMatchedLogicQueue, 0));
        assert!(!is_not_found(GetStatus::Found, 0));
        assert!(!is_not_found(GetStatus::NoMatchedMessage, 0));
        assert!(!is_not_found(GetStatus::OffsetTooSmall, 0));
    }
}
