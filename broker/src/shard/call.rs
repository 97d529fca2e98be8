//! Typed requests between shards: [`Shard::call`] runs a [`ShardRequest`]
//! on the shard that owns what it names and returns the request's own
//! [`ShardRequest::Reply`] type.
//!
//! On the owner, the request runs in place: no boxing, no channel. For
//! another shard, the request travels over the [`Mesh`](super::mesh::Mesh)
//! inside an [`Envelope::Request`], boxed as a type-erased job that carries
//! its reply slot (an `Arc<Mutex<Option<Reply>>>` the caller keeps a
//! typed handle to). The owner runs the job, which fills the slot, and
//! sends [`Envelope::Reply`] back with the call's id; that wakes the caller,
//! which takes the reply out of its slot. So the reply needs no enum and no
//! downcast, and cannot be of the wrong type.
//!
//! Envelopes a shard posts to one peer within one executor turn travel
//! together as a [`Parcel`]: one channel item and at most one wake of the
//! peer's thread for all the requests one socket read brought (or all the
//! replies one parcel's jobs produced). One task per peer sends them, so
//! envelopes arrive in the order posted.
//!
//! A call that cannot reach its owner (no such shard, the mesh closed)
//! answers [`ShardRequest::unreachable`]: each request says what that
//! means for it (a store error, "no connection", nothing).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};

use bolide_proto::ids::ShardId;
use bolide_store::io::Storage;
use bolide_transport::rt::{self, local_channel};

use super::Shard;

/// An operation for the shard that owns a queue (or holds a connection).
pub trait ShardRequest: Send + Sized + 'static {
    /// What the caller gets back.
    type Reply: Send + 'static;
    /// Runs the request on the owner shard.
    fn execute<S: Storage>(self, shard: &Rc<Shard<S>>) -> impl Future<Output = Self::Reply>;
    /// The reply when the owner could not be reached (`why` says why).
    fn unreachable(why: String) -> Self::Reply;
}

/// What travels over the mesh between shards.
pub enum Envelope<S: Storage> {
    /// Run `job` and answer shard `from`'s call `id`.
    Request {
        from: usize,
        id: u64,
        job: Box<dyn Job<S> + Send>,
    },
    /// Call `id` is answered: its reply is in its slot.
    Reply { id: u64 },
}

impl<S: Storage> std::fmt::Debug for Envelope<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Envelope::Request { from, id, .. } => {
                write!(f, "Request {{ from: {from}, id: {id} }}")
            }
            Envelope::Reply { id } => write!(f, "Reply {{ id: {id} }}"),
        }
    }
}

/// What one mesh send carries: the envelopes posted to one peer since its
/// last parcel left, in the order posted.
pub type Parcel<S> = Vec<Envelope<S>>;

/// The envelopes waiting to leave for one peer.
pub(super) struct Outbox<S: Storage> {
    waiting: Parcel<S>,
    /// A task is sending this peer's parcels; posting only adds to them.
    sending: bool,
}

impl<S: Storage> Default for Outbox<S> {
    fn default() -> Self {
        Outbox {
            waiting: Vec::new(),
            sending: false,
        }
    }
}

/// A request sent to another shard, its reply type erased: running it on
/// the owner leaves the reply where the caller will look.
pub trait Job<S: Storage> {
    fn run<'a>(self: Box<Self>, shard: &'a Rc<Shard<S>>) -> Pin<Box<dyn Future<Output = ()> + 'a>>;
}

/// The one slot a remote call's reply is written to, by the owner shard's
/// thread, before the caller is woken.
type Slot<R> = Arc<Mutex<Option<R>>>;

struct Remote<R: ShardRequest> {
    request: R,
    slot: Slot<R::Reply>,
}

impl<S: Storage, R: ShardRequest> Job<S> for Remote<R> {
    fn run<'a>(self: Box<Self>, shard: &'a Rc<Shard<S>>) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
        let Remote { request, slot } = *self;
        Box::pin(async move {
            let reply = request.execute(shard).await;
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(reply);
        })
    }
}

