//! What replication looks like from outside, shared by every shard of a
//! broker: read by the admin codes and the registrar, written by each
//! shard's replication tasks (plain atomics and short locks; no shard waits
//! on another).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// One shard's replication, as a master or a slave sees it.
#[derive(Debug, Default)]
pub struct ShardStatus {
    /// Master: the shard's log end. Slave: the master's log end as last
    /// heard from it.
    pub master_end: AtomicU64,
    /// Master: the largest offset a slave confirmed. Slave: its own log end.
    pub replica_end: AtomicU64,
    /// Master: slave connections now. Slave: 1 while connected to the master.
    pub connections: AtomicU64,
    /// Wall-clock ms when `replica_end` last reached `master_end`
    /// (lag in time is now minus this while behind).
    pub caught_up_ms: AtomicU64,
}

impl ShardStatus {
    /// Bytes the replica is behind.
    pub fn lag_bytes(&self) -> u64 {
        let master = self.master_end.load(Ordering::Relaxed);
        master.saturating_sub(self.replica_end.load(Ordering::Relaxed))
    }

    /// How long the replica has been behind, ms (0 when caught up).
    pub fn lag_ms(&self, now_ms: u64) -> u64 {
        match self.lag_bytes() {
            0 => 0,
            _ => now_ms.saturating_sub(self.caught_up_ms.load(Ordering::Relaxed)),
        }
    }
}

/// Every shard's status plus, on a slave, where its master is.
#[derive(Debug)]
pub struct ReplicationStatus {
    shards: Vec<ShardStatus>,
    /// Slave: the master's remoting address (`ip:port`) and replication
    /// address, as the NameServer named them at registration.
    master: Mutex<MasterAddrs>,
}

/// Where a slave's master is (empty strings until known).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MasterAddrs {
    pub broker_addr: String,
    pub ha_addr: String,
}

impl ReplicationStatus {
    pub fn new(shards: usize) -> Self {
        ReplicationStatus {
            shards: (0..shards).map(|_| ShardStatus::default()).collect(),
            master: Mutex::new(MasterAddrs::default()),
        }
    }

    pub fn shard(&self, k: usize) -> &ShardStatus {
        &self.shards[k]
    }

    pub fn shards(&self) -> &[ShardStatus] {
        &self.shards
    }

    fn master_lock(&self) -> MutexGuard<'_, MasterAddrs> {
        self.master.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the master is, as last learned.
    pub fn master(&self) -> MasterAddrs {
        self.master_lock().clone()
    }

    /// Records the master's addresses from a registration answer.
    pub fn set_master(&self, addrs: MasterAddrs) {
        *self.master_lock() = addrs;
    }

    /// Sum of every shard's lag, bytes.
    pub fn lag_bytes(&self) -> u64 {
        self.shards.iter().map(ShardStatus::lag_bytes).sum()
    }

    /// The longest any shard has been behind, ms.
    pub fn lag_ms(&self, now_ms: u64) -> u64 {
        let lags = self.shards.iter().map(|s| s.lag_ms(now_ms));
        lags.max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_measured_from_the_master_end() {
        let status = ReplicationStatus::new(2);
        let s = status.shard(1);
        s.master_end.store(1000, Ordering::Relaxed);
        s.replica_end.store(400, Ordering::Relaxed);
        s.caught_up_ms.store(5_000, Ordering::Relaxed);
        assert_eq!(status.lag_bytes(), 600);
        assert_eq!(status.lag_ms(5_250), 250);
        s.replica_end.store(1000, Ordering::Relaxed);
        assert_eq!(status.lag_ms(9_000), 0, "caught up is no lag");
    }
}
