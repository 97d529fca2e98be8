//! The broker process: one thread and glommio executor per shard, joined by
//! glommio's channel mesh (behind the shard's [`Mesh`] seam: [`ThreadMesh`]
//! sends, one task per peer drains into [`Shard::receive`]), each opening
//! its own store (`<data>/shard-<k>`) and listening on the broker port (and
//! the VIP port) with SO_REUSEPORT, so the kernel spreads connections over
//! cores; before any shard binds, start refuses an address another process
//! listens on. Shard 0 also registers with the NameServers, persists
//! consumer offsets and expires silent clients. Client requests and peer
//! parcels beat each shard's `spin::Pulse`, which keeps it awake a moment
//! without holding its CPU from others.
//!
//! Shutdown: accept loops stop, shard 0 unregisters and persists offsets,
//! every store closes with a clean checkpoint.

use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bolide_proto::ids::ShardId;
use bolide_store::io::dma::DmaStorage;
use bolide_store::store::ShardStore;
use bolide_transport::listen::accept_or_stop;
use bolide_transport::remoting::Connection;
use bolide_transport::rt;
use glommio::channels::channel_mesh::{Full, MeshBuilder, Senders};
use glommio::channels::local_channel::{self, LocalReceiver};
use glommio::channels::shared_channel::ConnectedReceiver;
use glommio::net::TcpListener;

use crate::clock::{SharedClock, SystemClock};
use crate::config::BrokerConfig;
use crate::datadir::{check_shard_count, DataDirLock};
use crate::groups::CLIENT_EXPIRY_MS;
use crate::handler::{client::notify_changes, BrokerHandler};
use crate::register::Registrar;
use crate::replica::{master, ShardReplica};
use crate::shard::mesh::{MeshSend, Unreachable};
use crate::shard::{Mesh, Parcel, Shard, MESH_CHANNEL_CAPACITY};
use crate::shared::BrokerShared;

mod spin;
use spin::{Beating, Pulse};

/// The shard the runtime runs: over real files.
pub type LiveShard = Shard<DmaStorage>;

/// What the shard threads send each other.
type LiveParcel = Parcel<DmaStorage>;

/// One shard thread's end of glommio's channel mesh.
#[derive(Debug)]
pub struct ThreadMesh(Senders<LiveParcel>);

impl Mesh<LiveParcel> for ThreadMesh {
    fn peer_id(&self) -> usize {
        self.0.peer_id()
    }

    fn peer_count(&self) -> usize {
        self.0.nr_consumers()
    }

    fn send(&self, to: usize, item: LiveParcel) -> MeshSend<'_> {
        Box::pin(async move {
            let sent = self.0.send_to(to, item).await;
            sent.map_err(|e| Unreachable(format!("shard {to}: {e}")))
        })
    }
}

/// Serves what one peer sends this shard until its channel closes; each
/// request runs in a task of its own.
async fn serve_peer(shard: Weak<LiveShard>, rx: ConnectedReceiver<LiveParcel>, pulse: Rc<Pulse>) {
    while let Some(parcel) = rx.recv().await {
        let Some(shard) = shard.upgrade() else {
            return;
        };
        pulse.beat();
        for envelope in parcel {
            if let Some(work) = shard.receive(envelope) {
                glommio::spawn_local(work).detach();
            }
        }
    }
}

/// How often a shard looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);
/// How often shard 0 persists consumer offsets.
const OFFSET_PERSIST_INTERVAL: Duration = Duration::from_secs(5);
/// How often shard 0 drops clients that stopped heartbeating.
const CLIENT_SCAN_INTERVAL: Duration = Duration::from_secs(10);

/// A running broker.
#[derive(Debug)]
pub struct BrokerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Each returns whether its store closed cleanly.
    threads: Vec<JoinHandle<bool>>,
    /// Dropped last: released once every store has closed.
    _lock: DataDirLock,
}

impl BrokerHandle {
    /// The address clients use (`advertised_host:listen_port`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, unregisters, checkpoints every store, and waits.
    /// An error says how many stores did not close cleanly (their next
    /// open recovers them as after a crash).
    pub fn shutdown(mut self) -> Result<(), String> {
        match self.stop_and_join() {
            0 => Ok(()),
            n => Err(format!(
                "{n} shard store(s) did not close cleanly; see the log"
            )),
        }
    }

