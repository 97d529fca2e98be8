//! A master shard's side: the replication listener, one log stream per
//! connected slave, and the [`Tracker`] a sync master's sends wait on.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bolide_store::io::Storage;
use bolide_store::store::Notify;
use bolide_transport::listen::accept_or_stop;
use bolide_transport::rt::local_channel::LocalReceiver;
use bolide_transport::rt::{self, TcpListener, TcpStream};
use futures_lite::io::{split, WriteHalf};

use super::epochs::{agreed_end, Epochs};
use super::link::{send, FrameReader};
use super::wire::{Frame, MAX_CHUNK_BYTES};
use crate::shard::Shard;

/// Longest a new connection may take to say Hello.
const HELLO_WAIT: Duration = Duration::from_secs(10);
/// An idle stream sends a heartbeat this often.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A slave silent this long (it acknowledges every frame) is dropped.
const SLAVE_SILENCE: Duration = Duration::from_secs(10);
/// A slave further behind than this does not count for a sync master
/// (RocketMQ's haMaxGapNotInSync): sends answer SLAVE_NOT_AVAILABLE at
/// once instead of each waiting out the timeout.
pub const MAX_SYNC_GAP_BYTES: u64 = 256 << 20;

/// What a sync master's wait for its slaves came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicated {
    /// A slave holds everything up to the offset waited for.
    Yes,
    /// No slave confirmed it within the timeout (FLUSH_SLAVE_TIMEOUT).
    TimedOut,
    /// No slave is connected, or none is close enough (SLAVE_NOT_AVAILABLE).
    NoSlave,
}

/// The slaves of one master shard and the offsets they confirmed.
#[derive(Debug, Default)]
pub struct Tracker {
    next_id: Cell<u64>,
    acked: RefCell<BTreeMap<u64, u64>>,
    changed: Notify,
}

impl Tracker {
    /// A slave connected, holding the log up to `from`; its id.
    fn connect(&self, from: u64) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.acked.borrow_mut().insert(id, from);
        self.changed.notify_all();
        id
    }

    fn ack(&self, id: u64, end: u64) {
        if let Some(acked) = self.acked.borrow_mut().get_mut(&id) {
            *acked = (*acked).max(end);
        }
        self.changed.notify_all();
    }

    fn disconnect(&self, id: u64) {
        self.acked.borrow_mut().remove(&id);
        self.changed.notify_all();
    }

    /// Slaves connected now.
    pub fn slaves(&self) -> usize {
        self.acked.borrow().len()
    }

    /// The furthest any connected slave confirmed.
    pub fn best(&self) -> Option<u64> {
        self.acked.borrow().values().max().copied()
    }

    /// Waits until a slave holds the log up to `end` (RocketMQ's
    /// GroupTransferService: one confirmation answers every send below
    /// it, so concurrent sends share the round trip).
    pub async fn wait(&self, end: u64, timeout: Duration) -> Replicated {
        match self.best() {
            None => return Replicated::NoSlave,
            Some(best) if end.saturating_sub(best) > MAX_SYNC_GAP_BYTES => {
                return Replicated::NoSlave
            }
            Some(_) => {}
        }
        let reached = async {
            loop {
                let seen = self.changed.generation();
                if self.best().is_some_and(|b| b >= end) {
                    return Replicated::Yes;
                }
                self.changed.wait_past(seen).await;
            }
        };
        let late = async {
            rt::sleep(timeout).await;
            Replicated::TimedOut
        };
        futures_lite::future::or(reached, late).await
    }
}

/// Takes a slave off the tracker when its stream ends, however it ends.
struct Connected<'a> {
    tracker: &'a Tracker,
    id: u64,
}

impl Drop for Connected<'_> {
    fn drop(&mut self) {
        self.tracker.disconnect(self.id);
    }
}

