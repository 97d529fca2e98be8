//! A slave shard's side: connect to the master's shard, agree where the
//! logs part, and append what the master streams, acknowledging as it goes.
//! Reconnects with backoff whenever the stream breaks.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bolide_store::io::Storage;
use bolide_transport::rt::TcpStream;
use futures_lite::io::{split, WriteHalf};

use super::epochs::Epochs;
use super::link::{send, within, FrameReader};
use super::master::HEARTBEAT;
use super::wire::{Frame, MAX_CHUNK_BYTES};
use crate::shard::Shard;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest the master may take to answer Hello.
const WELCOME_WAIT: Duration = Duration::from_secs(10);
/// A master silent this long (it heartbeats every second) is given up on.
const MASTER_SILENCE: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Follows the master for this shard for as long as the executor runs.
pub async fn run<S: Storage>(shard: Rc<Shard<S>>) {
    let mut backoff = BACKOFF_MIN;
    let mut last_error = String::new();
    loop {
        let outcome = follow_once(&shard).await;
        shard.replica.publish_slave(&shard, None, false);
        match outcome {
            Ok(streamed) if streamed => backoff = BACKOFF_MIN,
            Ok(_) => {}
            Err(e) => {
                let e = e.to_string();
                // The same failure every few seconds is one log line.
                if e != last_error {
                    tracing::warn!(shard = shard.id.0, "replication from the master: {e}");
                    last_error = e;
                }
            }
        }
        shard.clock.sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// The master's replication address for this shard, once known.
fn master_addr<S: Storage>(shard: &Shard<S>) -> Option<SocketAddr> {
    let configured = &shard.shared.config.replication.master_addr;
    let base = match configured.is_empty() {
        false => configured.clone(),
        true => shard.shared.replication.master().ha_addr,
    };
    let base: SocketAddr = base.parse().ok()?;
    let port = base.port().checked_add(shard.id.0)?;
    Some(SocketAddr::new(base.ip(), port))
}

/// One connection's life; true if it streamed anything.
async fn follow_once<S: Storage>(shard: &Rc<Shard<S>>) -> io::Result<bool> {
    let Some(addr) = master_addr(shard) else {
        return Ok(false);
    };
    let stream = TcpStream::connect_timeout(addr, CONNECT_TIMEOUT).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = split(stream);
    let mut reader = FrameReader::new(read);
    let hello = Frame::Hello {
        broker_name: shard.shared.config.broker.broker_name.clone(),
        shard: shard.id.0,
        shard_count: shard.shard_count,
        log_end: shard.store().write_offset().0,
        epochs: shard.replica.epochs.borrow().0.clone(),
    };
    send(&mut write, &hello).await?;
    let (from, epochs) = match reader.next_within(WELCOME_WAIT).await? {
        Frame::Welcome { from, epochs, .. } => (from, Epochs(epochs)),
        Frame::Refuse { reason } => return Err(io::Error::other(format!("refused: {reason}"))),
        other => return Err(io::Error::other(format!("unexpected {other:?}"))),
    };
    shard.replica.agree(shard, from, epochs).await?;
    tracing::info!(shard = shard.id.0, master = %addr, from, "following the master");
    shard.replica.publish_slave(shard, None, true);
    receive(shard, &mut reader, &mut write, from).await?;
    Ok(true)
}

/// Appends what the master streams; acknowledges each frame.
async fn receive<S: Storage, R: futures_lite::AsyncRead + Unpin>(
    shard: &Shard<S>,
    reader: &mut FrameReader<R>,
    write: &mut WriteHalf<TcpStream>,
    from: u64,
) -> io::Result<()> {
    // Bytes received but not yet appended: the start of a record the
    // next frame completes. Bounded: one record plus one chunk.
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_at = from;
    let limit = shard.store().config().max_message_bytes + MAX_CHUNK_BYTES;
    loop {
        let frame = reader.next_within(MASTER_SILENCE).await?;
        let Frame::Data {
            at,
            master_end,
            bytes,
        } = frame
        else {
            return Err(io::Error::other(format!("unexpected {frame:?}")));
        };
        if at != pending_at + pending.len() as u64 {
            return Err(io::Error::other(format!(
                "the master sent bytes at {at}, expected {}",
                pending_at + pending.len() as u64
            )));
        }
        pending.extend_from_slice(&bytes);
        pending_at = append(shard, &mut pending, pending_at).await?;
        if pending.len() > limit {
            return Err(io::Error::other("a record larger than the largest message"));
        }
        let end = shard.store().write_offset().0;
        within(HEARTBEAT * 5, send(write, &Frame::Ack { end })).await?;
        shard.replica.publish_slave(shard, Some(master_end), true);
    }
}

/// Appends the whole records at the front of `pending` (at `at`); the
/// offset of what is left.
async fn append<S: Storage>(
    shard: &Shard<S>,
    pending: &mut Vec<u8>,
    mut at: u64,
) -> io::Result<u64> {
    while !pending.is_empty() {
        let took = shard
            .store()
            .append_raw(at, pending)
            .await
            .map_err(|e| io::Error::other(format!("appending the master's log: {e}")))?;
        if took.consumed_bytes == 0 {
            break;
        }
        pending.drain(..took.consumed_bytes as usize);
        at += took.consumed_bytes;
    }
    Ok(at)
}

impl super::ShardReplica {
    /// Publishes a slave shard's replication state for admin tools.
    pub fn publish_slave<S: Storage>(&self, shard: &Shard<S>, master_end: Option<u64>, up: bool) {
        let status = shard.shared.replication.shard(shard.id.0 as usize);
        let end = shard.store().write_offset().0;
        if let Some(m) = master_end {
            status.master_end.store(m, Ordering::Relaxed);
        }
        status.replica_end.store(end, Ordering::Relaxed);
        status.connections.store(up as u64, Ordering::Relaxed);
        if end >= status.master_end.load(Ordering::Relaxed) {
            let now = shard.clock.now_ms().max(0) as u64;
            status.caught_up_ms.store(now, Ordering::Relaxed);
        }
    }
}
