//! The broker process: one thread and glommio executor per shard, joined by
//! a channel mesh, each opening its own store (`<data>/shard-<k>`) and
//! listening on the broker port (and the VIP port) with SO_REUSEPORT, so
//! the kernel spreads connections over cores; before any shard binds, start
//! refuses an address another process listens on. Shard 0 also registers with
//! the NameServers, persists consumer offsets and expires silent clients.
//!
//! Shutdown: accept loops stop, shard 0 unregisters and persists offsets,
//! every store closes with a clean checkpoint.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bolide_client::remoting::Connection;
use bolide_proto::ids::ShardId;
use bolide_store::io::dma::DmaStorage;
use bolide_store::store::ShardStore;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::channels::local_channel::{self, LocalReceiver};
use glommio::net::TcpListener;

use crate::config::BrokerConfig;
use crate::groups::CLIENT_EXPIRY_MS;
use crate::handler::{client::notify_changes, BrokerHandler};
use crate::register::Registrar;
use crate::shard::{Envelope, Shard, MESH_CHANNEL_CAPACITY};
use crate::shared::BrokerShared;

/// How often a shard looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);
/// How often shard 0 persists consumer offsets.
const OFFSET_PERSIST_INTERVAL: Duration = Duration::from_secs(5);
/// How often shard 0 drops clients that stopped heartbeating.
const CLIENT_SCAN_INTERVAL: Duration = Duration::from_secs(10);
/// File recording the shard count the data directory was written with.
const SHARD_COUNT_FILE: &str = "shards";

/// A running broker.
#[derive(Debug)]
pub struct BrokerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl BrokerHandle {
    /// The address clients use (`advertised_host:listen_port`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, unregisters, checkpoints every store, and waits.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Refuses a data directory written with another shard count: queues map
/// to shards by count, so changing it would orphan stored messages.
fn check_shard_count(shared: &BrokerShared, shards: usize) -> Result<(), String> {
    let path = shared.config_dir().join(SHARD_COUNT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim() == shards.to_string() => Ok(()),
        Ok(text) => Err(format!(
            "data directory was written with {} shards; set broker.shards = {} (changing it is not supported)",
            text.trim(),
            text.trim()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&path, shards.to_string()).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Starts the broker; returns once every shard listens.
pub fn start(config: BrokerConfig) -> Result<BrokerHandle, String> {
    config.validate().map_err(|e| e.to_string())?;
    probe_listen_addrs(&config)?;
    let shards = config.shard_count();
    let shared = Arc::new(BrokerShared::load(config)?);
    check_shard_count(&shared, shards)?;
    let b = &shared.config.broker;
    let addr: SocketAddr = format!("{}:{}", b.advertised_host, b.listen_port)
        .parse()
        .map_err(|e| format!("advertised address: {e}"))?;
    let mesh = MeshBuilder::<Envelope, _>::full(shards, MESH_CHANNEL_CAPACITY);
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut threads = Vec::with_capacity(shards);
    for k in 0..shards {
        let (shared, mesh, stop, ready) =
            (shared.clone(), mesh.clone(), stop.clone(), ready_tx.clone());
        let thread = std::thread::Builder::new()
            .name(format!("bolide-shard-{k}"))
            .spawn(move || run_shard_thread(shared, mesh, stop, ready))
            .map_err(|e| format!("cannot start shard thread: {e}"))?;
        threads.push(thread);
    }
    let mut handle = BrokerHandle {
        addr,
        stop,
        threads,
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

fn run_shard_thread(
    shared: Arc<BrokerShared>,
    mesh: MeshBuilder<Envelope, glommio::channels::channel_mesh::Full>,
    stop: Arc<AtomicBool>,
    ready: Ready,
) {
    let spin = Duration::from_micros(shared.config.broker.spin_before_park_us);
    let executor = match glommio::LocalExecutorBuilder::default()
        .spin_before_park(spin)
        .io_memory(shared.config.store_config().io_memory_bytes())
        .make()
    {
        Ok(ex) => ex,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot start executor: {e}")));
            return;
        }
    };
    executor.run(async move {
        let Some((shard, listeners)) = start_shard(shared, mesh, &ready).await else {
            return;
        };
        let _ = ready.send(Ok(()));
        let mut stoppers = Vec::new();
        let mut accepts = Vec::new();
        for listener in listeners {
            let (stop_tx, stop_rx) = local_channel::new_bounded(1);
            stoppers.push(stop_tx);
            accepts.push(glommio::spawn_local(accept_loop(
                shard.clone(),
                listener,
                stop_rx,
            )));
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
        stop_shard(&shard).await;
    });
}

async fn start_shard(
    shared: Arc<BrokerShared>,
    mesh: MeshBuilder<Envelope, glommio::channels::channel_mesh::Full>,
    ready: &Ready,
) -> Option<(Rc<Shard>, Vec<TcpListener>)> {
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
    let listeners = match bind_listeners(&shared.config) {
        Ok(l) => l,
        Err(e) => {
            fail(e);
            return None;
        }
    };
    let shard = Shard::new(id, shared, store, store_host, senders);
    for (_, rx) in receivers.streams() {
        glommio::spawn_local(shard.clone().serve_peer(rx)).detach();
    }
    if id.0 == 0 {
        spawn_housekeeping(&shard);
    }
    crate::schedule::spawn_schedulers(&shard);
    Some((shard, listeners))
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
/// port with another process (see `bolide_namesrv::server::listen`). Runs
/// once, before any shard binds, since the shards' own sockets would trip
/// it.
fn probe_listen_addrs(config: &BrokerConfig) -> Result<(), String> {
    for addr in listen_addrs(config)? {
        bolide_namesrv::server::probe_listen_addr(addr).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn bind_listeners(config: &BrokerConfig) -> Result<Vec<TcpListener>, String> {
    listen_addrs(config)?
        .into_iter()
        .map(|addr| bolide_namesrv::server::bind_listener(addr).map_err(|e| e.to_string()))
        .collect()
}

/// Accepts connections until `stopped` closes; the listener is dropped
/// (closed) on return.
async fn accept_loop(shard: Rc<Shard>, listener: TcpListener, stopped: LocalReceiver<()>) {
    let handler = Rc::new(BrokerHandler {
        shard: shard.clone(),
    });
    let max_frame = shard.shared.config.broker.max_frame_bytes;
    loop {
        let next = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            stopped.recv().await;
            None
        });
        match next.await {
            None => return,
            Some(Ok(stream)) => match Connection::start(stream, handler.clone(), max_frame) {
                Ok(conn) => shard.register_connection(&conn),
                Err(e) => tracing::debug!(error = %e, "connection dropped at start"),
            },
            Some(Err(e)) => {
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(STOP_POLL).await;
            }
        }
    }
}

fn spawn_housekeeping(shard: &Rc<Shard>) {
    let registrar = Registrar::new(shard.shared.clone());
    glommio::spawn_local(registrar.run()).detach();
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
            let changes = scan.shared.groups().expire(scan.now_ms(), CLIENT_EXPIRY_MS);
            notify_changes(&scan, changes);
        }
    })
    .detach();
}

async fn stop_shard(shard: &Rc<Shard>) {
    if shard.id.0 == 0 {
        Registrar::new(shard.shared.clone()).unregister_all().await;
        shard.shared.persist_offsets();
    }
    if let Err(e) = shard.store.close().await {
        tracing::error!(shard = shard.id.0, error = %e, "store did not close cleanly");
    }
}
