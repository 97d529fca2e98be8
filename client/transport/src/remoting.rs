//! A remoting connection: the duplex transport used by Bolide's
//! servers (NameServer, broker) and its client alike.
//!
//! Either side may send requests on a connection (the broker pushes
//! NOTIFY_CONSUMER_IDS_CHANGED to consumers), so one [`Connection`] does
//! both: a reader task decodes frames, hands inbound requests to a
//! [`Handler`] (each in its own task, so a parked long poll never blocks the
//! connection) and completes our pending requests by `opaque`. Outbound
//! frames are appended to a buffer; the first sender to find no write in
//! progress writes it, after letting the other ready tasks append theirs,
//! so frames coalesce into few writes: one per socket read, as the reader
//! yields after dispatching what a read brought.
//!
//! Bounds: at most [`MAX_INFLIGHT_REQUESTS`] inbound requests per connection
//! are processed at once (then the reader stops reading, and TCP pushes back),
//! a frame larger than the configured cap closes the connection, as Java
//! does after a decode failure, and a server's connection that completes no
//! frame within its idle timeout ([`Connection::start_server`]; RocketMQ
//! closes after 120 s) is closed — idle, or stuck halfway through a frame.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bolide_proto::codes::response_code;
use bolide_proto::frame::{decode_frame_buf, encode_frame};
use bolide_proto::RemotingCommand;
use bytes::BytesMut;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

use crate::rt::local_channel::{self, LocalReceiver, LocalSender};
use crate::rt::{self, Semaphore, TcpStream};

/// Inbound requests processed concurrently per connection.
pub const MAX_INFLIGHT_REQUESTS: u64 = 1024;
/// Bytes read from the socket per read call.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Outbound bytes above which senders wait for the writer (backpressure).
const MAX_PENDING_OUT_BYTES: usize = 8 << 20;

/// Why a request did not get its response.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("connection closed")]
    Closed,
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    #[error("cannot encode request: {0}")]
    Encode(#[from] bolide_proto::ProtoError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves the requests that arrive on a connection.
pub trait Handler: 'static {
    /// Handles one inbound request. Return the response, or `None` to send
    /// nothing (the transport never answers oneway requests anyway).
    fn handle(
        self: Rc<Self>,
        conn: Connection,
        request: RemotingCommand,
    ) -> impl Future<Output = Option<RemotingCommand>>;

    /// Called once when the connection closes.
    fn on_close(&self, _conn: &Connection) {}
}

/// A handler for connections whose peer never sends requests (a client's
/// link to a NameServer or broker): anything that comes is logged and dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoInbound;

impl Handler for NoInbound {
    async fn handle(
        self: Rc<Self>,
        _: Connection,
        request: RemotingCommand,
    ) -> Option<RemotingCommand> {
        tracing::debug!(code = request.code, "unexpected inbound request ignored");
        None
    }
}

struct Inner {
    id: u64,
    peer: SocketAddr,
    max_frame_bytes: usize,
    out: RefCell<BytesMut>,
    /// The socket's write half; out of the cell while a task writes.
    writer: RefCell<Option<WriteHalf<TcpStream>>>,
    /// A task is draining `out` to the socket; others only append.
    writing: Cell<bool>,
    /// Tells the reader to stop when the connection closes (capacity 1).
    closing: LocalSender<()>,
    /// Wakes senders waiting for the outbound buffer to drain.
    drained: RefCell<Vec<LocalSender<()>>>,
    pending: RefCell<HashMap<i32, LocalSender<RemotingCommand>>>,
    next_opaque: Cell<i32>,
    closed: Cell<bool>,
}

/// A live remoting connection; cheap to clone, local to its executor.
#[derive(Clone)]
pub struct Connection {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("peer", &self.inner.peer)
            .field("closed", &self.inner.closed.get())
            .finish()
    }
}

thread_local! {
    static NEXT_CONN_ID: Cell<u64> = const { Cell::new(1) };
}

