//! The third-party clients and how to drive them. Both are command-line
//! programs with the same flags and the same JSON-lines output
//! (`tests/compat/python/client.py`, `tests/compat/rust-client`), so every
//! scenario is written once for both.
//!
//! Provisioning: the first use of a client runs `tests/compat/provision.sh`,
//! which installs it from the package registries into the target directory
//! (a no-op when it is already there). A client that cannot be installed
//! fails the test with the installer's output; nothing is skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::broker::target_dir;
use crate::proc::Proc;

/// Longest a provisioning step may take (first build of the Rust client on a
/// loaded two-core machine).
const PROVISION_TIMEOUT: Duration = Duration::from_secs(40 * 60);
/// Longest one produce run may take.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(90);
/// Longest a consumer may take to start (route lookup, first rebalance).
const CONSUMER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// A client implementation nobody on this project wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// Apache RocketMQ C++ client 2.1.0 through `rocketmq-client-python` 2.0.0.
    Python,
    /// `rocketmq-client-rust` 1.0.0 from crates.io.
    Rust,
}

/// How a producer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sync,
    Oneway,
    Async,
    Batch,
    /// Sync send to the queue chosen by the message's sharding key.
    Orderly,
}

impl Mode {
    /// The clients' `--mode` value (also used as a message prefix).
    pub fn flag(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Oneway => "oneway",
            Mode::Async => "async",
            Mode::Batch => "batch",
            Mode::Orderly => "orderly",
        }
    }
}

impl Client {
    pub fn name(self) -> &'static str {
        match self {
            Client::Python => "cpp-via-python",
            Client::Rust => "rocketmq-client-rust",
        }
    }

    /// Whether the client's public API offers this way of sending.
    /// `rocketmq-client-python` 2.0.0 has no asynchronous and no batch send.
    pub fn offers(self, mode: Mode) -> bool {
        !(self == Client::Python && matches!(mode, Mode::Async | Mode::Batch))
    }

    /// Whether the client reports the queue id in its send result
    /// (the Python wrapper's `SendResult` has only status, id and offset).
    pub fn reports_send_queue_id(self) -> bool {
        self == Client::Rust
    }

    fn command(self, subcommand: &str) -> Command {
        let mut command = match self {
            Client::Python => {
                let mut c = Command::new(python());
                c.arg(compat_dir().join("python/client.py"));
                c
            }
            Client::Rust => Command::new(rust_client()),
        };
        command.arg(subcommand);
        command
    }
}

fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn provision(what: &str) {
    let mut command = Command::new("bash");
    command
        .arg(compat_dir().join("provision.sh"))
        .arg(what)
        .arg(target_dir());
    let mut proc = Proc::spawn(format!("provision {what}"), command);
    let status = proc.wait_exit(PROVISION_TIMEOUT);
    if status.is_none_or(|s| !s.success()) {
        panic!(
            "cannot install the {what} RocketMQ client (status {status:?}); run \
             `bash tests/compat/provision.sh {what} target` to see why:\n{}",
            proc.dump()
        );
    }
}

fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        provision("python");
        target_dir().join("compat-venv/bin/python")
    })
}

fn rust_client() -> &'static Path {
    static CLIENT: OnceLock<PathBuf> = OnceLock::new();
    CLIENT.get_or_init(|| {
        // Always run: cargo makes it a no-op when the CLI is up to date.
        provision("rust");
        target_dir().join("compat-rust/debug/rmq-rust-client")
    })
}

/// One send result (`{"event":"sent",…}`). Oneway sends have only `i`.
#[derive(Debug, Clone, Deserialize)]
pub struct Sent {
    pub i: u64,
    pub status: Option<String>,
    pub msg_id: Option<String>,
    pub offset_msg_id: Option<String>,
    pub queue_id: Option<i64>,
    pub queue_offset: Option<i64>,
}

/// One consumed message (`{"event":"msg",…}`).
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    pub msg_id: String,
    pub topic: String,
    pub tags: Option<String>,
    pub keys: Option<String>,
    pub body: Option<String>,
    pub queue_id: i64,
    pub queue_offset: i64,
    pub props: BTreeMap<String, String>,
}

impl Received {
    /// The client-generated unique id (`UNIQ_KEY`), what producers report
    /// as the message id.
    pub fn uniq_key(&self) -> &str {
        self.props
            .get("UNIQ_KEY")
            .map(String::as_str)
            .unwrap_or(&self.msg_id)
    }

    pub fn seq(&self) -> u64 {
        let seq = self
            .props
            .get("seq")
            .unwrap_or_else(|| panic!("no seq property: {self:?}"));
        seq.parse()
            .unwrap_or_else(|e| panic!("bad seq {seq:?}: {e}"))
    }
}

