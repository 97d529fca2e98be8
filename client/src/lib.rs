//! # bolide-client — Bolide's Rust client
//!
//! * [`remoting`] — the duplex remoting connection over glommio, re-exported
//!   from `bolide-transport` (where the servers get it too, without
//!   depending on this crate).
//! * [`error`] — [`error::ClientError`], the client layer's error type.
//! * [`route`] — [`route::MessageQueue`] and the publish / subscribe queues
//!   of a topic route (perm bits, master addresses, `orderTopicConf`).
//! * [`rebalance`] — pure queue-allocation strategies for consumer groups
//!   (averagely, by circle, consistent hash).
//! * [`fault`] — latency-based broker fault avoidance for sends.
//! * [`selector`] — round-robin publish-queue selection that avoids faulty
//!   and just-used brokers; by-key selection for ordered sends.
//! * [`hash`] — the stable (FNV-1a + fmix64) hash behind consistent-hash
//!   rebalance and by-key queue selection.
//! * [`nameserver`] — [`nameserver::NameServerClient`]: topic routes from a
//!   list of NameServers, with failover.
//! * [`runtime`] — [`runtime::ClientRuntime`]: the client's own glommio
//!   thread, so blocking code and other async runtimes can use the client;
//!   [`runtime::Pending`] results that are awaitable and blockable.
//! * [`message`] — user-facing [`message::Message`], [`message::SendResult`]
//!   and received [`message::MessageExt`].
//! * [`producer`] — [`producer::Producer`] (async, on a glommio executor)
//!   and [`producer::BlockingProducer`] (any thread): routes, queue
//!   selection with fault avoidance, retries, batches, oneway, heartbeats.
//! * [`admin`] — [`admin::Admin`]: topic, cluster, offset and message
//!   lookups for the `bolide-admin` CLI (`src/bin/admin.rs`).
//! * [`consumer`] — push and lite pull consumers: rebalance, long-polling
//!   pulls, process queues, offset commits, orderly locks; executor-local
//!   cores and a facade over [`runtime::ClientRuntime`].

pub mod admin;
pub mod consumer;
pub mod error;
pub mod fault;
pub mod hash;
pub mod message;
pub mod nameserver;
pub mod producer;
pub mod rebalance;
pub mod route;
pub mod runtime;
pub mod selector;

/// Re-exported so client code keeps one import path; it lives in
/// `bolide-transport`, which the servers use without this crate.
pub use bolide_transport::remoting;
