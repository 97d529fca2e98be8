//! What the push and lite pull consumers share on their executor: the
//! NameServer client and the topic routes it returned, the broker links,
//! the client id, and the offset store with its I/O.
//!
//! Routes are cached per topic and refreshed on demand and periodically; a
//! broker name resolves to its master address through any cached route.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::rc::Rc;

use bolide_proto::body::{HeartbeatData, MessageModel, TopicRouteData};
use bolide_proto::ids::QueueOffset;
use bolide_transport::rt;
use bolide_transport::rt::local_channel::{self, LocalReceiver};

use super::broker_client::{BrokerLinks, Notify, ResetRequest};
use super::config::{
    client_id, local_ip_towards, unique_instance_name, ConsumerConfig, LocalOffsets,
};
use super::offset_store::{load_file, offsets_file, save_file, OffsetTable};
use super::rebalance_impl::{allocation, start_point, StartPoint};
use super::ConsumerError;
use crate::nameserver::{NameServerClient, NameServerClientConfig};
use crate::route::{self, MessageQueue};

/// Shared per-consumer state on one executor.
#[derive(Debug)]
pub(crate) struct ConsumerClient {
    pub config: ConsumerConfig,
    pub client_id: String,
    pub namesrv: NameServerClient,
    pub routes: RefCell<BTreeMap<String, TopicRouteData>>,
    pub links: BrokerLinks,
    /// Woken by NOTIFY_CONSUMER_IDS_CHANGED and by callers wanting a
    /// rebalance now.
    pub rebalance: Rc<Notify>,
    /// RESET_CONSUMER_CLIENT_OFFSET requests, in arrival order.
    pub resets: LocalReceiver<ResetRequest>,
}

impl ConsumerClient {
    pub fn new(config: ConsumerConfig) -> Result<Self, ConsumerError> {
        config.validate()?;
        let first = config.namesrv_addrs[0];
        let instance = config
            .instance_name
            .clone()
            .unwrap_or_else(unique_instance_name);
        let ns_config = NameServerClientConfig {
            timeout: config.request_timeout,
            ..NameServerClientConfig::default()
        };
        let namesrv = NameServerClient::new(config.namesrv_addrs.clone(), ns_config)?;
        let rebalance = Rc::new(Notify::new());
        let (resets_tx, resets) = local_channel::new_unbounded();
        Ok(ConsumerClient {
            client_id: client_id(local_ip_towards(first), &instance),
            links: BrokerLinks::new(rebalance.clone(), resets_tx, config.request_timeout),
            resets,
            namesrv,
            routes: RefCell::new(BTreeMap::new()),
            rebalance,
            config,
        })
    }

