//! One seeded run: the NameServer core, a broker of [`SHARDS`] shards (each
//! on its own fault-injecting in-memory disk, see [`crate::broker`]), the
//! clients and the network, all on a [`ManualClock`] that only the run
//! moves.
//!
//! Every step moves time a little, delivers the frames now due (the
//! broker answers each request in a task of its own, through the real
//! [`dispatch`], exactly as behind a socket), lets the executor run what
//! became ready, maybe injects a fault, and lets one client act. Nothing
//! reads the wall clock or sleeps on a real timer, and the executor is
//! single-threaded, so a seed replays exactly: [`Summary::digest`] folds
//! every delivered frame and every fault.
//!
//! Faults: process crash (`kill -9`: the page cache and the async mode's
//! tail ring survive), power loss (un-synced writes lost or torn sector by
//! sector), a full disk for a while, device errors on one shard's disk,
//! connection resets, consumer restarts, and latency that reorders frames
//! across connections. A crash or power loss takes the whole broker, every
//! shard at once, as it takes the one process; a full disk fills every
//! shard's. After the last step the run heals (no new faults or messages)
//! and must settle: every message acknowledged, every queue consumed to its
//! end, then [`Ledger::final_check`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use bolide_broker::config::BrokerConfig;
use bolide_broker::handler::{dispatch, Peer};
use bolide_broker::register::register_request;
use bolide_broker::shared::BrokerShared;
use bolide_namesrv::config::NamesrvConfig;
use bolide_namesrv::core::NamesrvCore;
use bolide_proto::body::register::TopicConfig;
use bolide_proto::codes::perm;
use bolide_proto::RemotingCommand;
use bolide_store::config::FlushMode;
use bolide_store::io::mem::{MemStorage, SplitMix};
use bolide_store::io::time::{Clock, ManualClock};
use glommio::task::JoinHandle;

use crate::broker::{Broker, Tasks, SHARDS};
use crate::clients::{Consumer, Ctx, Producer, TOPIC};
use crate::ledger::Ledger;
use crate::net::{ConnId, Delivery, Network, Node};
use crate::options::{Options, Summary};
use crate::retry::{self, DLQ_Q, RETRY_Q};

/// 2026-01-01T00:00:00Z: where every run's wall clock starts.
const START_MS: i64 = 1_767_225_600_000;
/// The broker registers with the NameServer this often.
const REGISTER_EVERY_MS: u64 = 1_000;
/// Steps the healed system gets to settle before the run fails as stuck.
const SETTLE_STEPS: u64 = 40_000;
/// Executor turns after each batch of deliveries.
const SETTLE_TURNS: usize = 3;

/// A response a broker task produced, tagged with the broker's life.
type Outbox = Rc<RefCell<Vec<(u64, ConnId, Node, RemotingCommand)>>>;