/// Forgets a pending call however it ends (answered, or its caller gave
/// up), so the table holds only calls still waited for.
struct Pending<'a, S: Storage> {
    shard: &'a Shard<S>,
    id: u64,
}

impl<S: Storage> Drop for Pending<'_, S> {
    fn drop(&mut self) {
        self.shard.pending.borrow_mut().remove(&self.id);
    }
}

impl<S: Storage> Shard<S> {
    /// Runs `request` on shard `target` and returns its reply: in place
    /// when that is this shard, otherwise over the mesh.
    pub async fn call<R: ShardRequest>(self: &Rc<Self>, target: ShardId, request: R) -> R::Reply {
        if target == self.id {
            return request.execute(self).await;
        }
        if target.0 >= self.shard_count {
            return R::unreachable(format!("no shard {target}"));
        }
        let id = self.next_call.get();
        self.next_call.set(id + 1);
        let (tx, rx) = local_channel::new_bounded(1);
        self.pending
            .borrow_mut()
            .insert(id, (target.0 as usize, tx));
        let _pending = Pending { shard: self, id };
        let slot: Slot<R::Reply> = Arc::default();
        let job = Box::new(Remote {
            request,
            slot: slot.clone(),
        });
        let from = self.id.0 as usize;
        self.post(target.0 as usize, Envelope::Request { from, id, job });
        rx.recv().await;
        let reply = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        // The owner fills the slot before it answers; an empty one means
        // the answer came without it (the owner went away mid-call).
        reply.unwrap_or_else(|| R::unreachable(format!("shard {target}: reply lost")))
    }

    /// Takes one envelope off the mesh. A reply wakes its caller; a
    /// request comes back as the work that runs it and answers its caller,
    /// for the receiving loop to spawn (the runtime detaches it; a
    /// simulation keeps its handle, to cancel it when the broker dies).
    pub fn receive(self: &Rc<Self>, envelope: Envelope<S>) -> Option<impl Future<Output = ()>> {
        match envelope {
            Envelope::Reply { id } => {
                if let Some((_, tx)) = self.pending.borrow_mut().remove(&id) {
                    let _ = tx.try_send(());
                }
                None
            }
            Envelope::Request { from, id, job } => {
                let shard = self.clone();
                Some(async move {
                    job.run(&shard).await;
                    shard.post(from, Envelope::Reply { id });
                })
            }
        }
    }

    /// Queues `envelope` for peer `to`; the first envelope of a parcel
    /// starts the task that sends it, which yields first: the executor
    /// polls a new task at once, and the yield puts the send behind the
    /// tasks ready now, so whatever they post joins the same parcel.
    fn post(self: &Rc<Self>, to: usize, envelope: Envelope<S>) {
        let start = {
            let mut outboxes = self.outboxes.borrow_mut();
            let outbox = &mut outboxes[to];
            outbox.waiting.push(envelope);
            !std::mem::replace(&mut outbox.sending, true)
        };
        if start {
            rt::spawn_local(self.clone().send_parcels(to)).detach();
        }
    }

    /// Sends peer `to` its waiting envelopes, parcel after parcel, until
    /// none is left. A parcel that does not arrive fails every call still
    /// waiting on that peer (their slots stay empty); its replies had no
    /// one waiting.
    async fn send_parcels(self: Rc<Self>, to: usize) {
        futures_lite::future::yield_now().await;
        loop {
            let parcel = {
                let mut outboxes = self.outboxes.borrow_mut();
                let outbox = &mut outboxes[to];
                if outbox.waiting.is_empty() {
                    outbox.sending = false;
                    return;
                }
                std::mem::take(&mut outbox.waiting)
            };
            if let Err(e) = self.mesh.send(to, parcel).await {
                tracing::warn!(shard = %self.id, peer = to, error = %e, "mesh parcel undelivered");
                // The peer no longer receives: no call waiting on it will
                // be answered, whichever parcel carried it.
                let pending = self.pending.borrow();
                for (_, tx) in pending.values().filter(|(peer, _)| *peer == to) {
                    let _ = tx.try_send(());
                }
            }
        }
    }
}
