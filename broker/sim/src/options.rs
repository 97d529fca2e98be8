//! What a run is asked to do ([`Options`]) and what it did ([`Summary`]).

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// Steps with faults and new messages, before the run heals.
    pub steps: u64,
    pub producers: usize,
    pub consumers: usize,
    pub queues: u32,
    /// Prints every fault and restart to stderr.
    pub trace: bool,
}

impl Options {
    /// The shape CI runs, for `seed`.
    pub fn for_seed(seed: u64) -> Self {
        Options {
            seed,
            steps: 3_000,
            producers: 3,
            consumers: 2,
            queues: 4,
            trace: false,
        }
    }
}

/// What a run did; equal summaries for equal seeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub seed: u64,
    pub mode: String,
    pub steps: u64,
    pub acked: usize,
    pub deliveries: u64,
    pub redeliveries: u64,
    pub forgiven: u64,
    pub skipped: u64,
    /// Send-backs acknowledged, and messages read from the DLQ.
    pub sent_back: usize,
    pub dead: u64,
    pub kills: u32,
    pub power_losses: u32,
    pub disk_full_windows: u32,
    pub resets: u32,
    pub consumer_restarts: u32,
    /// Starts refused by a full disk.
    pub failed_starts: u32,
    /// Device errors injected (failing writes or syncs).
    pub io_errors: u32,
    /// Restarts of a broker whose store a device error stopped.
    pub operator_restarts: u32,
    /// Requests one shard ran for another (they crossed the mesh).
    pub crossed: u64,
    /// The most disk writes in flight at once (they complete out of order).
    pub writes_in_flight: u64,
    /// Everything delivered and injected, folded (FNV-1a).
    pub digest: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} {}: {} steps, {} acked, {} delivered ({} again), {} lost and {} skipped as the mode allows; \
             {} sent back ({} to the DLQ); \
             {} kills, {} power losses, {} disk-full ({} starts refused), {} I/O errors ({} restarts), \
             {} resets, {} consumer restarts; {} crossed shards; {} writes in flight at most; \
             digest {:016x}",
            self.seed,
            self.mode,
            self.steps,
            self.acked,
            self.deliveries,
            self.redeliveries,
            self.forgiven,
            self.skipped,
            self.sent_back,
            self.dead,
            self.kills,
            self.power_losses,
            self.disk_full_windows,
            self.failed_starts,
            self.io_errors,
            self.operator_restarts,
            self.resets,
            self.consumer_restarts,
            self.crossed,
            self.writes_in_flight,
            self.digest
        )
    }
}
