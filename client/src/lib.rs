//! # bolide-client — Bolide's Rust client, and the transport its servers share
//!
//! * [`remoting`] — a duplex remoting connection over glommio, used by the
//!   NameServer and broker to serve requests and by clients to send them.
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

pub mod error;
pub mod fault;
pub mod hash;
pub mod nameserver;
pub mod rebalance;
pub mod remoting;
pub mod route;
pub mod selector;