impl Connection {
    /// Starts the reader and writer tasks of `stream` on the current executor.
    pub fn start<H: Handler>(
        stream: TcpStream,
        handler: Rc<H>,
        max_frame_bytes: usize,
    ) -> std::io::Result<Connection> {
        Self::start_with(stream, handler, max_frame_bytes, None)
    }

    /// Like [`start`](Self::start), for a server's side of a connection:
    /// closed once no complete frame arrived for `idle_timeout` (clients
    /// heartbeat every 30 s, so a live one never gets there).
    pub fn start_server<H: Handler>(
        stream: TcpStream,
        handler: Rc<H>,
        max_frame_bytes: usize,
        idle_timeout: Duration,
    ) -> std::io::Result<Connection> {
        Self::start_with(stream, handler, max_frame_bytes, Some(idle_timeout))
    }

    fn start_with<H: Handler>(
        stream: TcpStream,
        handler: Rc<H>,
        max_frame_bytes: usize,
        idle_timeout: Option<Duration>,
    ) -> std::io::Result<Connection> {
        let peer = stream.peer_addr()?;
        stream.set_nodelay(true)?;
        let (closing, closed_signal) = local_channel::new_bounded(1);
        let id = NEXT_CONN_ID.with(|n| {
            let id = n.get();
            n.set(id + 1);
            id
        });
        // Tag ids with the thread so they are unique across executors.
        let id = id | (thread_tag() << 48);
        let conn = Connection {
            inner: Rc::new(Inner {
                id,
                peer,
                max_frame_bytes,
                out: RefCell::new(BytesMut::with_capacity(READ_CHUNK_BYTES)),
                writer: RefCell::new(None),
                writing: Cell::new(false),
                closing,
                drained: RefCell::new(Vec::new()),
                pending: RefCell::new(HashMap::new()),
                next_opaque: Cell::new(1),
                closed: Cell::new(false),
            }),
        };
        let (reader, writer) = futures_lite::io::split(stream);
        *conn.inner.writer.borrow_mut() = Some(writer);
        let reading = read_loop(conn.clone(), reader, handler, closed_signal, idle_timeout);
        rt::spawn_local(reading).detach();
        Ok(conn)
    }

    /// Connects to `addr` and starts the connection.
    pub async fn connect<H: Handler>(
        addr: SocketAddr,
        handler: Rc<H>,
        max_frame_bytes: usize,
        timeout: Duration,
    ) -> Result<Connection, TransportError> {
        let stream = TcpStream::connect_timeout(addr, timeout)
            .await
            .map_err(|e| TransportError::Io(std::io::Error::other(e.to_string())))?;
        Ok(Connection::start(stream, handler, max_frame_bytes)?)
    }

    /// Process-unique id of this connection.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// Closes the connection: pending requests fail, the tasks end.
    pub fn close(&self) {
        if self.inner.closed.replace(true) {
            return;
        }
        self.inner.pending.borrow_mut().clear();
        self.inner.drained.borrow_mut().clear();
        let _ = self.inner.closing.try_send(());
        // A writing task closes the socket when it finishes; otherwise do it now.
        if let Some(mut writer) = self.inner.writer.borrow_mut().take() {
            rt::spawn_local(async move {
                let _ = writer.close().await;
            })
            .detach();
        }
    }

    /// Queues `cmd` for writing. Waits while the outbound buffer is over its
    /// bound, so a peer that does not read slows its own producers only.
    pub async fn send(&self, cmd: &RemotingCommand) -> Result<(), TransportError> {
        while self.inner.out.borrow().len() > MAX_PENDING_OUT_BYTES && !self.is_closed() {
            let (tx, rx) = local_channel::new_bounded(1);
            self.inner.drained.borrow_mut().push(tx);
            rx.recv().await;
        }
        if self.is_closed() {
            return Err(TransportError::Closed);
        }
        encode_frame(
            cmd,
            &mut self.inner.out.borrow_mut(),
            self.inner.max_frame_bytes,
        )?;
        if self.inner.writing.get() {
            // The task writing now drains what was appended before it stops.
            return Ok(());
        }
        self.flush().await
    }

