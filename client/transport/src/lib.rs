//! # bolide-transport — what Bolide's servers and its client share on the wire
//!
//! The network edge under the NameServer, the broker and the Rust client,
//! so that no server depends on the client library (the dependency graph
//! runs proto ← transport ← {namesrv, broker, client}):
//!
//! * [`rt`] — the runtime seam: tasks, real-time waits, local channels,
//!   sockets and executors, the one module of the servers that names the
//!   executor (glommio).
//! * [`remoting`] — a duplex RocketMQ remoting connection:
//!   frames in and out, requests matched to responses by `opaque`, inbound
//!   requests handed to a [`remoting::Handler`], and a server-side idle
//!   timeout.
//! * [`listen`] — how a server takes its port: a probe that refuses an
//!   address another process listens on, then a SO_REUSEPORT listener.
//! * [`signal`], [`logging`] — process plumbing of the server binaries:
//!   Ctrl-C / SIGTERM handling and the stderr log subscriber; [`cli`] —
//!   `host:port` arguments of every binary resolved.
//!
//! Invariants:
//! * Protocol logic stays out: this crate moves frames (`bolide-proto`
//!   encodes and decodes them) and knows no request code beyond answering
//!   a failed encode with SYSTEM_ERROR.
//! * glommio is named only in [`rt`]; a [`remoting::Connection`] and a
//!   listener belong to the executor that created them (`Rc`, not `Send`).
//! * Everything a peer controls is bounded per connection: inbound requests
//!   in flight ([`remoting::MAX_INFLIGHT_REQUESTS`]), frame size (the caller's
//!   cap; a larger frame closes the connection), pending outbound bytes
//!   (senders wait), and, on a server, time without a complete frame.

pub mod cli;
pub mod listen;
pub mod logging;
pub mod remoting;
pub mod rt;
pub mod signal;
