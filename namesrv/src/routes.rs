//! The route table: which brokers are alive, which topics they serve, and
//! the per-topic route a client asks for. Pure state, time passed in, so
//! registration, expiry and route building are tested without sockets.
//!
//! Invariants:
//! * every broker address in `brokers` has a liveness entry, and back;
//! * a broker name without addresses is removed, with its queue data;
//! * a topic without queue data is removed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Identifies the connection a registration arrived on, so a closed
/// connection can remove its brokers at once.
pub type ConnId = u64;

/// Default time after which a silent broker is dropped.
pub const DEFAULT_BROKER_TIMEOUT_MS: u64 = 120_000;

/// A broker's view of one of its topics, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    pub read_queue_nums: u32,
    pub write_queue_nums: u32,
    pub perm: i32,
    pub topic_sys_flag: i32,
    pub order: bool,
}

/// One REGISTER_BROKER call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub cluster: String,
    pub broker_name: String,
    pub broker_addr: String,
    pub broker_id: u64,
    pub ha_server_addr: String,
    /// 0 means the default.
    pub timeout_ms: u64,
    /// The broker's complete topic list; replaces what it registered before.
    pub topics: Vec<(String, QueueInfo)>,
}

/// What a registering broker is told back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterOutcome {
    /// The master's address, for a slave (empty for a master or none).
    pub master_addr: String,
    /// The master's HA address, for a slave.
    pub ha_server_addr: String,
}

/// A broker group: one name, a master (id 0) and slaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerGroup {
    pub cluster: String,
    pub name: String,
    pub addrs: BTreeMap<u64, String>,
}

/// A topic's route: queue data per broker name and those brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub queues: Vec<(String, QueueInfo)>,
    pub brokers: Vec<BrokerGroup>,
}

#[derive(Debug, Clone)]
struct Liveness {
    last_seen_ms: u64,
    timeout_ms: u64,
    conn: ConnId,
    broker_name: String,
    ha_server_addr: String,
}

/// All routes known to one NameServer.
#[derive(Debug, Default)]
pub struct RouteTable {
    clusters: BTreeMap<String, BTreeSet<String>>,
    brokers: BTreeMap<String, BrokerGroup>,
    topics: BTreeMap<String, BTreeMap<String, QueueInfo>>,
    live: HashMap<String, Liveness>,
}

