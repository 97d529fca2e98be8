//! The NameServer's network side: one executor accepting
//! connections and feeding requests to [`NamesrvCore`], plus the periodic
//! scan that drops silent brokers. Runs in the calling thread ([`serve`]) or
//! on a thread of its own ([`spawn`], for embedding).
//!
//! It takes its port as the broker does ([`bolide_transport::listen`]): a
//! probe that refuses an address someone listens on, then a SO_REUSEPORT
//! listener.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bolide_proto::RemotingCommand;
use bolide_transport::listen::{bind_listener, probe_listen_addr};
use bolide_transport::remoting::{Connection, Handler};
use bolide_transport::rt::{self, TcpListener, TcpStream};

use crate::config::NamesrvConfig;
use crate::core::NamesrvCore;

struct NamesrvHandler {
    core: RefCell<NamesrvCore>,
    started: Instant,
    /// Connections open now (bounded by `max_connections`).
    connections: std::cell::Cell<usize>,
}

impl NamesrvHandler {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

impl Handler for NamesrvHandler {
    async fn handle(
        self: Rc<Self>,
        conn: Connection,
        request: RemotingCommand,
    ) -> Option<RemotingCommand> {
        let now = self.now_ms();
        Some(self.core.borrow_mut().handle(&request, now, conn.id()))
    }

    fn on_close(&self, conn: &Connection) {
        self.connections
            .set(self.connections.get().saturating_sub(1));
        let gone = self.core.borrow_mut().routes.connection_closed(conn.id());
        for addr in gone {
            tracing::info!(broker = %addr, "broker connection closed; removed from routes");
        }
    }
}

/// Tells a running NameServer to stop.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    pub fn stop(&self, listen_addr: SocketAddr) {
        self.0.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ =
            std::net::TcpStream::connect_timeout(&wake_addr(listen_addr), Duration::from_secs(1));
    }

    fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

fn wake_addr(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        ip if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), listen.port())
        }
        _ => listen,
    }
}

/// Serves on `listener` until `stop` is signalled. Call inside an executor
/// (see [`rt`]).
pub async fn serve(config: NamesrvConfig, listener: TcpListener, stop: StopSignal) {
    let handler = Rc::new(NamesrvHandler {
        core: RefCell::new(NamesrvCore::new(config.clone())),
        started: Instant::now(),
        connections: std::cell::Cell::new(0),
    });
    let scanner = handler.clone();
    let scan_every = Duration::from_millis(config.scan_interval_ms);
    let scan = rt::spawn_local(async move {
        loop {
            rt::sleep(scan_every).await;
            let now = scanner.now_ms();
            for addr in scanner.core.borrow_mut().routes.expire(now) {
                tracing::warn!(broker = %addr, "broker silent past its timeout; removed from routes");
            }
        }
    });
    let refusals = std::cell::Cell::new(None);
    while !stop.is_stopped() {
        match listener.accept().await {
            Ok(stream) if !stop.is_stopped() => accept(stream, &handler, &config, &refusals),
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                rt::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(scan.cancel());
}

/// Serves a new connection, or closes it at once when `max_connections`
/// are open (logged at most every 10 s).
fn accept(
    stream: TcpStream,
    handler: &Rc<NamesrvHandler>,
    config: &NamesrvConfig,
    last_refusal_log: &std::cell::Cell<Option<Instant>>,
) {
    if handler.connections.get() >= config.max_connections {
        if last_refusal_log
            .get()
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
        {
            last_refusal_log.set(Some(Instant::now()));
            tracing::warn!(
                limit = config.max_connections,
                "connection limit reached (max_connections); closing new connections"
            );
        }
        return;
    }
    let idle = Duration::from_millis(config.idle_timeout_ms);
    match Connection::start_server(stream, handler.clone(), config.max_frame_bytes, idle) {
        Ok(_) => handler.connections.set(handler.connections.get() + 1),
        Err(e) => tracing::debug!(error = %e, "connection dropped at start"),
    }
}

/// A NameServer running on its own thread.
#[derive(Debug)]
pub struct NamesrvHandle {
    addr: SocketAddr,
    stop: StopSignal,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NamesrvHandle {
    /// The address it listens on (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.stop(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for NamesrvHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Starts a NameServer on a thread of its own; returns once it listens.
pub fn spawn(config: NamesrvConfig) -> std::io::Result<NamesrvHandle> {
    config.validate().map_err(std::io::Error::other)?;
    let listen: SocketAddr = config
        .listen_addr
        .parse()
        .map_err(|e| std::io::Error::other(format!("listen_addr: {e}")))?;
    probe_listen_addr(listen)?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stop = StopSignal::default();
    let thread_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name("bolide-namesrv".into())
        .spawn(move || {
            let executor = match rt::new_executor("namesrv") {
                Ok(ex) => ex,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            executor.run(async move {
                let listener = match bind_listener(listen) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(
                    listener
                        .local_addr()
                        .map_err(|e| std::io::Error::other(e.to_string())),
                );
                serve(config, listener, thread_stop).await;
            });
        })?;
    let addr = ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("namesrv thread exited before listening"))??;
    tracing::info!(%addr, "NameServer listening");
    Ok(NamesrvHandle {
        addr,
        stop,
        thread: Some(thread),
    })
}