/// Accepts slaves of this shard until `stopped` closes.
pub async fn accept_loop<S: Storage>(
    shard: Rc<Shard<S>>,
    listener: TcpListener,
    stopped: LocalReceiver<()>,
) {
    loop {
        match accept_or_stop(&listener, &stopped).await {
            None => return,
            Some(Ok(stream)) => {
                rt::spawn_local(serve_slave(shard.clone(), stream)).detach();
            }
            Some(Err(e)) => {
                tracing::warn!(shard = shard.id.0, error = %e, "replication accept failed");
                shard.clock.sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_slave<S: Storage>(shard: Rc<Shard<S>>, stream: TcpStream) {
    let peer = stream.peer_addr().map_or("?".to_owned(), |a| a.to_string());
    match stream_to(&shard, stream).await {
        Ok(()) => {}
        Err(e) => {
            tracing::info!(shard = shard.id.0, slave = %peer, "replication stream ended: {e}")
        }
    }
    shard.replica.publish_master(&shard);
}

async fn stream_to<S: Storage>(shard: &Rc<Shard<S>>, stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = split(stream);
    let mut reader = FrameReader::new(read);
    let hello = reader.next_within(HELLO_WAIT).await?;
    let from = match welcome_from(shard, &hello) {
        Ok(from) => from,
        Err(reason) => {
            send(
                &mut write,
                &Frame::Refuse {
                    reason: reason.clone(),
                },
            )
            .await?;
            return Err(io::Error::other(reason));
        }
    };
    let welcome = Frame::Welcome {
        from,
        master_end: shard.store().write_offset().0,
        epochs: shard.replica.epochs.borrow().0.clone(),
    };
    send(&mut write, &welcome).await?;
    tracing::info!(shard = shard.id.0, from, "slave connected");
    let tracker = &shard.replica.tracker;
    let connected = Connected {
        tracker,
        id: tracker.connect(from),
    };
    shard.replica.publish_master(shard);
    let acks = take_acks(shard, &mut reader, connected.id);
    let data = send_log(shard, &mut write, from);
    futures_lite::future::or(acks, data).await
}

/// What a master shard is, as a slave's Hello is judged against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterView<'a> {
    pub broker_name: &'a str,
    pub shard: u16,
    pub shard_count: u16,
    pub log_min: u64,
    pub log_end: u64,
    pub epochs: &'a Epochs,
}

fn welcome_from<S: Storage>(shard: &Shard<S>, hello: &Frame) -> Result<u64, String> {
    let store = shard.store();
    let epochs = shard.replica.epochs.borrow();
    let view = MasterView {
        broker_name: &shard.shared.config.broker.broker_name,
        shard: shard.id.0,
        shard_count: shard.shard_count,
        log_min: store.min_log_offset().0,
        log_end: store.write_offset().0,
        epochs: &epochs,
    };
    stream_start(&view, hello)
}

/// Where the stream to the slave that said `hello` starts, or why it is
/// refused.
pub fn stream_start(master: &MasterView<'_>, hello: &Frame) -> Result<u64, String> {
    let Frame::Hello {
        broker_name,
        shard,
        shard_count,
        log_end,
        epochs,
    } = hello
    else {
        return Err("the first frame must be Hello".into());
    };
    if broker_name != master.broker_name {
        return Err(format!(
            "this is a master of broker group {:?}, not {broker_name:?}",
            master.broker_name
        ));
    }
    if (*shard, *shard_count) != (master.shard, master.shard_count) {
        return Err(format!(
            "slave shard {shard} of {shard_count} reached master shard {} of {}: \
             a slave must run the master's shard count (broker.shards)",
            master.shard, master.shard_count
        ));
    }
    let slave = Epochs(epochs.clone());
    let from = agreed_end(master.epochs, master.log_end, &slave, *log_end);
    if from < master.log_min {
        return Err(format!(
            "the slave needs the log from offset {from}, but this master keeps it from \
             {} only (retention): copy the master's data directory to the slave while \
             both are stopped, then start the slave",
            master.log_min
        ));
    }
    Ok(from)
}

/// Records each acknowledgement until the slave goes silent or away.
async fn take_acks<S: Storage, R: futures_lite::AsyncRead + Unpin>(
    shard: &Shard<S>,
    reader: &mut FrameReader<R>,
    id: u64,
) -> io::Result<()> {
    loop {
        match reader.next_within(SLAVE_SILENCE).await? {
            Frame::Ack { end } => {
                shard.replica.tracker.ack(id, end);
                shard.replica.publish_master(shard);
            }
            other => {
                return Err(io::Error::other(format!(
                    "unexpected frame from a slave: {other:?}"
                )))
            }
        }
    }
}

/// Streams the log from `from`, as it grows; a heartbeat when idle.
async fn send_log<S: Storage>(
    shard: &Shard<S>,
    write: &mut WriteHalf<TcpStream>,
    from: u64,
) -> io::Result<()> {
    let mut sent = from;
    loop {
        let store = shard.store();
        if store.is_closed() {
            return Err(io::Error::other("the broker is stopping"));
        }
        let bytes = store
            .read_raw(sent, MAX_CHUNK_BYTES)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        if bytes.is_empty() {
            if store.write_offset().0 > sent {
                // Never spin on bytes the store cannot hand out.
                return Err(io::Error::other(format!("log bytes at {sent} unreadable")));
            }
            let grown = store.wait_write_past(sent);
            let idle = shard.clock.sleep(HEARTBEAT);
            futures_lite::future::or(grown, async {
                idle.await;
            })
            .await;
            if store.write_offset().0 > sent {
                continue;
            }
        }
        let at = sent;
        sent += bytes.len() as u64;
        let master_end = store.write_offset().0;
        send(
            write,
            &Frame::Data {
                at,
                master_end,
                bytes,
            },
        )
        .await?;
    }
}

impl super::ShardReplica {
    /// Publishes a master shard's replication state for admin tools.
    pub fn publish_master<S: Storage>(&self, shard: &Shard<S>) {
        let status = shard.shared.replication.shard(shard.id.0 as usize);
        let end = shard.store().write_offset().0;
        // With no slave there is no copy to be behind: connections (0)
        // says so, and lag stays 0 rather than the whole log.
        let best = self.tracker.best().unwrap_or(end);
        status.master_end.store(end, Ordering::Relaxed);
        status.replica_end.store(best, Ordering::Relaxed);
        status
            .connections
            .store(self.tracker.slaves() as u64, Ordering::Relaxed);
        if best >= end {
            let now = shard.clock.now_ms().max(0) as u64;
            status.caught_up_ms.store(now, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_is_judged_against_the_master() {
        let epochs = Epochs(vec![super::super::epochs::Epoch { epoch: 5, start: 0 }]);
        let master = MasterView {
            broker_name: "broker-a",
            shard: 1,
            shard_count: 2,
            log_min: 0,
            log_end: 9_000,
            epochs: &epochs,
        };
        let hello = |name: &str, shard, count, end| Frame::Hello {
            broker_name: name.into(),
            shard,
            shard_count: count,
            log_end: end,
            epochs: epochs.0.clone(),
        };
        assert_eq!(
            stream_start(&master, &hello("broker-a", 1, 2, 4_000)),
            Ok(4_000)
        );
        assert_eq!(
            stream_start(&master, &hello("broker-a", 1, 2, 12_000)),
            Ok(9_000)
        );
        let refusals = [
            (hello("broker-b", 1, 2, 0), "broker group"),
            (hello("broker-a", 1, 4, 0), "shard count"),
            (hello("broker-a", 0, 2, 0), "shard count"),
            (Frame::Ack { end: 0 }, "Hello"),
        ];
        for (frame, why) in refusals {
            let err = stream_start(&master, &frame).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
        let retained = MasterView {
            log_min: 1 << 30,
            log_end: 3 << 30,
            ..master
        };
        let err = stream_start(&retained, &hello("broker-a", 1, 2, 0)).unwrap_err();
        assert!(err.contains("retention"), "{err}");
    }

    #[test]
    fn one_confirmation_answers_every_wait_below_it() {
        rt::run_on_new_executor(|| async {
            let t = Rc::new(Tracker::default());
            let short = Duration::from_millis(50);
            assert_eq!(t.wait(10, short).await, Replicated::NoSlave);
            let id = t.connect(0);
            let waits: Vec<_> = [100, 200, 300]
                .into_iter()
                .map(|end| {
                    let t = t.clone();
                    rt::spawn_local(async move { t.wait(end, Duration::from_secs(20)).await })
                })
                .collect();
            rt::sleep(Duration::from_millis(5)).await;
            t.ack(id, 250);
            let mut got = Vec::new();
            let late = t.wait(300, short).await;
            t.ack(id, 300);
            for w in waits {
                got.push(w.await);
            }
            assert_eq!(got, [Replicated::Yes; 3]);
            assert_eq!(late, Replicated::TimedOut);
            assert_eq!(
                t.wait(300 + MAX_SYNC_GAP_BYTES + 1, short).await,
                Replicated::NoSlave
            );
            t.disconnect(id);
            assert_eq!(t.best(), None);
        });
    }
}