    /// Returns the number of shards that did not stop cleanly.
    fn stop_and_join(&mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        let joined = self.threads.drain(..).map(|t| t.join().unwrap_or(false));
        joined.filter(|clean| !clean).count()
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Starts the broker; returns once every shard listens.
pub fn start(config: BrokerConfig) -> Result<BrokerHandle, String> {
    config.validate().map_err(|e| e.to_string())?;
    let lock = DataDirLock::acquire(&config.store.data_dir)?;
    probe_listen_addrs(&config)?;
    let shards = config.shard_count();
    let clock = SystemClock::shared();
    let shared = Arc::new(BrokerShared::load(config, clock.as_ref())?);
    check_shard_count(shared.config_dir(), shards)?;
    let b = &shared.config.broker;
    let addr: SocketAddr = format!("{}:{}", b.advertised_host, b.listen_port)
        .parse()
        .map_err(|e| format!("advertised address: {e}"))?;
    let mesh = MeshBuilder::<LiveParcel, _>::full(shards, MESH_CHANNEL_CAPACITY);
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut threads = Vec::with_capacity(shards);
    for k in 0..shards {
        let (shared, mesh, stop, ready) =
            (shared.clone(), mesh.clone(), stop.clone(), ready_tx.clone());
        let clock = clock.clone();
        let thread = std::thread::Builder::new()
            .name(format!("bolide-shard-{k}"))
            .spawn(move || run_shard_thread(k, shared, clock, mesh, stop, ready))
            .map_err(|e| format!("cannot start shard thread: {e}"))?;
        threads.push(thread);
    }
    let mut handle = BrokerHandle {
        addr,
        stop,
        threads,
        _lock: lock,
    };
    for _ in 0..shards {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                handle.stop_and_join();
                return Err(e);
            }
            Err(_) => {
                handle.stop_and_join();
                return Err("a shard thread exited during start".into());
            }
        }
    }
    let listen = listen_addrs(&shared.config)?;
    let vip = listen
        .get(1)
        .map_or("off".to_owned(), |a| a.port().to_string());
    tracing::info!(listen = %listen[0], vip_port = %vip, advertised = %addr, shards, "broker listening");
    Ok(handle)
}

type Ready = mpsc::Sender<Result<(), String>>;

/// Where shard `k`'s thread runs: pinned to one of the CPUs this process
/// may use (the `k`-th, round robin), as thread-per-core means.
fn shard_placement(k: usize) -> glommio::Placement {
    match cpu_for_shard(k, &rt::allowed_cpus()) {
        Some(cpu) => glommio::Placement::Fixed(cpu),
        None => {
            tracing::warn!("this process's CPUs are unknown; shards are not pinned");
            glommio::Placement::Unbound
        }
    }
}

/// The CPU of shard `k` among `allowed`: round robin, so more shards than
/// CPUs share them evenly.
fn cpu_for_shard(k: usize, allowed: &[usize]) -> Option<usize> {
    (!allowed.is_empty()).then(|| allowed[k % allowed.len()])
}

fn run_shard_thread(
    k: usize,
    shared: Arc<BrokerShared>,
    clock: SharedClock,
    mesh: MeshBuilder<LiveParcel, Full>,
    stop: Arc<AtomicBool>,
    ready: Ready,
) -> bool {
    let spin_window = Duration::from_micros(shared.config.broker.spin_before_park_us);
    let executor = match glommio::LocalExecutorBuilder::new(shard_placement(k))
        .spin_before_park(spin::GLOMMIO_SPIN.min(spin_window))
        .io_memory(shared.config.store_config().io_memory_bytes())
        .make()
    {
        Ok(ex) => ex,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot start executor: {e}")));
            return false;
        }
    };
    executor.run(async move {
        let pulse = Rc::new(Pulse::default());
        let Some((shard, listeners, registrar)) =
            start_shard(shared, clock, mesh, pulse.clone(), &ready).await
        else {
            return false;
        };
        spawn_spinner(pulse.clone(), spin_window, Rc::downgrade(&shard));
        let _ = ready.send(Ok(()));
        let mut stoppers = Vec::new();
        let mut accepts = Vec::new();
        for (serves, listener) in listeners {
            let (stop_tx, stop_rx) = local_channel::new_bounded(1);
            stoppers.push(stop_tx);
            let shard = shard.clone();
            accepts.push(match serves {
                Serves::Clients => {
                    let handler = Rc::new(Beating {
                        handler: Rc::new(BrokerHandler {
                            shard: shard.clone(),
                        }),
                        pulse: pulse.clone(),
                    });
                    glommio::spawn_local(accept_loop(shard, handler, listener, stop_rx))
                }
                Serves::Slaves => {
                    glommio::spawn_local(master::accept_loop(shard, listener, stop_rx))
                }
            });
        }
        while !stop.load(Ordering::SeqCst) {
            glommio::timer::sleep(STOP_POLL).await;
        }
        // Stop accepting and close the listening sockets before anything
        // else, so a restarted broker never shares the port with them.
        drop(stoppers);
        for accept in accepts {
            accept.await;
        }
        stop_shard(&shard, registrar).await
    })
}

