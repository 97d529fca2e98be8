//! Registration with the NameServers: shard 0 sends REGISTER_BROKER with
//! the full topic list to every configured NameServer at start, every
//! `register_interval_ms`, and at once after a topic change; at shutdown it
//! sends UNREGISTER_BROKER. One connection and one task per NameServer, so
//! one that hangs delays none of the others.
//!
//! Requests that wait for their change to be routable: an attempt reads the
//! topic-config version before it snapshots the topics, so a registration
//! a NameServer accepted covers every change up to that version. After each
//! attempt the registrar publishes ([`BrokerShared::topics_registered`])
//! the [`settled_version`]: the lowest version any *live* NameServer has
//! accepted. A NameServer is live until an attempt to it fails and again
//! once one succeeds. So "every NameServer knows the change" means every
//! one not known to be down: RocketMQ's registerBrokerAll sends to all and
//! waits for every answer, success or failure, within a timeout; here one
//! whose last attempt failed is not asked again before its retry, and
//! waiting for it would only make every topic change wait out the
//! requester's bound ([`crate::shard::REGISTER_WAIT`]). A NameServer that
//! fails while a change waits for it stops counting at that failure;
//! one that hangs is cut off by the requester's bound. With every
//! NameServer down (or none configured) changes count as registered at
//! once: nothing would learn them sooner by waiting.
//!
//! A slave learns its master from the answers: the NameServer names the
//! master of the broker group (`masterAddr`, `haServerAddr`), recorded in
//! [`BrokerShared::replication`] ([`master_after_answer`]).
//!
//! A NameServer that fails is retried on its own [`Schedule`]: after 1 s,
//! then a delay doubling up to 30 s, topic changes included (the retry
//! sends the full list anyway), so one that is down costs a log line per
//! retry rather than one per topic change or tick; the others keep their
//! regular interval.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bolide_proto::body::{JsonBody, RegisterBrokerBody};
use bolide_proto::codes::{request_code, response_code};
use bolide_proto::header::namesrv::{
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
};
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, NoInbound};
use bolide_transport::rt;

use crate::clock::SharedClock;
use crate::replica::status::MasterAddrs;
use crate::shared::BrokerShared;

/// Time allowed for one NameServer call.
const NAMESRV_TIMEOUT: Duration = Duration::from_secs(3);
/// Delay before the first retry of a failed registration.
const RETRY_MIN_MS: u64 = 1_000;
/// Longest delay between retries of a failing NameServer.
const RETRY_MAX_MS: u64 = 30_000;

/// When to register next with one NameServer (times in ms on any clock),
/// and what it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Schedule {
    next_ms: u64,
    /// Consecutive failed attempts; 0 while registered.
    failures: u32,
    /// Topic-config version of the last registration it accepted.
    registered: u64,
}

impl Schedule {
    /// Due at once, knowing nothing.
    fn new() -> Schedule {
        Schedule {
            next_ms: 0,
            failures: 0,
            registered: 0,
        }
    }

    /// Due at its time, or at once for a topic change it has not accepted
    /// unless it is failing (its retry sends the change too).
    fn due(&self, now_ms: u64, version: u64) -> bool {
        now_ms >= self.next_ms || (version > self.registered && self.failures == 0)
    }

    /// Records a registration of topic-config `version` it accepted.
    fn succeeded(&mut self, now_ms: u64, interval_ms: u64, version: u64) {
        self.failures = 0;
        self.next_ms = now_ms.saturating_add(interval_ms);
        self.registered = self.registered.max(version);
    }

    /// Records a failure; returns the delay before the retry.
    fn failed(&mut self, now_ms: u64) -> u64 {
        self.failures = self.failures.saturating_add(1);
        let doublings = (self.failures - 1).min(RETRY_MAX_MS.ilog2());
        let delay_ms = (RETRY_MIN_MS << doublings).min(RETRY_MAX_MS);
        self.next_ms = now_ms.saturating_add(delay_ms);
        delay_ms
    }
}

/// The topic-config version every live NameServer knows: the lowest that
/// a NameServer not failing has accepted, or `current` when every one is
/// failing or none is configured (see the module docs).
fn settled_version(schedules: &[Schedule], current: u64) -> u64 {
    let live = schedules.iter().filter(|s| s.failures == 0);
    live.map(|s| s.registered).min().unwrap_or(current)
}