    /// Writes `out` to the socket until it is empty, in this task (no hop
    /// through a writer task: that hop cost a scheduling round per reply).
    /// Frames other tasks append meanwhile go out in the same loop.
    async fn flush(&self) -> Result<(), TransportError> {
        let Some(mut writer) = self.inner.writer.borrow_mut().take() else {
            return Err(TransportError::Closed);
        };
        let mut guard = FlushGuard {
            conn: self,
            finished: false,
        };
        self.inner.writing.set(true);
        // Let the tasks that are ready run first: replies to the other
        // requests of one read (or requests of other producers) join this
        // write, so a busy connection makes one syscall per batch, not per
        // frame. With nothing else ready this costs well under a microsecond.
        futures_lite::future::yield_now().await;
        let mut spare = BytesMut::new();
        let result = loop {
            let batch = std::mem::replace(
                &mut *self.inner.out.borrow_mut(),
                std::mem::take(&mut spare),
            );
            for waiter in self.inner.drained.borrow_mut().drain(..) {
                let _ = waiter.try_send(());
            }
            if batch.is_empty() {
                break Ok(());
            }
            if let Err(e) = writer.write_all(&batch).await {
                break Err(e);
            }
            spare = batch;
            spare.clear();
        };
        guard.finished = true;
        self.inner.writing.set(false);
        if result.is_err() || self.is_closed() {
            self.close();
            let _ = writer.close().await;
        } else {
            *self.inner.writer.borrow_mut() = Some(writer);
        }
        result.map_err(TransportError::Io)
    }

    fn next_opaque(&self) -> i32 {
        let opaque = self.inner.next_opaque.get();
        self.inner
            .next_opaque
            .set(opaque.wrapping_add(1) & i32::MAX);
        opaque
    }

    /// Sends a request and waits for its response.
    pub async fn invoke(
        &self,
        mut request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, TransportError> {
        let opaque = self.next_opaque();
        request.opaque = opaque;
        let (tx, rx) = local_channel::new_bounded(1);
        self.inner.pending.borrow_mut().insert(opaque, tx);
        if let Err(e) = self.send(&request).await {
            self.inner.pending.borrow_mut().remove(&opaque);
            return Err(e);
        }
        let outcome = rt::timeout(timeout, async { Ok(rx.recv().await) }).await;
        self.inner.pending.borrow_mut().remove(&opaque);
        match outcome {
            Ok(Some(response)) => Ok(response),
            Ok(None) => Err(TransportError::Closed),
            Err(_) => Err(TransportError::Timeout(timeout)),
        }
    }

    /// Sends a oneway request (no response expected).
    pub async fn invoke_oneway(&self, mut request: RemotingCommand) -> Result<(), TransportError> {
        request.opaque = self.next_opaque();
        request.mark_oneway();
        self.send(&request).await
    }

    fn complete(&self, response: RemotingCommand) {
        let waiter = self.inner.pending.borrow_mut().remove(&response.opaque);
        match waiter {
            Some(tx) => {
                let _ = tx.try_send(response);
            }
            None => {
                tracing::debug!(opaque = response.opaque, peer = %self.inner.peer, "response for unknown request dropped")
            }
        }
    }
}

fn thread_tag() -> u64 {
    thread_local! { static TAG: u64 = next_thread_tag(); }
    TAG.with(|t| *t)
}

fn next_thread_tag() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xFFFF
}

