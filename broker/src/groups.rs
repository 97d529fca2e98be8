//! Who is connected: consumer groups (members, their subscriptions) and
//! producer groups, as heartbeats report them. Pure state, time passed in.
//!
//! A member is keyed by its `clientID` (returned verbatim by
//! GET_CONSUMER_LIST_BY_GROUP — clients look for themselves in that list)
//! and remembers the connection it heartbeats on, so membership changes can
//! be pushed (NOTIFY_CONSUMER_IDS_CHANGED) and a closed connection removes it.
//!
//! Each subscription's expression is compiled when its member heartbeats
//! it first or changes it ([`Member::filters`]); pulls and long polls use
//! the compiled filter. An expression that does not compile is kept as
//! its error, and pulls relying on it are refused, as RocketMQ answers
//! FILTER_DATA_NOT_EXIST while the heartbeat itself succeeds.
//!
//! Limits (a heartbeat past one is refused whole, nothing applied), each a
//! `[broker]` config key: at most `max_groups_per_heartbeat` consumer groups
//! and as many producer groups per heartbeat,
//! `max_subscriptions_per_heartbeat` subscriptions over all of a heartbeat's
//! groups ([`HeartbeatLimits`]), and `max_subscription_groups` consumer
//! groups with live members ([`Groups::admits`]). RocketMQ has no such
//! limits; real clients stay far below the defaults.

use std::collections::BTreeMap;

use bolide_proto::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, HeartbeatData, MessageModel, SubscriptionData,
};

use crate::config::BrokerSection;
use crate::filter::{FilterError, MessageFilter};

/// A subscription's compiled expression, or why it does not compile.
pub type CompiledFilter = Result<MessageFilter, FilterError>;

/// A connection, as the runtime names it: (shard, connection id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnRef {
    pub shard: u16,
    pub conn_id: u64,
}

/// Default time after which a member that stopped heartbeating is dropped.
pub const CLIENT_EXPIRY_MS: u64 = 120_000;
/// Default of `broker.max_groups_per_heartbeat`.
pub const MAX_GROUPS_PER_HEARTBEAT: usize = 4096;
/// Default of `broker.max_subscriptions_per_heartbeat`.
pub const MAX_SUBSCRIPTIONS_PER_CLIENT: usize = 8192;

/// What one heartbeat may carry (from the `[broker]` config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatLimits {
    /// Consumer groups, and separately producer groups.
    pub max_groups: usize,
    /// Subscriptions summed over the consumer groups.
    pub max_subscriptions: usize,
}

impl HeartbeatLimits {
    pub fn of(config: &BrokerSection) -> Self {
        HeartbeatLimits {
            max_groups: config.max_groups_per_heartbeat,
            max_subscriptions: config.max_subscriptions_per_heartbeat,
        }
    }
}

impl Default for HeartbeatLimits {
    fn default() -> Self {
        HeartbeatLimits {
            max_groups: MAX_GROUPS_PER_HEARTBEAT,
            max_subscriptions: MAX_SUBSCRIPTIONS_PER_CLIENT,
        }
    }
}

/// Checks what one heartbeat may carry; the remark names the limit it
/// passed and the config key that sets it.
pub fn check_heartbeat_size(hb: &HeartbeatData, limits: HeartbeatLimits) -> Result<(), String> {
    let client = &hb.client_id;
    let consumers = hb.consumer_data_set.len();
    let producers = hb.producer_data_set.len();
    let max_groups = limits.max_groups;
    for (count, kind) in [(consumers, "consumer"), (producers, "producer")] {
        if count > max_groups {
            return Err(format!(
                "heartbeat of client {client} names {count} {kind} groups; \
                 the limit is {max_groups} per client (broker.max_groups_per_heartbeat)"
            ));
        }
    }
    let subscriptions: usize = hb
        .consumer_data_set
        .iter()
        .map(|c| c.subscription_data_set.len())
        .sum();
    let max_subscriptions = limits.max_subscriptions;
    if subscriptions > max_subscriptions {
        return Err(format!(
            "heartbeat of client {client} carries {subscriptions} subscriptions; the limit \
             is {max_subscriptions} per client (broker.max_subscriptions_per_heartbeat)"
        ));
    }
    Ok(())
}