/// Where a slave's master is after a registration answer. A NameServer
/// that names no master (it has not heard from it yet, or the master's
/// registration expired) leaves the last known addresses: with several
/// NameServers the answers differ while one catches up, and a stale
/// address only costs the followers failed connections until the master
/// is back (RocketMQ clears the metadata address instead, and keeps the
/// replication one). `configured_ha` (`replication.master_addr`), when
/// set, is the replication address whatever the NameServer says.
pub fn master_after_answer(
    current: &MasterAddrs,
    answer: &RegisterBrokerResponseHeader,
    configured_ha: &str,
) -> MasterAddrs {
    let named = |a: &Option<String>| a.as_deref().filter(|a| !a.is_empty()).map(str::to_owned);
    let Some(broker_addr) = named(&answer.master_addr) else {
        return current.clone();
    };
    let ha_addr = match configured_ha {
        "" => named(&answer.ha_server_addr).unwrap_or_else(|| current.ha_addr.clone()),
        configured => configured.to_owned(),
    };
    MasterAddrs {
        broker_addr,
        ha_addr,
    }
}

/// Records the master a registration answer names (slaves only).
fn learn_master(shared: &BrokerShared, answer: &RemotingCommand) {
    if shared.config.replication.role.is_master() {
        return;
    }
    let header: RegisterBrokerResponseHeader = match answer.decode_header() {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "registration answer without a readable master address");
            return;
        }
    };
    let current = shared.replication.master();
    let configured = &shared.config.replication.master_addr;
    let next = master_after_answer(&current, &header, configured);
    if next != current {
        tracing::info!(master = %next.broker_addr, ha = %next.ha_addr,
            was = %current.broker_addr, "master address learned from the NameServer");
        shared.replication.set_master(next);
    }
}

/// The broker's address as clients reach it.
pub fn broker_addr(shared: &BrokerShared) -> String {
    let b = &shared.config.broker;
    format!("{}:{}", b.advertised_host, b.listen_port)
}

/// The REGISTER_BROKER request for this broker's current topics (the
/// registrar's, and a simulation's).
pub fn register_request(shared: &BrokerShared) -> RemotingCommand {
    let b = &shared.config.broker;
    // Its own statement: the topics lock is released before the (long,
    // with thousands of topics) encode, which every send would wait for.
    let topics = shared.topics().to_wrapper();
    let body = RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: topics,
    }
    .encode();
    let header = RegisterBrokerRequestHeader {
        broker_name: b.broker_name.clone(),
        broker_addr: broker_addr(shared),
        cluster_name: b.cluster_name.clone(),
        ha_server_addr: format!("{}:{}", b.advertised_host, shared.config.replication_port()),
        broker_id: b.broker_id as i64,
        heartbeat_timeout_millis: None,
        enable_acting_master: None,
        compressed: Some(false),
        body_crc32: Some((crc32fast::hash(&body) & 0x7FFF_FFFF) as i32),
    };
    RemotingCommand::request(request_code::REGISTER_BROKER)
        .with_header(&header)
        .with_body(body)
}

fn unregister_request(shared: &BrokerShared) -> RemotingCommand {
    let b = &shared.config.broker;
    let header = UnregisterBrokerRequestHeader {
        broker_name: b.broker_name.clone(),
        broker_addr: broker_addr(shared),
        cluster_name: b.cluster_name.clone(),
        broker_id: b.broker_id as i64,
    };
    RemotingCommand::request(request_code::UNREGISTER_BROKER).with_header(&header)
}

/// Connections to the configured NameServers.
#[derive(Debug)]
pub struct Registrar {
    shared: Arc<BrokerShared>,
    clock: SharedClock,
    addrs: Vec<SocketAddr>,
    conns: RefCell<Vec<Option<Connection>>>,
    /// One per NameServer, each updated by that NameServer's task only.
    schedules: RefCell<Vec<Schedule>>,
    /// Set at shutdown: no registration is sent after the unregistration.
    leaving: Cell<bool>,
}

impl Registrar {
    pub fn new(shared: Arc<BrokerShared>, clock: SharedClock) -> Rc<Self> {
        let addrs: Vec<SocketAddr> = shared
            .config
            .broker
            .namesrv_addrs
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        let conns = RefCell::new(vec![None; addrs.len()]);
        let schedules = RefCell::new(vec![Schedule::new(); addrs.len()]);
        Rc::new(Registrar {
            shared,
            clock,
            addrs,
            conns,
            schedules,
            leaving: Cell::new(false),
        })
    }

