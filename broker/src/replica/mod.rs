//! Master-slave replication of every shard's commit log.
//!
//! Shard k of a slave connects to shard k of its master (the master's
//! replication port + k), says where its log ends and which epochs it holds,
//! and the master streams raw log bytes from the point where the two logs
//! agree; the slave appends them unchanged (`ShardStore::append_raw`, so
//! its physical offsets equal the master's), rebuilds its consume queues and
//! key index from them, and acknowledges its new log end. A sync master
//! answers a send once an acknowledgement covers it.
//!
//! * `status`: what admin tools and the registrar see.

pub mod status;