/// One consumer of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub conn: ConnRef,
    pub consume_type: ConsumeType,
    pub message_model: MessageModel,
    pub consume_from_where: ConsumeFromWhere,
    /// Topic → subscription.
    pub subscriptions: BTreeMap<String, SubscriptionData>,
    /// Topic → the subscription's compiled expression.
    pub filters: BTreeMap<String, CompiledFilter>,
    pub last_heartbeat_ms: u64,
}

impl Member {
    /// Compiles `subscriptions`, reusing what `previous` (the member's
    /// last heartbeat) compiled for an unchanged expression.
    fn compile(
        subscriptions: &BTreeMap<String, SubscriptionData>,
        previous: Option<&Member>,
    ) -> BTreeMap<String, CompiledFilter> {
        let unchanged = |topic: &str, sub: &SubscriptionData| {
            let prev = previous?;
            let old = prev.subscriptions.get(topic)?;
            let same =
                old.sub_string == sub.sub_string && old.expression_type == sub.expression_type;
            same.then(|| prev.filters.get(topic).cloned()).flatten()
        };
        subscriptions
            .iter()
            .map(|(topic, sub)| {
                let compiled = unchanged(topic, sub).unwrap_or_else(|| {
                    MessageFilter::parse(&sub.sub_string, Some(sub.expression_type.as_str()))
                });
                (topic.clone(), compiled)
            })
            .collect()
    }
}

/// A consumer group whose membership changed, and who to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    pub group: String,
    /// Connections of the group's remaining members.
    pub notify: Vec<ConnRef>,
}

/// What a client's heartbeat says of itself, for the connection lists
/// (GET_CONSUMER_CONNECTION_LIST, GET_PRODUCER_CONNECTION_LIST).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientInfo {
    /// `ip:port` of its connection.
    pub addr: String,
    /// `LanguageCode` name of its heartbeat.
    pub language: String,
    /// `MQVersion` ordinal of its heartbeat.
    pub version: i32,
}

/// All consumer and producer groups.
#[derive(Debug, Default)]
pub struct Groups {
    consumers: BTreeMap<String, BTreeMap<String, Member>>,
    /// Group → client id → (connection, last heartbeat).
    producers: BTreeMap<String, BTreeMap<String, (ConnRef, u64)>>,
    /// Per connection (one client each): what its last heartbeat said.
    /// Bounded by the connections; dropped when one closes.
    clients: BTreeMap<ConnRef, ClientInfo>,
}

impl Groups {
    /// Applies a heartbeat. Returns the consumer groups whose membership changed.
    pub fn heartbeat(
        &mut self,
        hb: &HeartbeatData,
        conn: ConnRef,
        now_ms: u64,
    ) -> Vec<MembershipChange> {
        self.producers_seen(hb, conn, now_ms);
        self.consumers_seen(&hb.client_id, &hb.consumer_data_set, conn, now_ms)
    }

    /// The producer half of a heartbeat.
    pub fn producers_seen(&mut self, hb: &HeartbeatData, conn: ConnRef, now_ms: u64) {
        for producer in &hb.producer_data_set {
            let group = self
                .producers
                .entry(producer.group_name.clone())
                .or_default();
            group.insert(hb.client_id.clone(), (conn, now_ms));
        }
    }