    async fn invoke(&self, i: usize, request: RemotingCommand) -> Result<RemotingCommand, String> {
        let conn = self.connection(i).await?;
        conn.invoke(request, NAMESRV_TIMEOUT)
            .await
            .map_err(|e| e.to_string())
    }

    /// The open connection to NameServer `i`, made when there is none.
    async fn connection(&self, i: usize) -> Result<Connection, String> {
        let existing = self.conns.borrow()[i].clone().filter(|c| !c.is_closed());
        Ok(match existing {
            Some(c) => c,
            None => {
                let max_frame = self.shared.config.broker.max_frame_bytes;
                let c = Connection::connect(
                    self.addrs[i],
                    Rc::new(NoInbound),
                    max_frame,
                    NAMESRV_TIMEOUT,
                )
                .await
                .map_err(|e| e.to_string())?;
                self.conns.borrow_mut()[i] = Some(c.clone());
                c
            }
        })
    }

    /// Registers with NameServer `i`, unless the broker is leaving: checked
    /// after the connect, the last await before the request is sent.
    async fn register(&self, i: usize) -> Result<(), String> {
        let conn = self.connection(i).await?;
        if self.leaving.get() {
            return Err("the broker is leaving".into());
        }
        let request = register_request(&self.shared);
        let answer = conn.invoke(request, NAMESRV_TIMEOUT).await;
        match answer.map_err(|e| e.to_string())? {
            r if r.code == response_code::SUCCESS => {
                learn_master(&self.shared, &r);
                Ok(())
            }
            r => Err(format!("refused with code {}: {:?}", r.code, r.remark)),
        }
    }

    /// Leaves every NameServer's routes (at shutdown). A registration
    /// already sent travels on the same connection, so it is answered
    /// first, and closing the connection drops whatever it registered.
    pub async fn unregister_all(&self) {
        self.leaving.set(true);
        for i in 0..self.addrs.len() {
            if let Err(e) = self.invoke(i, unregister_request(&self.shared)).await {
                tracing::warn!(namesrv = %self.addrs[i], error = %e, "unregistration failed");
            }
        }
        for conn in self.conns.borrow().iter().flatten() {
            conn.close();
        }
    }

    /// Registers now, then periodically and after topic changes, forever;
    /// failing NameServers are retried with backoff.
    pub async fn run(self: Rc<Self>) {
        if self.addrs.is_empty() {
            return self.without_namesrv().await;
        }
        let tasks: Vec<_> = (0..self.addrs.len())
            .map(|i| rt::spawn_local(self.clone().serve(i)))
            .collect();
        for task in tasks {
            task.await;
        }
    }

    /// With no NameServer to tell, every change counts as registered.
    async fn without_namesrv(&self) {
        loop {
            let version = self.shared.topics_version();
            self.shared.topics_registered(version);
            self.shared.wait_topics_version(version + 1).await;
        }
    }

    /// NameServer `i`'s task: an attempt whenever its schedule is due, and
    /// after each a publication of what the live NameServers know.
    async fn serve(self: Rc<Self>, i: usize) {
        let interval_ms = self.shared.config.broker.register_interval_ms;
        loop {
            // Read before the attempt snapshots the topics, so what it
            // registers covers at least this version.
            let version = self.shared.topics_version();
            let mut schedule = self.schedules.borrow()[i];
            if schedule.due(self.clock.monotonic_ms(), version) {
                self.attempt(i, &mut schedule, interval_ms, version).await;
                self.schedules.borrow_mut()[i] = schedule;
            }
            // Also when nothing was attempted: a change that came while
            // this NameServer is failing must not wait for it.
            let settled = settled_version(&self.schedules.borrow(), version);
            self.shared.topics_registered(settled);
            let wait_ms = schedule.next_ms.saturating_sub(self.clock.monotonic_ms());
            futures_lite::future::or(
                self.clock.sleep(Duration::from_millis(wait_ms)),
                self.shared.wait_topics_version(version + 1),
            )
            .await;
        }
    }