/// Runs the polite spinner (see [`spin`]) in a task queue of its own with
/// the least share, so under load it gets the executor only when nothing
/// else wants it. It also keeps the shard awake while sync-mode sends wait
/// for their round's write.
fn spawn_spinner(pulse: Rc<Pulse>, window: Duration, shard: Weak<LiveShard>) {
    let waiting = move || {
        shard
            .upgrade()
            .is_some_and(|s| s.store().log_writes_in_flight() > 0)
    };
    let queue = glommio::executor().create_task_queue(
        glommio::Shares::Static(1),
        glommio::Latency::NotImportant,
        "spin",
    );
    match glommio::spawn_local_into(spin::spin(pulse, window, waiting), queue) {
        Ok(task) => {
            task.detach();
        }
        Err(e) => tracing::warn!(error = %e, "no spinner: the shard sleeps when idle"),
    }
}

async fn start_shard(
    shared: Arc<BrokerShared>,
    clock: SharedClock,
    mesh: MeshBuilder<LiveParcel, Full>,
    pulse: Rc<Pulse>,
    ready: &Ready,
) -> Option<(
    Rc<LiveShard>,
    Vec<(Serves, TcpListener)>,
    Option<Rc<Registrar>>,
)> {
    let fail = |e: String| {
        let _ = ready.send(Err(e));
    };
    let Ok((senders, mut receivers)) = mesh.join().await else {
        fail("cannot join the shard mesh".into());
        return None;
    };
    let id = ShardId(senders.peer_id() as u16);
    let data_dir = shared.config.store.data_dir.clone();
    let store = match ShardStore::open(
        DmaStorage::new(),
        shared.config.store_config(),
        &data_dir,
        id,
    )
    .await
    {
        Ok((store, _report)) => store,
        Err(e) => {
            fail(format!(
                "shard {id}: cannot open store in {}: {e}",
                data_dir.display()
            ));
            return None;
        }
    };
    let b = &shared.config.broker;
    let store_host: SocketAddr = format!("{}:{}", b.advertised_host, b.listen_port)
        .parse()
        .ok()?;
    let listeners = match bind_listeners(&shared.config, id) {
        Ok(l) => l,
        Err(e) => {
            fail(e);
            return None;
        }
    };
    let master = shared.config.replication.role.is_master();
    let write_offset = store.write_offset().0;
    let replica = match ShardReplica::open(store.dir(), master, write_offset, clock.now_ms()) {
        Ok(r) => r,
        Err(e) => {
            fail(format!("shard {id}: replication epochs: {e}"));
            return None;
        }
    };
    let mesh = ThreadMesh(senders);
    let shard = Shard::new(id, shared, store, store_host, mesh, clock, replica);
    for (_, rx) in receivers.streams() {
        glommio::spawn_local(serve_peer(Rc::downgrade(&shard), rx, pulse.clone())).detach();
    }
    let registrar = (id.0 == 0).then(|| spawn_housekeeping(&shard));
    crate::schedule::spawn_schedulers(&shard);
    crate::transaction::spawn_checker(&shard);
    if !master {
        glommio::spawn_local(crate::replica::slave::run(shard.clone())).detach();
    }
    Some((shard, listeners, registrar))
}

/// The addresses the broker listens on: the main port, then (with
/// `vip_port`) port - 2, the "VIP channel" old clients send on.
pub fn listen_addrs(config: &BrokerConfig) -> Result<Vec<SocketAddr>, String> {
    let b = &config.broker;
    let ip: std::net::IpAddr = b
        .listen_host
        .parse()
        .map_err(|e| format!("broker.listen_host {:?}: {e}", b.listen_host))?;
    let mut addrs = vec![SocketAddr::new(ip, b.listen_port)];
    if b.vip_port {
        let vip = b
            .listen_port
            .checked_sub(2)
            .ok_or("broker.listen_port must be >= 3 when vip_port is on")?;
        addrs.push(SocketAddr::new(ip, vip));
    }
    Ok(addrs)
}