/// A produce run: message `i` has body `{prefix}-{i}`, tag
/// `tags[i % len]`, key `{prefix}-key-{i}`, properties `seq`, `origin` and,
/// with `shard_keys > 0`, `shard = {prefix}-shard-{i % shard_keys}`.
#[derive(Debug, Clone)]
pub struct Produce<'a> {
    pub topic: &'a str,
    pub group: &'a str,
    pub count: u64,
    pub mode: Mode,
    pub tags: &'a [&'a str],
    pub prefix: &'a str,
    pub shard_keys: u64,
}

impl Produce<'_> {
    pub fn new<'a>(topic: &'a str, prefix: &'a str, count: u64) -> Produce<'a> {
        Produce {
            topic,
            group: "CompatProducer",
            count,
            mode: Mode::Sync,
            tags: &["TagA"],
            prefix,
            shard_keys: 0,
        }
    }

    pub fn tag_of(&self, i: u64) -> &str {
        self.tags[(i as usize) % self.tags.len()]
    }

    /// Runs the producer to completion; panics (printing its output) unless
    /// every message was sent.
    pub fn run(&self, client: Client, namesrv: &str) -> Vec<Sent> {
        assert!(
            client.offers(self.mode),
            "{} does not offer {:?} sends",
            client.name(),
            self.mode
        );
        let mut command = client.command("produce");
        command.args([
            "--namesrv",
            namesrv,
            "--topic",
            self.topic,
            "--group",
            self.group,
        ]);
        command.args([
            "--count",
            &self.count.to_string(),
            "--mode",
            self.mode.flag(),
        ]);
        command.args(["--tags", &self.tags.join(","), "--prefix", self.prefix]);
        command.args(["--shard-keys", &self.shard_keys.to_string()]);
        let name = format!("{} produce {} {}", client.name(), self.topic, self.prefix);
        let mut proc = Proc::spawn(name, command);
        let status = proc.wait_exit(PRODUCE_TIMEOUT);
        let events = proc.events();
        let done = events.iter().any(|e| e["event"] == "done");
        assert!(
            done && status.is_some_and(|s| s.success()),
            "{}: producer failed (status {status:?})",
            proc.name()
        );
        let mut sent: Vec<Sent> = of_kind(&events, "sent");
        sent.sort_by_key(|s| s.i);
        assert_eq!(
            sent.len() as u64,
            self.count,
            "{}: one result per message",
            proc.name()
        );
        sent
    }
}

/// Messages a push consumer asks for in one pull: the C++ client passes a
/// fixed 32 (`DefaultMQPushConsumerImpl::pullMessageAsync`, librocketmq
/// 2.1.0); the Rust driver sets `pull_batch_size(32)` when paced.
pub const PULL_BATCH: usize = 32;

/// Slows a push consumer down, so that a test can act while it is part-way
/// through a backlog: one consume thread that spends `delay` on every
/// message, and a per-queue cache limit. Both clients pull a queue again
/// only while they hold at most `max_cached` of its messages not yet
/// consumed (C++: `SetPushConsumerMaxCacheMessageSize`; Rust:
/// `pull_threshold_for_queue`), so a queue never has more than
/// `max_cached + PULL_BATCH` messages pulled ahead of consumption.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub delay: Duration,
    pub max_cached: u32,
}

/// What a consumer subscribes with.
#[derive(Debug, Clone, Copy)]
pub enum Selector<'a> {
    /// A tag expression (`*`, `TagA || TagB`).
    Tag(&'a str),
    /// An SQL92 expression (`--sql`; only the Rust client's API has one).
    Sql(&'a str),
}

/// A push consumer process in clustering mode.
#[derive(Debug)]
pub struct Consumer {
    proc: Proc,
}

impl Consumer {
    /// Starts a consumer and waits until its client reports started.
    pub fn start(
        client: Client,
        namesrv: &str,
        topic: &str,
        group: &str,
        expr: &str,
        orderly: bool,
    ) -> Consumer {
        Consumer::spawn(
            client,
            namesrv,
            topic,
            group,
            Selector::Tag(expr),
            orderly,
            None,
        )
    }

    /// Starts a concurrent consumer with an SQL92 subscription.
    pub fn start_sql(
        client: Client,
        namesrv: &str,
        topic: &str,
        group: &str,
        sql: &str,
    ) -> Consumer {
        Consumer::spawn(
            client,
            namesrv,
            topic,
            group,
            Selector::Sql(sql),
            false,
            None,
        )
    }

    /// Starts a concurrent consumer of every tag, slowed down by `pace`.
    pub fn start_paced(
        client: Client,
        namesrv: &str,
        topic: &str,
        group: &str,
        pace: Pace,
    ) -> Consumer {
        Consumer::spawn(
            client,
            namesrv,
            topic,
            group,
            Selector::Tag("*"),
            false,
            Some(pace),
        )
    }

    fn spawn(
        client: Client,
        namesrv: &str,
        topic: &str,
        group: &str,
        selector: Selector<'_>,
        orderly: bool,
        pace: Option<Pace>,
    ) -> Consumer {
        let mut command = client.command("consume");
        command.args(["--namesrv", namesrv, "--topic", topic, "--group", group]);
        let (flag, expr) = match selector {
            Selector::Tag(expr) => ("--expr", expr),
            Selector::Sql(sql) => ("--sql", sql),
        };
        command.args([flag, expr]);
        // Distinct per consumer, so two consumers on this host get distinct client ids.
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let instance = format!("{group}-{}-{n}", std::process::id());
        command.args(["--instance", &instance, "--max-run-ms", "240000"]);
        if orderly {
            command.arg("--orderly");
        }
        if let Some(pace) = pace {
            command.args([
                "--consume-delay-ms",
                &pace.delay.as_millis().to_string(),
                "--max-cache",
                &pace.max_cached.to_string(),
            ]);
        }
        let name = format!(
            "{} consume {topic} {group} [{expr}] {instance}",
            client.name()
        );
        let proc = Proc::spawn(name, command);
        proc.wait_until("consumer start", CONSUMER_START_TIMEOUT, |events| {
            events.iter().any(|e| e["event"] == "started")
        });
        Consumer { proc }
    }

    /// Messages consumed so far, in the order the client delivered them.
    pub fn received(&self) -> Vec<Received> {
        of_kind(&self.proc.events(), "msg")
    }

    /// Waits until `done` holds for the messages consumed so far.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let events = self
            .proc
            .wait_until(what, timeout, |events| done(&of_kind(events, "msg")));
        of_kind(&events, "msg")
    }

    /// Stops the consumer gracefully (it commits its offsets while shutting
    /// down). The C++ client may crash in shutdown, so the exit status is
    /// not judged; callers that need offsets committed wait past the
    /// client's 5 s auto-commit first.
    pub fn stop(&mut self) {
        let _ = self.proc.stop(Duration::from_secs(30));
    }

    pub fn dump(&self) -> String {
        self.proc.dump()
    }
}