    /// Fetches `topic`'s route; true if the NameServer knows the topic.
    pub async fn refresh_route(&self, topic: &str) -> Result<bool, ConsumerError> {
        match self.namesrv.topic_route(topic).await? {
            Some(route) => {
                self.routes.borrow_mut().insert(topic.to_owned(), route);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Refreshes every route in `topics`, logging failures.
    pub async fn refresh_routes<'a>(&self, topics: impl IntoIterator<Item = &'a str>) {
        for topic in topics {
            if let Err(e) = self.refresh_route(topic).await {
                tracing::warn!(topic, error = %e, "route refresh failed");
            }
        }
    }

    pub fn has_route(&self, topic: &str) -> bool {
        self.routes.borrow().contains_key(topic)
    }

    /// The readable queues of `topic` (empty without a route).
    pub fn subscribe_queues(&self, topic: &str) -> Vec<MessageQueue> {
        self.routes
            .borrow()
            .get(topic)
            .map(|r| route::subscribe_queues(topic, r))
            .unwrap_or_default()
    }

    /// The master address of `broker_name`, from any cached route.
    pub fn master_addr(&self, broker_name: &str) -> Option<SocketAddr> {
        let routes = self.routes.borrow();
        routes
            .values()
            .find_map(|r| route::master_addr(r, broker_name))
            .and_then(|a| route::parse_addr(a).ok())
    }

    /// Where to pull `mq` and keep its offset: the master of its broker,
    /// or while the route lists none (the master is down) a slave, as
    /// RocketMQ's `findBrokerAddressInSubscribe` does.
    pub fn addr_of(&self, mq: &MessageQueue) -> Result<SocketAddr, ConsumerError> {
        let routes = self.routes.borrow();
        let any = routes
            .values()
            .find_map(|r| route::any_addr(r, &mq.broker_name));
        any.and_then(|a| route::parse_addr(a).ok())
            .ok_or_else(|| ConsumerError::UnknownBroker(mq.broker_name.clone()))
    }

    /// Every broker address (masters and slaves) of the cached routes.
    pub fn broker_addrs(&self) -> BTreeSet<SocketAddr> {
        let routes = self.routes.borrow();
        routes
            .values()
            .flat_map(|r| r.broker_datas.iter())
            .flat_map(|b| b.broker_addrs.values())
            .filter_map(|a| route::parse_addr(a).ok())
            .collect()
    }

    /// Some broker address of `topic`'s route (the first master).
    fn broker_of_topic(&self, topic: &str) -> Option<SocketAddr> {
        let routes = self.routes.borrow();
        let r = routes.get(topic)?;
        r.broker_datas
            .iter()
            .find_map(|b| {
                b.master_addr()
                    .or_else(|| b.broker_addrs.values().next().map(String::as_str))
            })
            .and_then(|a| route::parse_addr(a).ok())
    }

    /// Sends `hb` to every known broker; logs failures.
    pub async fn heartbeat_all(&self, hb: &HeartbeatData) {
        for addr in self.broker_addrs() {
            if let Err(e) = self.links.heartbeat(addr, hb).await {
                tracing::warn!(%addr, error = %e, "heartbeat failed");
            }
        }
    }

    /// Tells every known broker this client is gone; logs failures.
    pub async fn unregister_all(&self) {
        let group = &self.config.group;
        for addr in self.broker_addrs() {
            if let Err(e) = self.links.unregister(addr, &self.client_id, group).await {
                tracing::debug!(%addr, error = %e, "unregister failed");
            }
        }
    }

    /// The queues of `topic` this client should own now.
    pub async fn allocate(&self, topic: &str) -> Result<Vec<MessageQueue>, ConsumerError> {
        let all = self.subscribe_queues(topic);
        let config = &self.config;
        let ids = match config.message_model {
            MessageModel::Broadcasting => Vec::new(),
            MessageModel::Clustering => {
                let addr = self
                    .broker_of_topic(topic)
                    .ok_or_else(|| ConsumerError::NoRoute(topic.to_owned()))?;
                self.links.consumer_ids(addr, &config.group).await?
            }
        };
        let model = config.message_model;
        Ok(allocation(
            model,
            config.allocate,
            &config.group,
            &self.client_id,
            &all,
            &ids,
        ))
    }

    /// Where a newly assigned queue starts: its stored offset, else per
    /// consume-from-where.
    pub async fn start_offset(
        &self,
        mq: &MessageQueue,
        offsets: &Offsets,
    ) -> Result<QueueOffset, ConsumerError> {
        let stored = offsets.fetch(self, mq).await?;
        let addr = self.addr_of(mq)?;
        match start_point(stored, &mq.topic, self.config.consume_from) {
            StartPoint::At(offset) => Ok(offset),
            StartPoint::MaxOffset => Ok(self.links.max_offset(addr, mq).await?),
            StartPoint::Timestamp(ms) => Ok(self.links.search_offset(addr, mq, ms).await?),
        }
    }

    pub fn close(&self) {
        self.links.close_all();
        self.namesrv.close();
    }
}

/// The offset store with its I/O: the broker (clustering) or a local file
/// (broadcasting).
#[derive(Debug)]
pub(crate) struct Offsets {
    table: RefCell<OffsetTable>,
    /// Broadcasting with a directory: the file.
    file: Option<std::path::PathBuf>,
    remote: bool,
}

impl Offsets {
    /// Loads the local file of a broadcasting consumer.
    pub fn open(config: &ConsumerConfig) -> Result<Self, ConsumerError> {
        let remote = config.message_model == MessageModel::Clustering;
        let file = match (&config.local_offsets, remote) {
            (LocalOffsets::Dir(dir), false) => Some(offsets_file(dir, &config.group)),
            _ => None,
        };
        let table = match &file {
            Some(path) => load_file(path).map_err(ConsumerError::OffsetFile)?,
            None => OffsetTable::default(),
        };
        Ok(Offsets {
            table: RefCell::new(table),
            file,
            remote,
        })
    }

    /// The in-memory offset of `mq`.
    pub fn get(&self, mq: &MessageQueue) -> Option<QueueOffset> {
        self.table.borrow().get(mq)
    }

    pub fn update(&self, mq: &MessageQueue, offset: QueueOffset, increase_only: bool) {
        self.table.borrow_mut().update(mq, offset, increase_only);
    }

    pub fn remove(&self, mq: &MessageQueue) {
        self.table.borrow_mut().remove(mq);
    }

    /// Before (re)assigning `mq`: a clustering consumer forgets its stale
    /// in-memory offset (the broker's is the truth, another member may
    /// have moved it); a local store keeps it — it *is* the truth.
    pub fn forget_stale(&self, mq: &MessageQueue) {
        if self.remote {
            self.remove(mq);
        }
    }

    /// The stored offset: asked of the broker (clustering), else the table.
    pub async fn fetch(
        &self,
        client: &ConsumerClient,
        mq: &MessageQueue,
    ) -> Result<Option<QueueOffset>, ConsumerError> {
        if !self.remote {
            return Ok(self.get(mq));
        }
        let addr = client.addr_of(mq)?;
        Ok(client
            .links
            .query_offset(addr, &client.config.group, mq)
            .await?)
    }

    /// Commits the offset of each queue in `mqs` that has one: oneway
    /// to the broker, or the whole table to the file.
    pub async fn persist(
        &self,
        client: &ConsumerClient,
        mqs: &[MessageQueue],
        oneway: bool,
    ) -> Result<(), ConsumerError> {
        if !self.remote {
            return self.save();
        }
        let mut first_error = None;
        for mq in mqs {
            let Some(offset) = self.get(mq) else { continue };
            let result = match client.addr_of(mq) {
                Ok(addr) => client
                    .links
                    .update_offset(addr, &client.config.group, mq, offset, oneway)
                    .await
                    .map_err(ConsumerError::from),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(%mq, error = %e, "offset commit failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn save(&self) -> Result<(), ConsumerError> {
        match &self.file {
            Some(path) => save_file(path, &self.table.borrow()).map_err(ConsumerError::OffsetFile),
            None => Ok(()),
        }
    }
}

/// A consumer whose background tasks end once it stops.
pub(crate) trait Stoppable {
    fn is_stopped(&self) -> bool;
}

/// Spawns `job` every `interval` until `owner` stops.
pub(crate) fn spawn_every<T: Stoppable + 'static>(
    owner: &Rc<T>,
    interval: std::time::Duration,
    job: fn(Rc<T>) -> futures_lite::future::BoxedLocal<()>,
) -> rt::JoinHandle<()> {
    let owner = owner.clone();
    rt::spawn_local(async move {
        loop {
            rt::sleep(interval).await;
            if owner.is_stopped() {
                return;
            }
            job(owner.clone()).await;
        }
    })
    .detach()
}