    /// The consumer half of a heartbeat (or a slice of it). A join changes
    /// membership for the members already there; a client alone in a new
    /// group is not told about itself (it rebalances at start anyway).
    pub fn consumers_seen(
        &mut self,
        client_id: &str,
        consumers: &[ConsumerData],
        conn: ConnRef,
        now_ms: u64,
    ) -> Vec<MembershipChange> {
        let mut changes = Vec::new();
        for consumer in consumers {
            let members = self
                .consumers
                .entry(consumer.group_name.clone())
                .or_default();
            let subscriptions = consumer
                .subscription_data_set
                .iter()
                .map(|s| (s.topic.clone(), s.clone()))
                .collect();
            let filters = Member::compile(&subscriptions, members.get(client_id));
            let member = Member {
                conn,
                consume_type: consumer.consume_type,
                message_model: consumer.message_model,
                consume_from_where: consumer.consume_from_where,
                subscriptions,
                filters,
                last_heartbeat_ms: now_ms,
            };
            let joined = members.insert(client_id.to_owned(), member).is_none();
            if joined && members.len() > 1 {
                changes.push(change(&consumer.group_name, members));
            }
        }
        changes
    }

    /// Whether `hb` may be applied without passing `max_groups` consumer
    /// groups with members (`broker.max_subscription_groups`).
    pub fn admits(&self, hb: &HeartbeatData, max_groups: usize) -> Result<(), String> {
        let mut new: Vec<&str> = hb
            .consumer_data_set
            .iter()
            .map(|c| c.group_name.as_str())
            .filter(|g| !self.consumers.contains_key(*g))
            .collect();
        new.sort_unstable();
        new.dedup();
        let have = self.consumers.len();
        if have + new.len() > max_groups {
            return Err(format!(
                "consumer group [{}] cannot join: {have} groups have members, adding {} \
                 would pass the limit of {max_groups} (broker.max_subscription_groups)",
                new.first().copied().unwrap_or_default(),
                new.len()
            ));
        }
        Ok(())
    }

    /// Removes a client from the named groups (UNREGISTER_CLIENT); empty names are ignored.
    pub fn unregister(
        &mut self,
        client_id: &str,
        producer_group: &str,
        consumer_group: &str,
    ) -> Vec<MembershipChange> {
        if let Some(group) = self.producers.get_mut(producer_group) {
            group.remove(client_id);
        }
        let mut changes = Vec::new();
        if let Some(members) = self.consumers.get_mut(consumer_group) {
            if members.remove(client_id).is_some() {
                changes.push(change(consumer_group, members));
            }
        }
        self.drop_empty();
        changes
    }

    /// Records what a connection's client says of itself.
    pub fn client_seen(&mut self, conn: ConnRef, info: ClientInfo) {
        if self.clients.get(&conn) != Some(&info) {
            self.clients.insert(conn, info);
        }
    }

    /// What the client on `conn` said of itself (default if nothing).
    pub fn client_info(&self, conn: ConnRef) -> ClientInfo {
        self.clients.get(&conn).cloned().unwrap_or_default()
    }

    /// Client ids and connections of a producer group, by client id.
    pub fn producers(&self, group: &str) -> Vec<(String, ConnRef)> {
        let members = self.producers.get(group).into_iter().flatten();
        members.map(|(id, (conn, _))| (id.clone(), *conn)).collect()
    }

    /// The connection of one consumer of a group.
    pub fn consumer_conn(&self, group: &str, client_id: &str) -> Option<ConnRef> {
        Some(self.consumers.get(group)?.get(client_id)?.conn)
    }

    /// Removes every client on a closed connection.
    pub fn connection_closed(&mut self, conn: ConnRef) -> Vec<MembershipChange> {
        self.clients.remove(&conn);
        self.remove_where(|c, _| c == conn)
    }

    /// Removes clients silent for longer than `expiry_ms`.
    pub fn expire(&mut self, now_ms: u64, expiry_ms: u64) -> Vec<MembershipChange> {
        self.remove_where(|_, seen| now_ms.saturating_sub(seen) > expiry_ms)
    }

