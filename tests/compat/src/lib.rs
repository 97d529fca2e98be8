//! bolide-compat: proves that RocketMQ clients nobody on this project wrote
//! work, unmodified, against the real `bolide-broker` binary.
//!
//! * [`broker`] — starts `bolide-broker --standalone` on free loopback ports
//!   with a temporary data directory; or a `bolide-namesrv` with a
//!   SYNC_MASTER and its slave, for the failover scenario.
//! * [`clients`] — the third-party clients, installed from the package
//!   registries on first use (`provision.sh`) and driven as subprocesses
//!   that print JSON lines: the Apache RocketMQ C++ client through
//!   `rocketmq-client-python` 2.0.0 (`python/client.py`), and
//!   `rocketmq-client-rust` 1.0.0 (`rust-client/`, a separate cargo project
//!   kept out of this workspace for its large dependency tree).
//! * [`scenarios`] — each scenario once, run for every client by
//!   `tests/python.rs` and `tests/rust_client.rs`.
//! * [`admin`] — `bolide-admin`, to check what the broker reports about
//!   the clients' messages and groups.
//! * [`proc`] — subprocesses with deadlines whose output is printed when a
//!   test fails.
//!
//! Invariant: a client that cannot be installed or started fails the test;
//! nothing is skipped silently.

pub mod admin;
pub mod broker;
pub mod clients;
pub mod proc;
pub mod scenarios;