    /// One registration of topic-config `version` (or later) with
    /// NameServer `i`, logged only when its state changes or a retry fails.
    async fn attempt(&self, i: usize, schedule: &mut Schedule, interval_ms: u64, version: u64) {
        let namesrv = self.addrs[i];
        let now_ms = self.clock.monotonic_ms();
        match self.register(i).await {
            Ok(()) => {
                if schedule.failures > 0 {
                    tracing::info!(%namesrv, failed_attempts = schedule.failures, "registered again");
                }
                schedule.succeeded(now_ms, interval_ms, version);
            }
            Err(error) => {
                let retry_ms = schedule.failed(now_ms);
                tracing::warn!(%namesrv, %error, attempt = schedule.failures, retry_in_ms = retry_ms, "registration failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_doubling_to_the_cap_and_success_resets() {
        let mut s = Schedule::new();
        let delays: Vec<u64> = (0..8).map(|_| s.failed(0)).collect();
        assert_eq!(
            delays,
            [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]
        );
        for _ in 0..100 {
            assert_eq!(s.failed(0), RETRY_MAX_MS);
        }
        s.succeeded(500, 30_000, 7);
        assert_eq!(
            s,
            Schedule {
                next_ms: 30_500,
                failures: 0,
                registered: 7,
            }
        );
        assert_eq!(s.failed(500), RETRY_MIN_MS);
        assert_eq!(s.registered, 7, "a failure forgets nothing it accepted");
        // An attempt that read an older version cannot lower it.
        s.succeeded(600, 30_000, 5);
        assert_eq!(s.registered, 7);
    }

    #[test]
    fn the_master_comes_from_the_answer_and_survives_an_answer_without_one() {
        let addrs = |b: &str, h: &str| MasterAddrs {
            broker_addr: b.into(),
            ha_addr: h.into(),
        };
        let answer = |m: Option<&str>, h: Option<&str>| RegisterBrokerResponseHeader {
            master_addr: m.map(Into::into),
            ha_server_addr: h.map(Into::into),
        };
        let unknown = MasterAddrs::default();
        let known = addrs("m:10911", "m:10912");
        // (current, answer, replication.master_addr, result)
        let cases = [
            (
                &unknown,
                answer(Some("m:10911"), Some("m:10912")),
                "",
                known.clone(),
            ),
            (
                &unknown,
                answer(Some("m:10911"), Some("m:10912")),
                "c:1",
                addrs("m:10911", "c:1"),
            ),
            (
                &unknown,
                answer(Some("m:10911"), None),
                "",
                addrs("m:10911", ""),
            ),
            (&known, answer(None, None), "", known.clone()),
            (&known, answer(Some(""), Some("")), "", known.clone()),
            (
                &known,
                answer(Some("n:10911"), Some("")),
                "",
                addrs("n:10911", "m:10912"),
            ),
            (
                &known,
                answer(Some("n:10911"), Some("n:10912")),
                "",
                addrs("n:10911", "n:10912"),
            ),
        ];
        for (i, (current, answer, configured, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                master_after_answer(current, &answer, configured),
                want,
                "case {i}"
            );
        }
    }

    #[test]
    fn due_table() {
        let registered = Schedule {
            next_ms: 1_000,
            failures: 0,
            registered: 4,
        };
        let failing = Schedule {
            next_ms: 1_000,
            failures: 3,
            registered: 4,
        };
        // (schedule, now, topic-config version, due)
        let cases = [
            (Schedule::new(), 0, 1, true),
            (registered, 999, 4, false),
            (registered, 1_000, 4, true),
            (registered, 10, 5, true),
            (failing, 10, 5, false),
            (failing, 999, 4, false),
            (failing, 1_000, 5, true),
        ];
        for (i, (schedule, now_ms, version, due)) in cases.into_iter().enumerate() {
            assert_eq!(schedule.due(now_ms, version), due, "case {i}");
        }
    }

    #[test]
    fn settled_version_waits_for_live_namesrvs_only() {
        let at = |registered: u64, failures: u32| Schedule {
            next_ms: 0,
            failures,
            registered,
        };
        // (NameServers, current version, settled)
        let cases: [(&[Schedule], u64, u64); 7] = [
            (&[], 9, 9),
            (&[Schedule::new()], 1, 0),
            (&[at(9, 0)], 9, 9),
            (&[at(9, 0), at(7, 0)], 9, 7),
            (&[at(9, 0), at(3, 2)], 9, 9),
            (&[at(8, 1), at(3, 2)], 9, 9),
            (&[at(5, 0), at(9, 0), at(2, 1)], 9, 5),
        ];
        for (i, (schedules, current, settled)) in cases.into_iter().enumerate() {
            assert_eq!(settled_version(schedules, current), settled, "case {i}");
        }
    }
}
