//! The simulated broker: [`SHARDS`] shards of one broker on the run's one
//! executor, each with its own store on its own fault-injecting
//! [`MemStorage`] (all on the run's one clock), joined by the in-memory
//! mesh ([`local_mesh`]), so a request for a queue the connection's shard
//! does not own crosses the mesh as it does between a real broker's cores.
//!
//! The broker lives and dies whole: a crash or power loss takes every
//! shard (`World::crash`), as it takes the one process. Every task the
//! broker runs for a request — the request itself, and the work a shard
//! does for another — is kept in [`Tasks`], so a death cancels them all.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use bolide_broker::replica::ShardReplica;
use bolide_broker::shard::mesh::local_mesh;
use bolide_broker::shard::{Parcel, Shard, MESH_CHANNEL_CAPACITY};
use bolide_broker::shared::BrokerShared;
use bolide_proto::ids::ShardId;
use bolide_store::config::{FlushMode, StoreConfig};
use bolide_store::io::mem::MemStorage;
use bolide_store::io::time::ManualClock;
use bolide_store::store::ShardStore;
use glommio::channels::local_channel::LocalReceiver;
use glommio::task::JoinHandle;

use crate::net::ConnId;

/// Shards of the simulated broker.
pub const SHARDS: usize = 2;

type SimShard = Shard<MemStorage>;

/// The broker's request tasks, cancelled together when it dies.
#[derive(Debug, Default)]
pub struct Tasks {
    next: Cell<u64>,
    running: RefCell<BTreeMap<u64, JoinHandle<()>>>,
    /// Requests a shard ran for another, over the mesh, in the whole run.
    crossed: Cell<u64>,
}

impl Tasks {
    /// Runs `work` in a task of its own, kept until it ends or is cancelled.
    pub fn spawn(self: &Rc<Self>, work: impl Future<Output = ()> + 'static) {
        let id = self.next.get();
        self.next.set(id + 1);
        let tasks = Rc::downgrade(self);
        let handle = glommio::spawn_local(async move {
            work.await;
            if let Some(tasks) = tasks.upgrade() {
                tasks.running.borrow_mut().remove(&id);
            }
        })
        .detach();
        self.running.borrow_mut().insert(id, handle);
    }

    /// Requests that crossed the mesh so far.
    pub fn crossed(&self) -> u64 {
        self.crossed.get()
    }

    /// Cancels every task still running.
    pub fn cancel_all(&self) {
        let running = std::mem::take(&mut *self.running.borrow_mut());
        running.values().for_each(JoinHandle::cancel);
    }
}

/// A running broker.
pub struct Broker {
    pub shared: Arc<BrokerShared>,
    /// Shard `k` at index `k`.
    pub shards: Vec<Rc<SimShard>>,
    /// Its connection to the NameServer.
    pub registrar: Option<ConnId>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("shards", &self.shards.len())
            .field("registrar", &self.registrar)
            .finish()
    }
}

impl Broker {
    /// Opens shard `k`'s store on `disks[k]` (recovering it), joins the
    /// shards by the in-memory mesh and serves it through `tasks`; the
    /// broker, its mesh-serving tasks and what each shard's recovery found.
    pub async fn start(
        shared: Arc<BrokerShared>,
        disks: &[MemStorage],
        mode: FlushMode,
        clock: &ManualClock,
        tasks: &Rc<Tasks>,
    ) -> Result<(Broker, Vec<JoinHandle<()>>, String), String> {
        let config = StoreConfig {
            flush_mode: mode,
            delay_levels: shared.config.store_config().delay_levels,
            ..StoreConfig::for_tests()
        };
        let host = SocketAddr::from(([127, 0, 0, 1], 10_911));
        let mut shards = Vec::with_capacity(disks.len());
        let mut serving = Vec::with_capacity(disks.len());
        let mut reports = Vec::with_capacity(disks.len());
        let ends = local_mesh::<Parcel<MemStorage>>(disks.len(), MESH_CHANNEL_CAPACITY);
        for (k, (disk, (mesh, inbox))) in disks.iter().zip(ends).enumerate() {
            let id = ShardId(k as u16);
            let (store, report) =
                ShardStore::open(disk.clone(), config.clone(), Path::new("/data"), id)
                    .await
                    .map_err(|e| format!("shard {k}: recovery failed: {e}"))?;
            reports.push(format!("shard {k}: {report}"));
            let clock = Arc::new(clock.clone());
            let replica = ShardReplica::in_memory(0, 0);
            let shard = Shard::new(id, shared.clone(), store, host, mesh, clock, replica);
            let serve = serve_mesh(Rc::downgrade(&shard), inbox, tasks.clone());
            serving.push(glommio::spawn_local(serve).detach());
            shards.push(shard);
        }
        let broker = Broker {
            shared,
            shards,
            registrar: None,
        };
        Ok((broker, serving, reports.join("; ")))
    }

    /// The shard a connection's requests arrive on (the kernel spreads a
    /// real broker's connections over its cores).
    pub fn shard_of(&self, conn: ConnId) -> &Rc<SimShard> {
        &self.shards[(conn % self.shards.len() as u64) as usize]
    }

    /// `(min, max)` of a queue, from the store of the shard that owns it.
    pub fn queue_bounds(&self, topic: &str, queue: u32) -> Option<(u64, u64)> {
        let owner = self.shards[0].owner(topic, queue);
        self.shards[owner.0 as usize]
            .store()
            .queue_bounds(topic, queue)
    }

    /// The end of a queue; 0 when it has none.
    pub fn queue_end(&self, topic: &str, queue: u32) -> u64 {
        self.queue_bounds(topic, queue).map_or(0, |(_, max)| max)
    }

    /// Whether a device error stopped any shard's store.
    pub fn is_poisoned(&self) -> bool {
        self.shards.iter().any(|s| s.store().is_poisoned())
    }

    /// Closes every shard's store cleanly.
    pub async fn close(&self) -> Result<(), String> {
        for shard in &self.shards {
            let closed = shard.store().close().await;
            closed.map_err(|e| format!("close shard {}: {e}", shard.id))?;
        }
        Ok(())
    }
}

/// Feeds what the mesh brings shard `shard` into it, each request in a
/// task of `tasks`; ends when the shard is gone or every mesh end dropped.
async fn serve_mesh(
    shard: Weak<SimShard>,
    inbox: LocalReceiver<Parcel<MemStorage>>,
    tasks: Rc<Tasks>,
) {
    while let Some(parcel) = inbox.recv().await {
        let Some(shard) = shard.upgrade() else {
            return;
        };
        for envelope in parcel {
            if let Some(work) = shard.receive(envelope) {
                tasks.crossed.set(tasks.crossed.get() + 1);
                tasks.spawn(work);
            }
        }
    }
}
