//! Registration with the NameServers: every `register_interval_ms`, and
//! within a second of a topic change, shard 0 sends REGISTER_BROKER with the
//! full topic list to every configured NameServer; at shutdown it sends
//! UNREGISTER_BROKER. One connection per NameServer, re-opened on failure.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bolide_client::remoting::{Connection, NoInbound};
use bolide_proto::body::{JsonBody, RegisterBrokerBody};
use bolide_proto::codes::{request_code, response_code};
use bolide_proto::header::namesrv::{RegisterBrokerRequestHeader, UnregisterBrokerRequestHeader};
use bolide_proto::RemotingCommand;

use crate::shared::BrokerShared;

/// Time allowed for one NameServer call.
const NAMESRV_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a pending topic change is looked for.
const DIRTY_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The broker's address as clients reach it.
pub fn broker_addr(shared: &BrokerShared) -> String {
    let b = &shared.config.broker;
    format!("{}:{}", b.advertised_host, b.listen_port)
}

fn register_request(shared: &BrokerShared) -> RemotingCommand {
    let b = &shared.config.broker;
    let body = RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: shared.topics().to_wrapper(),
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

    /// Registers with every NameServer; true if all accepted.
    pub async fn register_all(&self) -> bool {
        let mut all_ok = true;
        for i in 0..self.addrs.len() {
            match self.invoke(i, register_request(&self.shared)).await {
                Ok(r) if r.code == response_code::SUCCESS => {}
                Ok(r) => {
                    all_ok = false;
                    tracing::warn!(namesrv = %self.addrs[i], code = r.code, remark = ?r.remark, "registration refused");
                }
                Err(e) => {
                    all_ok = false;
                    tracing::warn!(namesrv = %self.addrs[i], error = %e, "registration failed");
                }
            }
        }
        all_ok
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

    /// Registers now, then periodically and after topic changes, forever.
    pub async fn run(self: Rc<Self>) {
        let interval_ms = self.shared.config.broker.register_interval_ms;
        let mut since_ms = u64::MAX;
        loop {
            let dirty = self.shared.topics_dirty.swap(false, Ordering::Relaxed);
            if dirty || since_ms >= interval_ms {
                if !self.register_all().await && dirty {
                    self.shared.topics_dirty.store(true, Ordering::Relaxed);
                }
                since_ms = 0;
            }
            glommio::timer::sleep(DIRTY_CHECK_INTERVAL).await;
            since_ms = since_ms.saturating_add(DIRTY_CHECK_INTERVAL.as_millis() as u64);
        }
    }
}