async fn read_loop<H: Handler>(
    conn: Connection,
    mut reader: ReadHalf<TcpStream>,
    handler: Rc<H>,
    closed_signal: LocalReceiver<()>,
    idle_timeout: Option<Duration>,
) {
    let permits = Rc::new(Semaphore::new(MAX_INFLIGHT_REQUESTS));
    let mut last_frame = std::time::Instant::now();
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    // Reads land in a scratch buffer zeroed once, then only the bytes read
    // are copied: growing `buf` by a zeroed chunk per read would memset
    // 64 KiB for every small request.
    let mut scratch = vec![0u8; READ_CHUNK_BYTES];
    'conn: while !conn.is_closed() {
        let mut dispatched = false;
        loop {
            match decode_frame_buf(&mut buf, conn.inner.max_frame_bytes) {
                Ok(Some(cmd)) => {
                    dispatched = true;
                    dispatch(&conn, &handler, &permits, cmd).await
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(peer = %conn.inner.peer, error = %e, "bad frame; closing connection");
                    break 'conn;
                }
            }
        }
        // Let this read's answers go out before reading on. A read that
        // never blocks (a pipelining peer keeps the socket full) would
        // otherwise hold every answer until the backlog is gone, and the
        // peer, waiting for them, would stop sending: the two sides then
        // take turns instead of working at once.
        if dispatched {
            last_frame = std::time::Instant::now();
            futures_lite::future::yield_now().await;
        }
        // Racing the read with the close signal (a closed connection stops
        // reading even if the peer never hangs up) and the idle deadline.
        let idle = async {
            match idle_timeout {
                Some(t) => rt::sleep(t.saturating_sub(last_frame.elapsed())).await,
                None => std::future::pending().await,
            }
            tracing::info!(peer = %conn.inner.peer, partial_frame_bytes = buf.len(),
                "no frame within the idle timeout; closing connection");
            None
        };
        let stop = futures_lite::future::or(closed_signal.recv(), idle);
        let read =
            futures_lite::future::or(async { Some(reader.read(&mut scratch).await) }, async {
                stop.await;
                None
            });
        match read.await {
            None | Some(Ok(0)) | Some(Err(_)) => break,
            Some(Ok(n)) => buf.extend_from_slice(&scratch[..n]),
        }
    }
    conn.close();
    handler.on_close(&conn);
}

async fn dispatch<H: Handler>(
    conn: &Connection,
    handler: &Rc<H>,
    permits: &Rc<Semaphore>,
    cmd: RemotingCommand,
) {
    if cmd.is_response() {
        conn.complete(cmd);
        return;
    }
    let Ok(permit) = permits.acquire_static_permit(1).await else {
        return;
    };
    let (conn, handler) = (conn.clone(), handler.clone());
    rt::spawn_local(async move {
        let oneway = cmd.is_oneway();
        let (opaque, code) = (cmd.opaque, cmd.code);
        // Boxed: handler futures are large (every request kind's state),
        // and an unboxed one would be copied whole through each layer of
        // the spawn (about 5% of the broker's CPU).
        let response = Box::pin(handler.handle(conn.clone(), cmd)).await;
        if let (Some(mut response), false) = (response, oneway) {
            response.opaque = opaque;
            response.mark_response();
            if let Err(e) = conn.send(&response).await {
                tracing::debug!(code, error = %e, "response not sent");
                if matches!(e, TransportError::Encode(_)) {
                    let fallback =
                        RemotingCommand::response(response_code::SYSTEM_ERROR, Some(e.to_string()));
                    let _ = conn.send(&fallback.with_opaque(opaque)).await;
                }
            }
        }
        drop(permit);
    })
    .detach();
}

/// Closes the connection if a flush is abandoned midway (its future
/// dropped): a partly written frame leaves the stream unusable.
struct FlushGuard<'a> {
    conn: &'a Connection,
    finished: bool,
}

