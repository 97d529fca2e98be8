//! Registration with the NameServers: every `register_interval_ms`, and
//! within a second of a topic change, shard 0 sends REGISTER_BROKER with the
//! full topic list to every configured NameServer; at shutdown it sends
//! UNREGISTER_BROKER. One connection per NameServer, re-opened on failure.
//!
//! A NameServer that fails is retried on its own [`Schedule`]: after 1 s,
//! then a delay doubling up to 30 s, topic changes included (the retry
//! sends the full list anyway), so one that is down costs a log line per
//! retry rather than one per topic change or tick; the others keep their
//! regular interval.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bolide_proto::body::{JsonBody, RegisterBrokerBody};
use bolide_proto::codes::{request_code, response_code};
use bolide_proto::header::namesrv::{RegisterBrokerRequestHeader, UnregisterBrokerRequestHeader};
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, NoInbound};

use crate::shared::BrokerShared;

/// Time allowed for one NameServer call.
const NAMESRV_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a pending topic change is looked for.
const DIRTY_CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Delay before the first retry of a failed registration.
const RETRY_MIN_MS: u64 = 1_000;
/// Longest delay between retries of a failing NameServer.
const RETRY_MAX_MS: u64 = 30_000;

/// When to register next with one NameServer (times in ms on any clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Schedule {
    next_ms: u64,
    /// Consecutive failed attempts; 0 while registered.
    failures: u32,
}

impl Schedule {
    /// Due at once.
    fn new() -> Schedule {
        Schedule {
            next_ms: 0,
            failures: 0,
        }
    }

    /// A topic change registers at once unless the NameServer is failing.
    fn due(&self, now_ms: u64, topics_changed: bool) -> bool {
        now_ms >= self.next_ms || (topics_changed && self.failures == 0)
    }

    fn succeeded(&mut self, now_ms: u64, interval_ms: u64) {
        self.failures = 0;
        self.next_ms = now_ms.saturating_add(interval_ms);
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

/// The broker's address as clients reach it.
pub fn broker_addr(shared: &BrokerShared) -> String {
    let b = &shared.config.broker;
    format!("{}:{}", b.advertised_host, b.listen_port)
}

fn register_request(shared: &BrokerShared) -> RemotingCommand {
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
        ha_server_addr: format!("{}:{}", b.advertised_host, b.listen_port as u32 + 1),
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
    shared: std::sync::Arc<BrokerShared>,
    addrs: Vec<SocketAddr>,
    conns: std::cell::RefCell<Vec<Option<Connection>>>,
}

impl Registrar {
    pub fn new(shared: std::sync::Arc<BrokerShared>) -> Rc<Self> {
        let addrs: Vec<SocketAddr> = shared
            .config
            .broker
            .namesrv_addrs
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        let conns = std::cell::RefCell::new(vec![None; addrs.len()]);
        Rc::new(Registrar {
            shared,
            addrs,
            conns,
        })
    }

    async fn invoke(&self, i: usize, request: RemotingCommand) -> Result<RemotingCommand, String> {
        let existing = self.conns.borrow()[i].clone().filter(|c| !c.is_closed());
        let conn = match existing {
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
        };
        conn.invoke(request, NAMESRV_TIMEOUT)
            .await
            .map_err(|e| e.to_string())
    }

    /// Registers with NameServer `i`.
    async fn register(&self, i: usize) -> Result<(), String> {
        match self.invoke(i, register_request(&self.shared)).await? {
            r if r.code == response_code::SUCCESS => Ok(()),
            r => Err(format!("refused with code {}: {:?}", r.code, r.remark)),
        }
    }

    /// Leaves every NameServer's routes (at shutdown).
    pub async fn unregister_all(&self) {
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
        let interval_ms = self.shared.config.broker.register_interval_ms;
        let started = std::time::Instant::now();
        let mut schedules = vec![Schedule::new(); self.addrs.len()];
        loop {
            let changed = self.shared.topics_dirty.swap(false, Ordering::Relaxed);
            for (i, schedule) in schedules.iter_mut().enumerate() {
                let now_ms = started.elapsed().as_millis() as u64;
                if schedule.due(now_ms, changed) {
                    self.attempt(i, schedule, now_ms, interval_ms).await;
                }
            }
            glommio::timer::sleep(DIRTY_CHECK_INTERVAL).await;
        }
    }

    /// One registration with NameServer `i`, logged only when its state
    /// changes or a retry fails.
    async fn attempt(&self, i: usize, schedule: &mut Schedule, now_ms: u64, interval_ms: u64) {
        let namesrv = self.addrs[i];
        match self.register(i).await {
            Ok(()) => {
                if schedule.failures > 0 {
                    tracing::info!(%namesrv, failed_attempts = schedule.failures, "registered again");
                }
                schedule.succeeded(now_ms, interval_ms);
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
        s.succeeded(500, 30_000);
        assert_eq!(
            s,
            Schedule {
                next_ms: 30_500,
                failures: 0
            }
        );
        assert_eq!(s.failed(500), RETRY_MIN_MS);
    }

    #[test]
    fn due_table() {
        let registered = Schedule {
            next_ms: 1_000,
            failures: 0,
        };
        let failing = Schedule {
            next_ms: 1_000,
            failures: 3,
        };
        // (schedule, now, topics changed, due)
        let cases = [
            (Schedule::new(), 0, false, true),
            (registered, 999, false, false),
            (registered, 1_000, false, true),
            (registered, 10, true, true),
            (failing, 10, true, false),
            (failing, 999, false, false),
            (failing, 1_000, true, true),
        ];
        for (i, (schedule, now_ms, changed, due)) in cases.into_iter().enumerate() {
            assert_eq!(schedule.due(now_ms, changed), due, "case {i}");
        }
    }
}