    fn remove_where(&mut self, gone: impl Fn(ConnRef, u64) -> bool) -> Vec<MembershipChange> {
        for group in self.producers.values_mut() {
            group.retain(|_, (c, seen)| !gone(*c, *seen));
        }
        let mut changes = Vec::new();
        for (name, members) in self.consumers.iter_mut() {
            let before = members.len();
            members.retain(|_, m| !gone(m.conn, m.last_heartbeat_ms));
            if members.len() != before {
                changes.push(change(name, members));
            }
        }
        self.drop_empty();
        changes
    }

    fn drop_empty(&mut self) {
        self.consumers.retain(|_, m| !m.is_empty());
        self.producers.retain(|_, m| !m.is_empty());
    }

    /// Client ids of a consumer group, sorted.
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        self.consumers
            .get(group)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The subscription of `group` to `topic` (newest heartbeat wins when
    /// members disagree, as Java keeps the latest).
    pub fn subscription(&self, group: &str, topic: &str) -> Option<&SubscriptionData> {
        self.subscription_filter(group, topic).map(|(s, _)| s)
    }

    /// [`Self::subscription`] with its compiled expression.
    pub fn subscription_filter(
        &self,
        group: &str,
        topic: &str,
    ) -> Option<(&SubscriptionData, &CompiledFilter)> {
        let (_, member, sub) = self
            .consumers
            .get(group)?
            .values()
            .filter_map(|m| {
                m.subscriptions
                    .get(topic)
                    .map(|s| (m.last_heartbeat_ms, m, s))
            })
            .max_by_key(|(seen, _, s)| (*seen, s.sub_version))?;
        Some((sub, member.filters.get(topic)?))
    }

    /// Members of a consumer group.
    pub fn members(&self, group: &str) -> Option<&BTreeMap<String, Member>> {
        self.consumers.get(group)
    }

    /// Consumer group names.
    pub fn consumer_groups(&self) -> impl Iterator<Item = &str> {
        self.consumers.keys().map(String::as_str)
    }

    /// A live connection of a producer group (for transaction check-back).
    pub fn producer_conn(&self, group: &str) -> Option<ConnRef> {
        self.producers
            .get(group)?
            .values()
            .max_by_key(|(_, seen)| *seen)
            .map(|(c, _)| *c)
    }
}

fn change(group: &str, members: &BTreeMap<String, Member>) -> MembershipChange {
    let mut notify: Vec<ConnRef> = members.values().map(|m| m.conn).collect();
    notify.sort();
    notify.dedup();
    MembershipChange {
        group: group.to_owned(),
        notify,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolide_proto::body::ProducerData;

    fn conn(id: u64) -> ConnRef {
        ConnRef {
            shard: 0,
            conn_id: id,
        }
    }

    fn consumer_hb(client: &str, group: &str, topic: &str, expr: &str) -> HeartbeatData {
        let sub = SubscriptionData {
            topic: topic.into(),
            sub_string: expr.into(),
            sub_version: 1,
            ..SubscriptionData::default()
        };
        HeartbeatData {
            client_id: client.into(),
            consumer_data_set: vec![ConsumerData {
                group_name: group.into(),
                subscription_data_set: vec![sub],
                ..ConsumerData::default()
            }],
            ..HeartbeatData::default()
        }
    }

    #[test]
    fn joining_members_change_membership_once() {
        let mut g = Groups::default();
        let c = g.heartbeat(&consumer_hb("c1", "G", "T", "*"), conn(1), 0);
        assert!(c.is_empty(), "alone in a new group: nobody to tell");
        assert_eq!(g.consumer_ids("G"), ["c1"]);
        assert!(g
            .heartbeat(&consumer_hb("c1", "G", "T", "*"), conn(1), 10)
            .is_empty());
        let c = g.heartbeat(&consumer_hb("c2", "G", "T", "*"), conn(2), 20);
        assert_eq!(
            c,
            [MembershipChange {
                group: "G".into(),
                notify: vec![conn(1), conn(2)]
            }]
        );
        assert_eq!(g.consumer_ids("G"), ["c1", "c2"]);
    }

    #[test]
    fn leaving_by_unregister_close_or_expiry() {
        let mut g = Groups::default();
        g.heartbeat(&consumer_hb("c1", "G", "T", "*"), conn(1), 0);
        g.heartbeat(&consumer_hb("c2", "G", "T", "*"), conn(2), 0);
        g.heartbeat(&consumer_hb("c3", "G", "T", "*"), conn(3), 100_000);
        let c = g.unregister("c1", "", "G");
        assert_eq!(c[0].notify, [conn(2), conn(3)]);
        let c = g.connection_closed(conn(2));
        assert_eq!(c[0].notify, [conn(3)]);
        assert!(g.expire(200_000, CLIENT_EXPIRY_MS).is_empty());
        let c = g.expire(220_001, CLIENT_EXPIRY_MS);
        assert!(c[0].notify.is_empty());
        assert!(g.consumer_ids("G").is_empty());
        assert_eq!(g.consumer_groups().count(), 0);
    }

    #[test]
    fn subscription_of_the_latest_heartbeat_wins() {
        let mut g = Groups::default();
        g.heartbeat(&consumer_hb("c1", "G", "T", "TagA"), conn(1), 0);
        g.heartbeat(&consumer_hb("c2", "G", "T", "TagB"), conn(2), 5);
        assert_eq!(g.subscription("G", "T").unwrap().sub_string, "TagB");
        assert!(g.subscription("G", "U").is_none());
    }

    #[test]
    fn heartbeat_size_limits_name_the_limit_and_its_key() {
        let limits = HeartbeatLimits::default();
        let mut hb = consumer_hb("c1", "G", "T", "*");
        assert!(check_heartbeat_size(&hb, limits).is_ok());
        let one = hb.consumer_data_set[0].clone();
        hb.consumer_data_set = vec![one.clone(); MAX_GROUPS_PER_HEARTBEAT + 1];
        let why = check_heartbeat_size(&hb, limits).unwrap_err();
        assert!(why.contains("4097 consumer groups"), "{why}");
        assert!(why.contains("broker.max_groups_per_heartbeat"), "{why}");
        let mut wide = one;
        wide.subscription_data_set = vec![wide.subscription_data_set[0].clone(); 3000];
        hb.consumer_data_set = vec![wide; 3];
        let why = check_heartbeat_size(&hb, limits).unwrap_err();
        assert!(why.contains("9000 subscriptions"), "{why}");
        assert!(
            why.contains("broker.max_subscriptions_per_heartbeat"),
            "{why}"
        );
        hb.consumer_data_set.clear();
        hb.producer_data_set = vec![ProducerData::default(); MAX_GROUPS_PER_HEARTBEAT + 1];
        let why = check_heartbeat_size(&hb, limits).unwrap_err();
        assert!(why.contains("producer"), "{why}");
    }

    #[test]
    fn heartbeat_limits_follow_the_config() {
        let mut config = BrokerSection::default();
        assert_eq!(HeartbeatLimits::of(&config), HeartbeatLimits::default());
        config.max_groups_per_heartbeat = 2;
        config.max_subscriptions_per_heartbeat = 3;
        let limits = HeartbeatLimits::of(&config);
        let mut hb = consumer_hb("c1", "G", "T", "*");
        let one = hb.consumer_data_set[0].clone();
        hb.consumer_data_set = vec![one.clone(); 2];
        assert!(check_heartbeat_size(&hb, limits).is_ok());
        hb.consumer_data_set = vec![one.clone(); 3];
        let why = check_heartbeat_size(&hb, limits).unwrap_err();
        assert!(why.contains("the limit is 2"), "{why}");
        let mut wide = one;
        wide.subscription_data_set = vec![wide.subscription_data_set[0].clone(); 2];
        hb.consumer_data_set = vec![wide; 2];
        let why = check_heartbeat_size(&hb, limits).unwrap_err();
        assert!(
            why.contains("4 subscriptions") && why.contains("is 3"),
            "{why}"
        );
    }

    #[test]
    fn new_groups_are_admitted_up_to_the_limit() {
        let mut g = Groups::default();
        g.heartbeat(&consumer_hb("c1", "G1", "T", "*"), conn(1), 0);
        g.heartbeat(&consumer_hb("c2", "G2", "T", "*"), conn(2), 0);
        assert!(g.admits(&consumer_hb("c3", "G1", "T", "*"), 2).is_ok());
        let why = g.admits(&consumer_hb("c3", "G3", "T", "*"), 2).unwrap_err();
        assert!(why.contains("G3") && why.contains("limit of 2"), "{why}");
        assert!(why.contains("broker.max_subscription_groups"), "{why}");
        assert!(g.admits(&consumer_hb("c3", "G3", "T", "*"), 3).is_ok());
    }

    #[test]
    fn producers_are_tracked_for_check_back() {
        let mut g = Groups::default();
        let hb = HeartbeatData {
            client_id: "p1".into(),
            producer_data_set: vec![ProducerData {
                group_name: "PG".into(),
            }],
            ..HeartbeatData::default()
        };
        assert!(g.heartbeat(&hb, conn(9), 0).is_empty());
        assert_eq!(g.producer_conn("PG"), Some(conn(9)));
        g.unregister("p1", "PG", "");
        assert_eq!(g.producer_conn("PG"), None);
    }

    #[test]
    fn expressions_compile_once_per_change() {
        let mut g = Groups::default();
        let mut hb = consumer_hb("c1", "G", "T", "a > 1");
        hb.consumer_data_set[0].subscription_data_set[0].expression_type = "SQL92".into();
        g.heartbeat(&hb, conn(1), 0);
        let first = match g.subscription_filter("G", "T").unwrap().1 {
            Ok(MessageFilter::Sql92(sql)) => sql.clone(),
            other => panic!("{other:?}"),
        };
        g.heartbeat(&hb, conn(1), 10);
        match g.subscription_filter("G", "T").unwrap().1 {
            Ok(MessageFilter::Sql92(sql)) => assert!(std::sync::Arc::ptr_eq(sql, &first)),
            other => panic!("{other:?}"),
        }
        let sub = &mut hb.consumer_data_set[0].subscription_data_set[0];
        sub.sub_string = "a >".into();
        sub.sub_version = 2;
        g.heartbeat(&hb, conn(1), 20);
        let (sub, compiled) = g.subscription_filter("G", "T").unwrap();
        assert_eq!(sub.sub_version, 2);
        assert!(compiled.as_ref().unwrap_err().0.contains("column 4"));
    }

    #[test]
    fn client_info_lives_as_long_as_its_connection() {
        let mut g = Groups::default();
        let info = ClientInfo {
            addr: "127.0.0.1:5000".into(),
            language: "CPP".into(),
            version: 333,
        };
        g.client_seen(conn(1), info.clone());
        g.heartbeat(&consumer_hb("c1", "G", "T", "*"), conn(1), 0);
        let mut hb = HeartbeatData {
            client_id: "p1".into(),
            ..HeartbeatData::default()
        };
        hb.producer_data_set.push(bolide_proto::body::ProducerData {
            group_name: "PG".into(),
        });
        g.heartbeat(&hb, conn(2), 0);
        assert_eq!(g.client_info(conn(1)), info);
        assert_eq!(g.consumer_conn("G", "c1"), Some(conn(1)));
        assert_eq!(g.consumer_conn("G", "c2"), None);
        assert_eq!(g.producers("PG"), vec![("p1".to_owned(), conn(2))]);
        assert!(g.producers("Other").is_empty());
        g.connection_closed(conn(1));
        assert_eq!(g.client_info(conn(1)), ClientInfo::default());
        assert_eq!(g.consumer_conn("G", "c1"), None);
    }
}
