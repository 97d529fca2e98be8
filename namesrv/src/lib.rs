//! # bolide-namesrv — the route center
//!
//! Brokers register here every 30 s with their topic list; clients ask for a
//! topic's route (which brokers, how many queues, what permission). A broker
//! silent for 120 s, or whose registering connection closes, leaves every
//! route. NameServers keep everything in memory and never talk to each
//! other: a broker registers with each of them.
//!
//! * [`routes`] — the route table (pure state, time passed in).
//! * [`kv`] — namespaced KV config.
//! * [`core`] — request → response, as a pure function of that state.
//! * [`server`] — the listener around it; runs as the
//!   `bolide-namesrv` binary or embedded in another process.
//! * [`config`] — `namesrv.toml`.
//!
//! Connections, listeners, signals and logging come from `bolide-transport`,
//! shared with the broker and the client, and so does the executor
//! (`bolide_transport::rt`).

pub mod config;
pub mod core;
pub mod kv;
pub mod routes;
pub mod server;
