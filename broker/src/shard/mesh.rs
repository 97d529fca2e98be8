//! The seam between shards: what a shard needs from the channel that
//! carries its requests to the other shards of the broker, and the
//! in-memory implementation that joins shards running on one thread.
//!
//! A [`Mesh`] is one shard's sending end: it knows its own index, how many
//! shards there are, and sends an item to any of them. The receiving end
//! is whatever the implementation hands out (one stream per peer for the
//! runtime's threads, one [`LocalReceiver`] per shard here); whoever runs
//! the shard drains it into [`super::Shard::receive`].
//!
//! Implementations:
//! * the runtime's (`crate::runtime`): the executor's channel mesh between
//!   the shard threads, bounded at [`MESH_CHANNEL_CAPACITY`] per pair;
//! * [`local_mesh`]: bounded local channels between shards that share one
//!   executor — the simulation's several shards, and tests.
//!
//! Invariant: items from one shard to another arrive in the order sent,
//! and a sender waits (never drops) while the channel is full.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use bolide_transport::rt::local_channel::{self, LocalReceiver, LocalSender};

/// Items waiting in one mesh channel before senders wait.
pub const MESH_CHANNEL_CAPACITY: usize = 1024;

/// Why an item did not reach its shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable(pub String);

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A send in progress (boxed: the mesh is a trait object in the shard; only
/// requests that cross shards pay for it).
pub type MeshSend<'a> = Pin<Box<dyn Future<Output = Result<(), Unreachable>> + 'a>>;

/// One shard's sending end of the mesh.
pub trait Mesh<T>: 'static {
    /// This shard's index, `0..peer_count()`.
    fn peer_id(&self) -> usize;
    /// How many shards the mesh joins (this one included).
    fn peer_count(&self) -> usize;
    /// Sends `item` to shard `to`, waiting while its channel is full.
    fn send(&self, to: usize, item: T) -> MeshSend<'_>;
}

/// One shard's end of an in-memory mesh (see [`local_mesh`]).
pub struct LocalMesh<T> {
    id: usize,
    peers: Rc<Vec<LocalSender<T>>>,
}

impl<T> fmt::Debug for LocalMesh<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalMesh")
            .field("id", &self.id)
            .field("peers", &self.peers.len())
            .finish()
    }
}

/// An in-memory mesh of `peers` shards on one executor: for each shard its
/// sending end and the receiver of everything sent to it (by any shard, in
/// the order sent). A channel closes once every end is dropped.
pub fn local_mesh<T>(peers: usize, capacity: usize) -> Vec<(LocalMesh<T>, LocalReceiver<T>)> {
    assert!(
        peers > 0 && capacity > 0,
        "{peers} peers of capacity {capacity}"
    );
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..peers)
        .map(|_| local_channel::new_bounded(capacity))
        .unzip();
    let senders = Rc::new(senders);
    receivers
        .into_iter()
        .enumerate()
        .map(|(id, rx)| {
            let end = LocalMesh {
                id,
                peers: senders.clone(),
            };
            (end, rx)
        })
        .collect()
}

impl<T: 'static> Mesh<T> for LocalMesh<T> {
    fn peer_id(&self) -> usize {
        self.id
    }

    fn peer_count(&self) -> usize {
        self.peers.len()
    }

    fn send(&self, to: usize, item: T) -> MeshSend<'_> {
        Box::pin(async move {
            let Some(peer) = self.peers.get(to) else {
                return Err(Unreachable(format!("no shard {to}")));
            };
            peer.send(item)
                .await
                .map_err(|_| Unreachable(format!("shard {to} stopped receiving")))
        })
    }
}

#[cfg(test)]
mod tests {
    use bolide_transport::rt;

    use super::*;

    #[test]
    fn items_reach_their_shard_in_order() {
        rt::run_on_new_executor(|| async {
            let mut ends = local_mesh::<u32>(3, 4);
            let (two, rx2) = ends.pop().unwrap();
            let (one, rx1) = ends.pop().unwrap();
            assert_eq!((one.peer_id(), two.peer_id(), one.peer_count()), (1, 2, 3));
            for i in 0..3 {
                one.send(2, i).await.unwrap();
            }
            two.send(1, 7).await.unwrap();
            assert_eq!(rx1.recv().await, Some(7));
            for i in 0..3 {
                assert_eq!(rx2.recv().await, Some(i));
            }
            let err = one.send(3, 0).await.unwrap_err();
            assert_eq!(err, Unreachable("no shard 3".into()));
            // Shard 0's receiver is gone: sends to it fail, never hang.
            drop(ends);
            assert!(one.send(0, 1).await.is_err());
        });
    }
}