fn of_kind<T: for<'de> Deserialize<'de>>(events: &[Value], kind: &str) -> Vec<T> {
    events
        .iter()
        .filter(|e| e["event"] == kind)
        .map(|e| {
            serde_json::from_value(e.clone())
                .unwrap_or_else(|err| panic!("bad {kind} event {e}: {err}"))
        })
        .collect()
}

/// What a transactional producer's local transaction answers for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Commit,
    Rollback,
    /// Unknown locally; the broker's check-back is answered COMMIT.
    UnknownThenCommit,
}

impl Verdict {
    fn flag(self) -> &'static str {
        match self {
            Verdict::Commit => "commit",
            Verdict::Rollback => "rollback",
            Verdict::UnknownThenCommit => "unknown",
        }
    }
}

/// A check-back the producer answered (`{"event":"checked",…}`).
#[derive(Debug, Clone, Deserialize)]
pub struct Checked {
    pub body: Option<String>,
    pub answer: String,
}

/// A transactional producer process (`transact`): sends message `i` (body
/// `{prefix}-{i}`, user property `plan`) in a transaction whose local part
/// answers `plan[i]`, then keeps answering the broker's check-backs until
/// stopped.
#[derive(Debug)]
pub struct Transactor {
    proc: Proc,
}

impl Transactor {
    /// Starts it and waits until every message was sent (each send result
    /// is checked: status OK, a message id).
    pub fn start(
        client: Client,
        namesrv: &str,
        topic: &str,
        group: &str,
        prefix: &str,
        plan: &[Verdict],
    ) -> (Transactor, Vec<Sent>) {
        let mut command = client.command("transact");
        command.args(["--namesrv", namesrv, "--topic", topic, "--group", group]);
        let flags: Vec<&str> = plan.iter().map(|v| v.flag()).collect();
        command.args([
            "--prefix",
            prefix,
            "--plan",
            &flags.join(","),
            "--max-run-ms",
            "240000",
        ]);
        let proc = Proc::spawn(
            format!("{} transact {topic} {group}", client.name()),
            command,
        );
        let events = proc.wait_until("transactional sends", PRODUCE_TIMEOUT, |events| {
            events.iter().any(|e| e["event"] == "done")
        });
        let mut sent: Vec<Sent> = of_kind(&events, "sent");
        sent.sort_by_key(|s| s.i);
        assert_eq!(
            sent.len(),
            plan.len(),
            "{}: one result per message",
            proc.name()
        );
        (Transactor { proc }, sent)
    }

    /// The check-backs answered so far.
    pub fn checked(&self) -> Vec<Checked> {
        of_kind(&self.proc.events(), "checked")
    }

    /// Waits until `done` holds for the check-backs answered so far.
    pub fn wait_checked(&self, what: &str, timeout: Duration, done: impl Fn(&[Checked]) -> bool) {
        self.proc
            .wait_until(what, timeout, |events| done(&of_kind(events, "checked")));
    }

    pub fn stop(&mut self) {
        let _ = self.proc.stop(Duration::from_secs(30));
    }

    pub fn dump(&self) -> String {
        self.proc.dump()
    }
}