/// Refuses to start where anyone already listens: every shard binds with
/// SO_REUSEPORT, which would otherwise let this broker silently share a
/// port with another process (see `bolide_transport::listen`). Runs
/// once, before any shard binds, since the shards' own sockets would trip
/// it.
fn probe_listen_addrs(config: &BrokerConfig) -> Result<(), String> {
    for addr in listen_addrs(config)?
        .into_iter()
        .chain(replication_addrs(config)?)
    {
        bolide_transport::listen::probe_listen_addr(addr).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serves {
    Clients,
    Slaves,
}

/// A master's replication addresses: shard k listens on the replication
/// port + k (one port per shard, so a slave's shard reaches its twin).
pub fn replication_addrs(config: &BrokerConfig) -> Result<Vec<SocketAddr>, String> {
    if !config.replication.role.is_master() {
        return Ok(Vec::new());
    }
    let ip: std::net::IpAddr = config
        .broker
        .listen_host
        .parse()
        .map_err(|e| format!("broker.listen_host: {e}"))?;
    let base = config.replication_port();
    let ports = (0..config.shard_count()).map(|k| base as usize + k);
    Ok(ports.map(|p| SocketAddr::new(ip, p as u16)).collect())
}

fn bind_listeners(
    config: &BrokerConfig,
    id: ShardId,
) -> Result<Vec<(Serves, TcpListener)>, String> {
    let bind = |addr| bolide_transport::listen::bind_listener(addr).map_err(|e| e.to_string());
    let mut listeners = Vec::new();
    for addr in listen_addrs(config)? {
        listeners.push((Serves::Clients, bind(addr)?));
    }
    if let Some(addr) = replication_addrs(config)?.get(id.0 as usize) {
        listeners.push((Serves::Slaves, bind(*addr)?));
    }
    Ok(listeners)
}

/// Accepts connections until `stopped` closes; the listener is dropped
/// (closed) on return.
async fn accept_loop(
    shard: Rc<LiveShard>,
    handler: Rc<Beating<BrokerHandler<DmaStorage>>>,
    listener: TcpListener,
    stopped: LocalReceiver<()>,
) {
    let b = &shard.shared.config.broker;
    let max_frame = b.max_frame_bytes;
    let idle = Duration::from_millis(b.idle_timeout_ms);
    // Every shard takes its share of the broker's limit (the kernel
    // spreads connections evenly over the SO_REUSEPORT listeners).
    let limit = b
        .max_connections
        .div_ceil(shard.shared.config.shard_count());
    let mut last_refusal_log: Option<std::time::Instant> = None;
    loop {
        match accept_or_stop(&listener, &stopped).await {
            None => return,
            Some(Ok(_)) if shard.connection_count() >= limit => {
                // Dropping the stream closes it: the client sees a reset.
                if last_refusal_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    last_refusal_log = Some(std::time::Instant::now());
                    tracing::warn!(shard = shard.id.0, limit,
                        "connection limit reached (broker.max_connections); closing new connections");
                }
            }
            Some(Ok(stream)) => {
                match Connection::start_server(stream, handler.clone(), max_frame, idle) {
                    Ok(conn) => shard.register_connection(&conn),
                    Err(e) => tracing::debug!(error = %e, "connection dropped at start"),
                }
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(STOP_POLL).await;
            }
        }
    }
}

/// Shard 0's background tasks; returns the registrar, which unregisters
/// at shutdown.
fn spawn_housekeeping(shard: &Rc<LiveShard>) -> Rc<Registrar> {
    let registrar = Registrar::new(shard.shared.clone(), shard.clock.clone());
    glommio::spawn_local(registrar.clone().run()).detach();
    if !shard.shared.config.replication.role.is_master() {
        let follow = crate::replica::follow::run(shard.shared.clone(), shard.clock.clone());
        glommio::spawn_local(follow).detach();
    }
    let persist = shard.clone();
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(OFFSET_PERSIST_INTERVAL).await;
            persist.shared.persist_offsets();
        }
    })
    .detach();
    let scan = shard.clone();
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(CLIENT_SCAN_INTERVAL).await;
            let changes = scan
                .shared
                .groups()
                .expire(scan.clock.monotonic_ms(), CLIENT_EXPIRY_MS);
            notify_changes(&scan, changes);
        }
    })
    .detach();
    registrar
}

/// Returns whether the store closed cleanly.
async fn stop_shard(shard: &Rc<LiveShard>, registrar: Option<Rc<Registrar>>) -> bool {
    if let Some(registrar) = registrar {
        registrar.unregister_all().await;
        shard.shared.persist_offsets();
    }
    match shard.store().close().await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(shard = shard.id.0, error = %e, "store did not close cleanly");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_take_the_allowed_cpus_round_robin() {
        let allowed = [2, 3, 6];
        let cpus: Vec<_> = (0..5).map(|k| cpu_for_shard(k, &allowed)).collect();
        assert_eq!(cpus, [Some(2), Some(3), Some(6), Some(2), Some(3)]);
        assert_eq!(cpu_for_shard(0, &[]), None);
    }
}
