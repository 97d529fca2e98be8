//! # bolide-sim — the whole system in one seeded run
//!
//! The way TigerBeetle and FoundationDB test: the NameServer core, a broker
//! of two shards (the real request handlers over the real store engine,
//! each shard on its own fault-injecting in-memory disk, requests for the
//! other shard's queues crossing the in-memory mesh), producers and
//! consumers talking the remoting protocol over a simulated network, all
//! driven by one [`SplitMix`](bolide_store::io::mem::SplitMix) seed on one
//! manual clock.
//! A failing seed replays exactly from its number:
//! `cargo run -p bolide-sim -- --seed N`.
//!
//! * [`world`] — the run: time, deliveries, faults, healing.
//! * [`broker`] — the broker's shards, their mesh and their tasks.
//! * [`net`] — TCP-like connections: per-connection order, latency,
//!   resets.
//! * [`clients`] — producer and consumer state machines.
//! * [`retry`] — send-backs, the group's retry topic and its DLQ.
//! * [`ledger`] — the invariants every step is checked against.
//! * [`options`] — what a run is asked to do and what it did.
//!
//! What a run does not cover yet: replication, the retry topic's route,
//! and the control plane's persistence (the broker's config files are real
//! files, written by its persister thread, and a crash keeps them whole).

pub mod broker;
pub mod clients;
pub mod ledger;
pub mod net;
pub mod options;
pub mod retry;
pub mod world;

pub use options::{Options, Summary};

/// Runs one seed on a fresh single-threaded executor.
pub fn run(opts: Options) -> Result<Summary, String> {
    glommio::LocalExecutorBuilder::default()
        .name("bolide-sim")
        .spawn(move || async move { world::World::new(opts)?.run().await })
        .map_err(|e| format!("cannot start the executor: {e}"))?
        .join()
        .map_err(|e| format!("the run panicked: {e:?}"))?
}