impl RouteTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or refreshes) a broker and, for a master, its topics.
    pub fn register(&mut self, reg: Registration, now_ms: u64, conn: ConnId) -> RegisterOutcome {
        let group = self
            .brokers
            .entry(reg.broker_name.clone())
            .or_insert_with(|| BrokerGroup {
                cluster: reg.cluster.clone(),
                name: reg.broker_name.clone(),
                addrs: BTreeMap::new(),
            });
        group.cluster = reg.cluster.clone();
        // An address moving to another id (e.g. slave promoted) leaves its old slot.
        group
            .addrs
            .retain(|id, addr| *id == reg.broker_id || *addr != reg.broker_addr);
        group.addrs.insert(reg.broker_id, reg.broker_addr.clone());
        self.clusters
            .entry(reg.cluster.clone())
            .or_default()
            .insert(reg.broker_name.clone());
        let timeout_ms = if reg.timeout_ms == 0 {
            DEFAULT_BROKER_TIMEOUT_MS
        } else {
            reg.timeout_ms
        };
        self.live.insert(
            reg.broker_addr.clone(),
            Liveness {
                last_seen_ms: now_ms,
                timeout_ms,
                conn,
                broker_name: reg.broker_name.clone(),
                ha_server_addr: reg.ha_server_addr.clone(),
            },
        );
        if reg.broker_id == 0 {
            self.replace_topics(&reg.broker_name, reg.topics);
        }
        self.outcome_for(&reg.broker_name, reg.broker_id)
    }

    fn replace_topics(&mut self, broker_name: &str, topics: Vec<(String, QueueInfo)>) {
        for queues in self.topics.values_mut() {
            queues.remove(broker_name);
        }
        for (topic, info) in topics {
            self.topics
                .entry(topic)
                .or_default()
                .insert(broker_name.to_owned(), info);
        }
        self.topics.retain(|_, queues| !queues.is_empty());
    }

    fn outcome_for(&self, broker_name: &str, broker_id: u64) -> RegisterOutcome {
        if broker_id == 0 {
            return RegisterOutcome::default();
        }
        let master = self.brokers.get(broker_name).and_then(|g| g.addrs.get(&0));
        match master {
            Some(addr) => RegisterOutcome {
                master_addr: addr.clone(),
                ha_server_addr: self
                    .live
                    .get(addr)
                    .map(|l| l.ha_server_addr.clone())
                    .unwrap_or_default(),
            },
            None => RegisterOutcome::default(),
        }
    }

    /// Removes one broker address (UNREGISTER_BROKER).
    pub fn unregister(&mut self, broker_name: &str, broker_addr: &str) -> bool {
        let known = self
            .live
            .get(broker_addr)
            .is_some_and(|l| l.broker_name == broker_name);
        if known {
            self.remove_addr(broker_addr);
        }
        known
    }

    fn remove_addr(&mut self, addr: &str) {
        let Some(live) = self.live.remove(addr) else {
            return;
        };
        let Some(group) = self.brokers.get_mut(&live.broker_name) else {
            return;
        };
        group.addrs.retain(|_, a| a != addr);
        if !group.addrs.is_empty() {
            return;
        }
        let cluster = group.cluster.clone();
        self.brokers.remove(&live.broker_name);
        if let Some(names) = self.clusters.get_mut(&cluster) {
            names.remove(&live.broker_name);
            if names.is_empty() {
                self.clusters.remove(&cluster);
            }
        }
        for queues in self.topics.values_mut() {
            queues.remove(&live.broker_name);
        }
        self.topics.retain(|_, queues| !queues.is_empty());
    }

    /// Drops brokers not seen within their timeout; returns their addresses.
    pub fn expire(&mut self, now_ms: u64) -> Vec<String> {
        let dead: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| now_ms.saturating_sub(l.last_seen_ms) > l.timeout_ms)
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in &dead {
            self.remove_addr(addr);
        }
        dead
    }

    /// Drops the brokers that registered over a now-closed connection.
    pub fn connection_closed(&mut self, conn: ConnId) -> Vec<String> {
        let gone: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| l.conn == conn)
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in &gone {
            self.remove_addr(addr);
        }
        gone
    }

    /// The route of `topic`, if any live broker serves it.
    pub fn route(&self, topic: &str) -> Option<Route> {
        let queues = self.topics.get(topic)?;
        let brokers = queues
            .keys()
            .filter_map(|name| self.brokers.get(name).cloned())
            .collect();
        Some(Route {
            queues: queues
                .iter()
                .map(|(name, q)| (name.clone(), q.clone()))
                .collect(),
            brokers,
        })
    }

    /// All topic names.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics.keys().map(String::as_str)
    }

    /// Topics served by brokers of `cluster`.
    pub fn topics_of_cluster(&self, cluster: &str) -> Vec<String> {
        let Some(names) = self.clusters.get(cluster) else {
            return Vec::new();
        };
        self.topics
            .iter()
            .filter(|(_, queues)| queues.keys().any(|n| names.contains(n)))
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Removes a topic everywhere, or only from the brokers of `cluster`.
    pub fn delete_topic(&mut self, topic: &str, cluster: Option<&str>) -> bool {
        let Some(queues) = self.topics.get_mut(topic) else {
            return false;
        };
        match cluster.and_then(|c| self.clusters.get(c)) {
            Some(names) => queues.retain(|name, _| !names.contains(name)),
            None if cluster.is_none() => queues.clear(),
            None => {}
        }
        if queues.is_empty() {
            self.topics.remove(topic);
        }
        true
    }

    /// Broker groups by name, and cluster → broker names.
    pub fn cluster_info(
        &self,
    ) -> (
        &BTreeMap<String, BrokerGroup>,
        &BTreeMap<String, BTreeSet<String>>,
    ) {
        (&self.brokers, &self.clusters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(queues: u32) -> QueueInfo {
        QueueInfo {
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: 6,
            topic_sys_flag: 0,
            order: false,
        }
    }

    fn reg(name: &str, addr: &str, id: u64, topics: &[&str]) -> Registration {
        Registration {
            cluster: "DefaultCluster".into(),
            broker_name: name.into(),
            broker_addr: addr.into(),
            broker_id: id,
            ha_server_addr: format!("{addr}-ha"),
            timeout_ms: 0,
            topics: topics.iter().map(|t| (t.to_string(), rw(4))).collect(),
        }
    }

    #[test]
    fn route_lists_every_broker_serving_the_topic() {
        let mut t = RouteTable::new();
        t.register(reg("a", "127.0.0.1:10911", 0, &["T", "U"]), 0, 1);
        t.register(reg("b", "127.0.0.1:10921", 0, &["T"]), 0, 2);
        let route = t.route("T").unwrap();
        assert_eq!(route.queues.len(), 2);
        assert_eq!(
            route
                .brokers
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(t.route("U").unwrap().brokers.len(), 1);
        assert!(t.route("nope").is_none());
    }

    #[test]
    fn slave_learns_master_and_does_not_change_topics() {
        let mut t = RouteTable::new();
        t.register(reg("a", "m:1", 0, &["T"]), 0, 1);
        let out = t.register(reg("a", "s:1", 1, &["X"]), 0, 2);
        assert_eq!(out.master_addr, "m:1");
        assert_eq!(out.ha_server_addr, "m:1-ha");
        assert!(t.route("X").is_none());
        let addrs = &t.route("T").unwrap().brokers[0].addrs;
        assert_eq!(addrs.get(&0).map(String::as_str), Some("m:1"));
        assert_eq!(addrs.get(&1).map(String::as_str), Some("s:1"));
    }

    #[test]
    fn re_registration_replaces_the_topic_list() {
        let mut t = RouteTable::new();
        t.register(reg("a", "m:1", 0, &["T", "U"]), 0, 1);
        t.register(reg("a", "m:1", 0, &["T"]), 10, 1);
        assert!(t.route("U").is_none());
        assert!(t.route("T").is_some());
    }

    #[test]
    fn silent_brokers_expire_and_take_their_routes() {
        let mut t = RouteTable::new();
        t.register(reg("a", "m:1", 0, &["T"]), 0, 1);
        t.register(reg("b", "m:2", 0, &["T"]), 0, 2);
        t.register(reg("b", "m:2", 0, &["T"]), 100_000, 2);
        assert!(
            t.expire(120_000).is_empty(),
            "exactly at the timeout is still alive"
        );
        assert_eq!(t.expire(120_001), ["m:1"]);
        let route = t.route("T").unwrap();
        assert_eq!(route.brokers.len(), 1);
        assert_eq!(route.brokers[0].name, "b");
        assert_eq!(t.expire(220_001), ["m:2"]);
        assert!(t.route("T").is_none());
        assert!(t.cluster_info().1.is_empty());
    }

    #[test]
    fn closed_connection_removes_its_brokers_only() {
        let mut t = RouteTable::new();
        t.register(reg("a", "m:1", 0, &["T"]), 0, 7);
        t.register(reg("b", "m:2", 0, &["T"]), 0, 8);
        assert_eq!(t.connection_closed(7), ["m:1"]);
        assert_eq!(t.route("T").unwrap().brokers[0].name, "b");
    }

    #[test]
    fn unregister_needs_the_matching_name() {
        let mut t = RouteTable::new();
        t.register(reg("a", "m:1", 0, &["T"]), 0, 1);
        assert!(!t.unregister("other", "m:1"));
        assert!(t.unregister("a", "m:1"));
        assert!(t.route("T").is_none());
    }

    #[test]
    fn delete_topic_everywhere_or_per_cluster() {
        let mut t = RouteTable::new();
        t.register(reg("a", "m:1", 0, &["T", "U"]), 0, 1);
        let mut other = reg("c", "m:3", 0, &["T"]);
        other.cluster = "Other".into();
        t.register(other, 0, 3);
        assert_eq!(t.topics_of_cluster("Other"), ["T"]);
        assert!(t.delete_topic("T", Some("Other")));
        assert_eq!(t.route("T").unwrap().brokers[0].name, "a");
        assert!(t.delete_topic("U", None));
        assert!(t.route("U").is_none());
        assert!(!t.delete_topic("U", None));
    }

    #[test]
    fn custom_timeout_is_honoured() {
        let mut t = RouteTable::new();
        let mut r = reg("a", "m:1", 0, &["T"]);
        r.timeout_ms = 5_000;
        t.register(r, 0, 1);
        assert_eq!(t.expire(5_001), ["m:1"]);
    }
}
