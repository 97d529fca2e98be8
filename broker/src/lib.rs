//! # bolide-broker — the broker
//!
//! Thread-per-core: each shard (one executor per core) owns a set of
//! queues with its own store (`bolide-store`); [`router::shard_for`] says
//! which. A request arrives on whichever shard accepted the connection;
//! [`shard::Shard::call`] runs a typed request ([`shard::ops`]) on the
//! owning shard — in place, or over the bounded mesh between shards
//! ([`shard::mesh`]) — and returns the reply type that request names.
//!
//! Follow a message: [`runtime`] accepts the connection → [`handler`]
//! dispatches by request code → [`handler::send`] validates and builds the
//! record → [`shard`] appends it on the owner shard's store, which wakes
//! parked pulls ([`longpoll`]) → [`handler::pull`] serves the stored bytes.
//!
//! Plain state machines, tested without sockets or disks:
//! * [`config`] — `broker.toml` with every key documented in `deploy/`.
//! * [`router`] — which shard owns a (topic, queue).
//! * [`topics`] — topic configs, validation, auto-creation, retry/DLQ topics.
//! * [`groups`] — consumer and producer groups from heartbeats.
//! * [`offsets`] — broker-stored consumer offsets.
//! * [`subscription_groups`] — consumer group settings (retries, consume enable).
//! * [`locks`] — queue locks of orderly consumers.
//! * [`filter`] — subscription filters: tags matched against consume-queue
//!   units, SQL92 expressions evaluated on message properties.
//! * [`delay`] — delay levels: the schedule topic and its transformations.
//! * [`longpoll`] — parked pulls, woken by arrivals or deadlines.
//! * [`transaction`] — half messages, their op log and the check-back
//!   decisions (`transaction::{ops, check}` are pure).
//! * [`clock`] — the one clock (wall and monotonic readings), real or
//!   driven by hand; the store stamps records with the same one.
//!
//! Runtime: [`runtime`] (threads, listeners, shutdown), [`datadir`] (one
//! process per data directory), [`shard`] (typed cross-shard requests,
//! owner-side execution; generic over the store's storage and the mesh, so
//! `tests/in_memory.rs` and the simulation run several shards on one thread
//! over the in-memory disk and mesh), [`shared`] (state every shard shares, persisted
//! under `<data>/config/`), [`register`] (NameServer registration),
//! [`schedule`] (delivers delayed messages when due),
//! [`handler`] (one module per family of request codes), [`replica`]
//! (master-slave replication: each shard streams its log to the same
//! shard of every slave; a sync master answers once a slave holds a send).
//! The executor (glommio) is named only in [`runtime`], which starts the
//! shard threads; every other module spawns, waits and opens sockets
//! through the transport's runtime seam ([`bolide_transport::rt`]) and
//! sleeps for protocol time on the [`clock`].

pub mod clock;
pub mod config;
pub mod datadir;
pub mod delay;
pub mod filter;
pub mod groups;
pub mod handler;
pub mod locks;
pub mod longpoll;
pub mod offsets;
pub mod register;
pub mod replica;
pub mod router;
pub mod runtime;
pub mod schedule;
pub mod shard;
pub mod shared;
pub mod subscription_groups;
pub mod topics;
pub mod transaction;
