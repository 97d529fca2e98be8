//! # bolide-broker — the broker
//!
//! Thread-per-core: each shard (one glommio executor per core) owns a set of
//! queues with its own store (`bolide-store`); [`router::shard_for`] says
//! which. This crate holds the broker's logic as plain state machines, each
//! tested without sockets or disks:
//!
//! * [`config`] — `broker.toml` with every key documented in `deploy/`.
//! * [`router`] — which shard owns a (topic, queue).
//! * [`topics`] — topic configs, validation, auto-creation, retry/DLQ topics.
//! * [`groups`] — consumer and producer groups from heartbeats.
//! * [`offsets`] — broker-stored consumer offsets.
//! * [`filter`] — tag subscriptions matched against consume-queue units.
//! * [`longpoll`] — parked pulls, woken by arrivals or deadlines.
//!
//! The network runtime (listeners, cross-core channels, handlers) that
//! drives these is the next step (issue 3); see ARCHITECTURE.md.

pub mod config;
pub mod filter;
pub mod groups;
pub mod longpoll;
pub mod offsets;
pub mod router;
pub mod topics;