impl Drop for FlushGuard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.conn.inner.writing.set(false);
            self.conn.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
    use std::time::Instant;

    use super::*;

    /// Serves one connection with `idle`; returns its address.
    fn serve_one(idle: Duration) -> SocketAddr {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            rt::run_on_new_executor(move || async move {
                let listener = rt::TcpListener::bind("127.0.0.1:0").unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let stream = listener.accept().await.unwrap();
                let conn =
                    Connection::start_server(stream, Rc::new(NoInbound), 1 << 20, idle).unwrap();
                while !conn.is_closed() {
                    rt::sleep(Duration::from_millis(20)).await;
                }
            });
        });
        rx.recv().unwrap()
    }

    /// Reads until the server closes; returns how long that took.
    fn closed_after(mut peer: std::net::TcpStream) -> Duration {
        let started = Instant::now();
        peer.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut buf = [0u8; 64];
        loop {
            match peer.read(&mut buf) {
                Ok(0) => return started.elapsed(),
                Ok(_) => continue,
                Err(e) => panic!("the server did not close the connection: {e}"),
            }
        }
    }

    #[test]
    fn a_server_closes_a_connection_stuck_halfway_through_a_frame() {
        let addr = serve_one(Duration::from_millis(300));
        let mut peer = std::net::TcpStream::connect(addr).unwrap();
        // A frame header announcing 100 bytes, then only 10 of them.
        peer.write_all(&100u32.to_be_bytes()).unwrap();
        peer.write_all(&[0u8; 10]).unwrap();
        closed_after(peer);
    }

    /// Records, per request, the response bytes still waiting to be
    /// written when it is handled; answers each with a copy of its body.
    struct RecordsUnwritten(RefCell<Vec<usize>>);

    impl Handler for RecordsUnwritten {
        async fn handle(
            self: Rc<Self>,
            conn: Connection,
            request: RemotingCommand,
        ) -> Option<RemotingCommand> {
            self.0.borrow_mut().push(conn.inner.out.borrow().len());
            Some(RemotingCommand::response(0, None).with_body(request.body))
        }
    }

    /// A client with many requests queued (a pipelining producer) gets the
    /// answers to the first socket read's requests before the server reads
    /// on. Answering a whole backlog in one write left both sides idle in
    /// turn: the client waited for all its answers, then the server for
    /// all the next requests (256 in flight ran at 60% of the rate).
    #[test]
    fn answers_go_out_between_socket_reads_of_a_backlog() {
        const REQUESTS: usize = 300;
        let body = vec![7u8; 1000];
        let mut requests = BytesMut::new();
        for opaque in 0..REQUESTS as i32 {
            let request = RemotingCommand::request(10)
                .with_body(bytes::Bytes::from(body.clone()))
                .with_opaque(opaque);
            encode_frame(&request, &mut requests, 1 << 20).unwrap();
        }
        assert!(requests.len() > 4 * READ_CHUNK_BYTES);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        // Room for the whole backlog, so the server finds it all queued.
        let room: libc::c_int = 4 << 20;
        // SAFETY: a valid socket and a c_int option value of its size.
        let rc = unsafe {
            libc::setsockopt(
                accepted.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&room as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        client.write_all(&requests).unwrap();
        let unwritten = rt::run_on_new_executor(move || async move {
            let handler = Rc::new(RecordsUnwritten(RefCell::default()));
            accepted.set_nonblocking(true).unwrap();
            // SAFETY: the accepted socket's ownership passes to the stream.
            let stream = unsafe { TcpStream::from_raw_fd(accepted.into_raw_fd()) };
            let conn = Connection::start(stream, handler.clone(), 1 << 20).unwrap();
            while handler.0.borrow().len() < REQUESTS {
                rt::sleep(Duration::from_millis(5)).await;
            }
            conn.close();
            handler.0.take()
        });
        let answered = unwritten.iter().filter(|&&n| n == 0).count();
        assert!(
            answered > 2,
            "the backlog's answers waited for its last request ({answered} writes before it)"
        );
    }

    #[test]
    fn a_server_closes_an_idle_connection() {
        let addr = serve_one(Duration::from_millis(300));
        closed_after(std::net::TcpStream::connect(addr).unwrap());
    }
}