pub struct World {
    opts: Options,
    rng: SplitMix,
    clock: ManualClock,
    net: Network,
    namesrv: NamesrvCore,
    /// Shard `k`'s disk at index `k`.
    disks: Vec<MemStorage>,
    /// Longest a disk write takes (sim ms): writes in flight at once, as
    /// sync mode's overlapping rounds have, complete out of order.
    write_latency_ms: u64,
    mode: FlushMode,
    config: BrokerConfig,
    _config_dir: tempfile::TempDir,
    broker: Option<Broker>,
    /// Which life of the broker: answers of an earlier one are dropped.
    life: u64,
    down_until: u64,
    /// The next start must forgive what the flush mode may lose, per queue
    /// up to where consumers had reached at the crash.
    lost_unflushed: Option<BTreeMap<u32, u64>>,
    /// Crashes that could cut the log so far.
    cuts: u32,
    /// The broker's request tasks, its own and those the shards run for
    /// each other.
    tasks: Rc<Tasks>,
    /// The broker's own tasks (delay-level schedulers, mesh receivers).
    background: Vec<JoinHandle<()>>,
    outbox: Outbox,
    producers: Vec<Producer>,
    consumers: Vec<Consumer>,
    ledger: Ledger,
    disk_full_until: Option<u64>,
    /// When the operator restarts a broker a device error stopped.
    operator_restart_at: Option<u64>,
    next_register: u64,
    summary: Summary,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("now", &self.now())
            .field("broker_up", &self.broker.is_some())
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl World {
    pub fn new(opts: Options) -> Result<Self, String> {
        let mut rng = SplitMix(opts.seed);
        let mode = [FlushMode::Async, FlushMode::Sync, FlushMode::Memory][rng.below(3) as usize];
        let clock = ManualClock::new(START_MS);
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let mut config = BrokerConfig::default();
        config.store.data_dir = dir.path().to_path_buf();
        config.broker.max_message_bytes = 8 << 10;
        let write_latency_ms = rng.below(3);
        let disk = |k: u64| {
            let d = MemStorage::new(1 << 30).with_clock(Arc::new(clock.clone()));
            d.seed_latency(opts.seed.wrapping_add(k));
            d
        };
        let disks = (0..SHARDS as u64).map(disk).collect();
        let summary = Summary {
            seed: opts.seed,
            mode: format!("{mode:?}").to_lowercase(),
            ..Summary::default()
        };
        Ok(World {
            producers: (0..opts.producers)
                .map(|i| Producer::new(i, 1 + i % 3))
                .collect(),
            consumers: (0..opts.consumers)
                .map(|i| Consumer::new(i, opts.consumers))
                .collect(),
            opts,
            rng,
            clock,
            net: Network::new(8),
            namesrv: NamesrvCore::new(NamesrvConfig::default()),
            disks,
            write_latency_ms,
            mode,
            config,
            _config_dir: dir,
            broker: None,
            life: 0,
            down_until: 0,
            lost_unflushed: None,
            cuts: 0,
            tasks: Rc::default(),
            background: Vec::new(),
            outbox: Rc::default(),
            ledger: Ledger::default(),
            disk_full_until: None,
            operator_restart_at: None,
            next_register: 0,
            summary,
        })
    }

    fn now(&self) -> u64 {
        self.clock.monotonic_ms()
    }

    /// The whole run: the faulty steps, then healing until settled.
    pub async fn run(mut self) -> Result<Summary, String> {
        self.trace(|| format!("flush mode {:?}", self.mode));
        self.start_broker().await?;
        for _ in 0..self.opts.steps {
            self.step(true).await?;
        }
        self.heal();
        let mut settled = 0;
        while !self.settled() {
            settled += 1;
            if settled > SETTLE_STEPS {
                return Err(format!(
                    "not settled {SETTLE_STEPS} steps after healing: {}",
                    self.stuck()
                ));
            }
            self.step(false).await?;
        }
        self.ledger.final_check(self.cuts)?;
        self.summary.steps = self.opts.steps + settled;
        self.summary.acked = self.ledger.acked_count();
        self.summary.deliveries = self.ledger.deliveries;
        self.summary.redeliveries = self.ledger.redeliveries;
        self.summary.forgiven = self.ledger.forgiven;
        self.summary.skipped = self.ledger.skipped;
        self.summary.sent_back = self.ledger.sent_back();
        self.summary.dead = self.ledger.dead;
        self.summary.crossed = self.tasks.crossed();
        self.note_writes_in_flight();
        self.stop_broker().await?;
        Ok(self.summary)
    }

    async fn step(&mut self, faulty: bool) -> Result<(), String> {
        self.clock.advance(self.rng.below(6));
        self.turns().await;
        self.housekeeping().await?;
        let due = self.net.due(self.now());
        for delivery in due {
            self.deliver(delivery)?;
        }
        self.turns().await;
        self.post_answers();
        if faulty {
            self.inject().await?;
        }
        self.client_acts(faulty);
        Ok(())
    }

    /// Lets every ready task run.
    async fn turns(&self) {
        for _ in 0..SETTLE_TURNS {
            futures_lite::future::yield_now().await;
        }
    }

    fn trace(&self, what: impl FnOnce() -> String) {
        if self.opts.trace {
            eprintln!("[{:>6} ms] {}", self.now(), what());
        }
    }

    fn fold(&mut self, values: &[u64]) {
        for v in values {
            for byte in v.to_le_bytes() {
                self.summary.digest ^= u64::from(byte);
                self.summary.digest = self.summary.digest.wrapping_mul(0x100_0000_01b3);
            }
        }
    }

    fn ctx(&mut self) -> (Ctx<'_>, &mut Vec<Producer>, &mut Vec<Consumer>) {
        let ctx = Ctx {
            now: self.clock.monotonic_ms(),
            net: &mut self.net,
            ledger: &mut self.ledger,
            rng: &mut self.rng,
            cuts: self.cuts,
        };
        (ctx, &mut self.producers, &mut self.consumers)
    }

    fn deliver(&mut self, d: Delivery) -> Result<(), String> {
        let code = d.command.code as u64;
        self.fold(&[
            d.conn,
            code,
            d.command.opaque as u64,
            d.command.body.len() as u64,
        ]);
        match d.to {
            Node::Broker => {
                self.serve(d);
                Ok(())
            }
            Node::Namesrv => {
                self.namesrv_answers(d);
                Ok(())
            }
            Node::Producer(i) => {
                let (mut ctx, producers, _) = self.ctx();
                producers[i].on_response(&mut ctx, &d.command)
            }
            Node::Consumer(i) => {
                let (mut ctx, _, consumers) = self.ctx();
                consumers[i].on_response(&mut ctx, &d.command)
            }
        }
    }

    fn namesrv_answers(&mut self, d: Delivery) {
        let mut response = self.namesrv.handle(&d.command, self.now(), d.conn);
        if d.command.is_oneway() {
            return;
        }
        response.opaque = d.command.opaque;
        response.mark_response();
        let now = self.now();
        self.net.send(d.conn, d.from, &response, now, &mut self.rng);
    }

    /// Hands a request to the broker in a task of its own, as its
    /// connection would; with no broker running, the connection is refused.
    fn serve(&mut self, d: Delivery) {
        if d.command.is_response() {
            return; // the NameServer's answer to a registration
        }
        let Some(broker) = &self.broker else {
            self.reset(d.conn);
            return;
        };
        let (shard, outbox) = (broker.shard_of(d.conn).clone(), self.outbox.clone());
        let life = self.life;
        let peer = Peer {
            conn_id: d.conn,
            addr: SocketAddr::from(([127, 0, 0, 1], 40_000 + d.conn as u16)),
        };
        self.tasks.spawn(async move {
            let request = d.command;
            let mut response = dispatch(&shard, &peer, &request).await;
            if !request.is_oneway() {
                response.opaque = request.opaque;
                response.mark_response();
                outbox.borrow_mut().push((life, d.conn, d.from, response));
            }
        });
    }

    /// Sends the answers the broker's tasks produced.
    fn post_answers(&mut self) {
        let answers = std::mem::take(&mut *self.outbox.borrow_mut());
        let now = self.now();
        for (life, conn, to, response) in answers {
            if life == self.life {
                self.net.send(conn, to, &response, now, &mut self.rng);
            }
        }
    }

    /// Breaks a connection and tells its client ends.
    fn reset(&mut self, conn: ConnId) {
        if let Some(ends) = self.net.break_conn(conn) {
            self.closed(conn, ends);
        }
    }

    fn closed(&mut self, conn: ConnId, ends: [Node; 2]) {
        let now = self.now();
        for end in ends {
            match end {
                Node::Producer(i) => self.producers[i].expire(now, Some(conn)),
                Node::Consumer(i) => self.consumers[i].expire(now, Some(conn)),
                Node::Namesrv => {
                    // A broker's registering connection closing takes it
                    // out of every route, as in RocketMQ.
                    self.namesrv.routes.connection_closed(conn);
                }
                Node::Broker => {}
            }
        }
    }

    /// Timers of the run: broker restart, end of a full disk, the broker's
    /// registration, the clients' request timeouts.
    async fn housekeeping(&mut self) -> Result<(), String> {
        let now = self.now();
        if self.broker.is_none() && now >= self.down_until {
            match self.start_broker().await {
                Ok(()) => {}
                // A full disk may stop a start (a clear error, as a real
                // broker exits); the operator's restart comes later.
                Err(e) if self.disk_full_until.is_some() => {
                    self.fold(&[u64::MAX - 5, e.len() as u64]);
                    self.summary.failed_starts += 1;
                    self.down_until = now + 500;
                }
                Err(e) => return Err(e),
            }
        }
        self.operator_watch().await?;
        if self.disk_full_until.is_some_and(|until| now >= until) {
            self.disk_full_until = None;
            self.set_faults(|f| f.no_space = false);
        }
        if self.broker.is_some() && now >= self.next_register {
            self.next_register = now + REGISTER_EVERY_MS;
            self.register();
        }
        self.producers.iter_mut().for_each(|p| p.expire(now, None));
        self.consumers.iter_mut().for_each(|c| c.expire(now, None));
        Ok(())
    }

    /// A device error stops the store (it refuses appends until reopened):
    /// the operator restarts the broker a while later, and the device works
    /// again.
    async fn operator_watch(&mut self) -> Result<(), String> {
        let poisoned = self.broker.as_ref().is_some_and(Broker::is_poisoned);
        if !poisoned {
            self.operator_restart_at = None;
            return Ok(());
        }
        let now = self.now();
        match self.operator_restart_at {
            None => self.operator_restart_at = Some(now + 100 + self.rng.below(2_000)),
            Some(at) if now >= at => {
                self.trace(|| "the operator restarts the stopped broker".into());
                self.summary.operator_restarts += 1;
                self.operator_restart_at = None;
                self.crash(false).await?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn register(&mut self) {
        let now = self.now();
        let Some(broker) = self.broker.as_mut() else {
            return;
        };
        let conn = match broker.registrar.filter(|c| self.net.is_open(*c)) {
            Some(conn) => conn,
            None => *broker
                .registrar
                .insert(self.net.connect(Node::Broker, Node::Namesrv)),
        };
        let request = register_request(&broker.shared).with_opaque(now as i32);
        self.net
            .send(conn, Node::Namesrv, &request, now, &mut self.rng);
    }

    /// At most one fault per step, each rare.
    async fn inject(&mut self) -> Result<(), String> {
        let roll = self.rng.below(1_000);
        match roll {
            0..=1 if self.broker.is_some() => self.crash(false).await?,
            2..=3 if self.broker.is_some() => self.crash(true).await?,
            4..=13 => {
                if let Some(conn) = self.net.pick_open(&mut self.rng) {
                    self.fold(&[u64::MAX - 1, conn]);
                    self.summary.resets += 1;
                    self.reset(conn);
                }
            }
            14..=17 if self.disk_full_until.is_none() => {
                let until = self.now() + 100 + self.rng.below(2_000);
                self.fold(&[u64::MAX - 2, until]);
                self.summary.disk_full_windows += 1;
                self.disk_full_until = Some(until);
                self.set_faults(|f| f.no_space = true);
                self.trace(|| format!("disk full until {until}"));
            }
            23..=24 if self.broker.is_some() => {
                let writes = self.rng.below(8);
                // In sync mode too: a write-through write whose flush fails
                // may land torn, but rounds end on a page boundary, so it
                // cannot garble an acknowledged record (found here, seed
                // 13, before they did).
                let syncs = self.rng.below(3) == 0;
                let k = self.rng.below(SHARDS as u64) as usize;
                self.fold(&[u64::MAX - 6, writes, u64::from(syncs), k as u64]);
                self.summary.io_errors += 1;
                self.trace(|| {
                    format!("device errors on shard {k}: writes after {writes}, syncs {syncs}")
                });
                self.disks[k].set_faults(|f| {
                    f.writes_before_failure = Some(writes);
                    f.fail_syncs = syncs;
                });
            }
            18..=22 => {
                let i = self.rng.below(self.consumers.len() as u64) as usize;
                self.fold(&[u64::MAX - 3, i as u64]);
                self.summary.consumer_restarts += 1;
                self.consumers[i].restart(&mut self.net);
            }
            _ => {}
        }
        Ok(())
    }

    fn client_acts(&mut self, new_messages: bool) {
        let roll = self.rng.below(100);
        let commit = self.rng.below(10) == 0;
        let (producers, consumers) = (self.producers.len() as u64, self.consumers.len() as u64);
        let pick = self.rng.next_u64();
        let (mut ctx, ps, cs) = self.ctx();
        if roll < 45 {
            ps[(pick % producers) as usize].act(&mut ctx, new_messages);
        } else if roll < 95 {
            cs[(pick % consumers) as usize].act(&mut ctx, commit);
        }
    }

    /// The broker process dies: `kill -9`, or a power loss (`power`).
    async fn crash(&mut self, power: bool) -> Result<(), String> {
        let Some(broker) = self.broker.take() else {
            return Ok(());
        };
        self.fold(&[u64::MAX - 4, u64::from(power)]);
        self.trace(|| format!("broker {}", if power { "loses power" } else { "killed" }));
        self.cancel_tasks();
        self.life += 1;
        for (conn, ends) in self.net.break_node(Node::Broker) {
            self.closed(conn, ends);
        }
        self.note_writes_in_flight();
        let seed = self.rng.next_u64();
        // Each shard's disk loses (power) or keeps (kill) its own writes.
        let disks = std::mem::take(&mut self.disks).into_iter().zip(0u64..);
        self.disks = disks
            .map(|(d, k)| {
                let d = match power {
                    true => d.crash(seed.wrapping_add(k)),
                    false => d.kill(),
                };
                d.seed_latency(seed.wrapping_add(k));
                d
            })
            .collect();
        if power {
            self.summary.power_losses += 1;
        } else {
            self.summary.kills += 1;
        }
        let may_cut = match self.mode {
            FlushMode::Sync => false,
            FlushMode::Async => power,
            FlushMode::Memory => true,
        };
        if may_cut {
            let reached = (0..self.opts.queues).map(|q| (q, self.reached(q)));
            let reached: BTreeMap<u32, u64> = reached.collect();
            let earlier = self.lost_unflushed.take().unwrap_or_default();
            let merged = reached
                .into_iter()
                .map(|(q, r)| (q, r.max(earlier.get(&q).copied().unwrap_or(0))));
            self.lost_unflushed = Some(merged.collect());
        }
        self.cuts += u32::from(may_cut);
        self.disk_full_until = None;
        self.down_until = self.now() + 10 + self.rng.below(3_000);
        self.bury(broker).await
    }

    /// Cancels every task of the broker: answers in progress and its own.
    fn cancel_tasks(&mut self) {
        self.tasks.cancel_all();
        self.background.iter().for_each(JoinHandle::cancel);
        self.background.clear();
    }

    /// Keeps the most writes the disks had in flight at once (a crash
    /// gives them new counters).
    fn note_writes_in_flight(&mut self) {
        let most = self.disks.iter().map(MemStorage::max_writes_in_flight);
        let most = most.max().unwrap_or(0);
        self.summary.writes_in_flight = self.summary.writes_in_flight.max(most);
    }

    /// Changes the faults of every shard's disk.
    fn set_faults(&self, update: impl Fn(&mut bolide_store::io::mem::Faults)) {
        self.disks.iter().for_each(|d| d.set_faults(&update));
    }

    /// Drops a dead broker and waits until nothing holds it, so its config
    /// persister's last pass is over before a new life loads the files.
    async fn bury(&mut self, broker: Broker) -> Result<(), String> {
        let shared = broker.shared.clone();
        drop(broker);
        self.turns().await;
        if Arc::strong_count(&shared) != 1 {
            return Err("a dead broker's state is still held by a task".into());
        }
        drop(shared);
        Ok(())
    }

    async fn start_broker(&mut self) -> Result<(), String> {
        let first = self.life == 0;
        let shared = Arc::new(BrokerShared::load(self.config.clone(), &self.clock)?);
        if first {
            create_topic(&shared, self.opts.queues, self.clock.now_ms())?;
        }
        // Writes take time only once started: the start is awaited here,
        // and nothing would move the clock while it waits.
        let start = Broker::start(shared, &self.disks, self.mode, &self.clock, &self.tasks);
        let (broker, serving, report) = start.await?;
        let latency = self.write_latency_ms;
        self.set_faults(|f| f.write_latency_ms = latency);
        let ends: Vec<u64> = (0..self.opts.queues)
            .map(|q| broker.queue_end(TOPIC, q))
            .collect();
        self.trace(|| format!("broker starts, queue ends {ends:?}: {report}"));
        if let Some(reached) = self.lost_unflushed.take() {
            for (queue, end) in (0..self.opts.queues).zip(ends) {
                let reached = reached.get(&queue).copied().unwrap_or(0);
                self.ledger.forget_from(queue, end, reached);
            }
        }
        self.background = serving;
        for shard in &broker.shards {
            let schedulers = bolide_broker::schedule::spawn_level_schedulers(shard);
            self.background.extend(schedulers);
        }
        self.broker = Some(broker);
        self.next_register = self.now();
        Ok(())
    }

    /// The furthest any consumer has read `queue` (or asked to commit).
    fn reached(&self, queue: u32) -> u64 {
        let read = self.consumers.iter().flat_map(Consumer::positions);
        let read = read.filter(|(q, _)| *q == queue).map(|(_, next)| next);
        read.chain(self.ledger.commit_asked_offset(queue))
            .max()
            .unwrap_or(0)
    }

    async fn stop_broker(&mut self) -> Result<(), String> {
        let Some(broker) = self.broker.take() else {
            return Ok(());
        };
        self.tasks.cancel_all();
        // Writes sleeping on the clock finish first: nothing would move it
        // while the close (awaited here) waits for them.
        self.set_faults(|f| f.write_latency_ms = 0);
        self.clock.advance(self.write_latency_ms);
        self.turns().await;
        broker.close().await?;
        self.bury(broker).await
    }

    fn heal(&mut self) {
        self.disk_full_until = None;
        self.set_faults(|f| f.no_space = false);
    }

    /// Every message acknowledged and every queue read to its end.
    fn settled(&self) -> bool {
        let Some(broker) = &self.broker else {
            return false;
        };
        // Cheapest first: this runs at every step of the settling run.
        if !self.producers.iter().all(|p| p.unacked() == 0)
            || !self.ledger.nothing_pending(self.cuts)
        {
            return false;
        }
        let ends: BTreeMap<u32, u64> = (0..self.opts.queues)
            .chain([RETRY_Q, DLQ_Q])
            .map(|q| {
                let (topic, queue) = retry::topic_of(q);
                (q, broker.queue_end(topic, queue))
            })
            .collect();
        self.consumers.iter().all(|c| c.caught_up(&ends))
    }

    fn stuck(&self) -> String {
        let unacked: Vec<usize> = self.producers.iter().map(Producer::unacked).collect();
        let ends: Vec<Option<(u64, u64)>> = match &self.broker {
            Some(b) => (0..self.opts.queues)
                .map(|q| b.queue_bounds(TOPIC, q))
                .collect(),
            None => Vec::new(),
        };
        format!(
            "broker up {}, queue bounds {ends:?}, unacked {unacked:?}, {} delayed pending, {} sent back pending, consumers {:?}, {} frames in flight",
            self.broker.is_some(),
            self.ledger.delayed_pending(self.cuts),
            self.ledger.back_pending(self.cuts),
            self.consumers,
            self.net.in_flight()
        )
    }
}

/// Creates the topic, and the group's retry topic and DLQ as a consumer's
/// first heartbeat would.
fn create_topic(shared: &BrokerShared, queues: u32, now_ms: i64) -> Result<(), String> {
    let topics = [
        (TOPIC, queues),
        (retry::RETRY_TOPIC, 1),
        (retry::DLQ_TOPIC, 1),
    ];
    for (topic, queues) in topics {
        let config = TopicConfig {
            topic_name: topic.into(),
            read_queue_nums: queues as i32,
            write_queue_nums: queues as i32,
            perm: perm::READ_WRITE,
            ..TopicConfig::default()
        };
        shared
            .topics()
            .upsert(config, now_ms)
            .map_err(|e| format!("create topic {topic}: {e:?}"))?;
    }
    shared.topics_changed_version();
    // Persisted before the run starts: a send into an unpersisted topic
    // waits for the (real, threaded) persister.
    shared.flush_config()
}
