//! Who is connected: consumer groups (members, their subscriptions) and
//! producer groups, as heartbeats report them. Pure state, time passed in.
//!
//! A member is keyed by its `clientID` (returned verbatim by
//! GET_CONSUMER_LIST_BY_GROUP — clients look for themselves in that list)
//! and remembers the connection it heartbeats on, so membership changes can
//! be pushed (NOTIFY_CONSUMER_IDS_CHANGED) and a closed connection removes it.

use std::collections::BTreeMap;

use bolide_proto::body::{ConsumeFromWhere, HeartbeatData, MessageModel, SubscriptionData};

/// A connection, as the runtime names it: (shard, connection id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnRef {
    pub shard: u16,
    pub conn_id: u64,
}

/// Default time after which a member that stopped heartbeating is dropped.
pub const CLIENT_EXPIRY_MS: u64 = 120_000;

/// One consumer of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub conn: ConnRef,
    pub message_model: MessageModel,
    pub consume_from_where: ConsumeFromWhere,
    /// Topic → subscription.
    pub subscriptions: BTreeMap<String, SubscriptionData>,
    pub last_heartbeat_ms: u64,
}

/// A consumer group whose membership changed, and who to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    pub group: String,
    /// Connections of the group's remaining members.
    pub notify: Vec<ConnRef>,
}

/// All consumer and producer groups.
#[derive(Debug, Default)]
pub struct Groups {
    consumers: BTreeMap<String, BTreeMap<String, Member>>,
    /// Group → client id → (connection, last heartbeat).
    producers: BTreeMap<String, BTreeMap<String, (ConnRef, u64)>>,
}

impl Groups {
    /// Applies a heartbeat. Returns the consumer groups whose membership changed.
    pub fn heartbeat(
        &mut self,
        hb: &HeartbeatData,
        conn: ConnRef,
        now_ms: u64,
    ) -> Vec<MembershipChange> {
        for producer in &hb.producer_data_set {
            let group = self
                .producers
                .entry(producer.group_name.clone())
                .or_default();
            group.insert(hb.client_id.clone(), (conn, now_ms));
        }
        let mut changes = Vec::new();
        for consumer in &hb.consumer_data_set {
            let members = self
                .consumers
                .entry(consumer.group_name.clone())
                .or_default();
            let subscriptions = consumer
                .subscription_data_set
                .iter()
                .map(|s| (s.topic.clone(), s.clone()))
                .collect();
            let member = Member {
                conn,
                message_model: consumer.message_model,
                consume_from_where: consumer.consume_from_where,
                subscriptions,
                last_heartbeat_ms: now_ms,
            };
            let joined = members.insert(hb.client_id.clone(), member).is_none();
            if joined {
                changes.push(change(&consumer.group_name, members));
            }
        }
        changes
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

    /// Removes every client on a closed connection.
    pub fn connection_closed(&mut self, conn: ConnRef) -> Vec<MembershipChange> {
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
        self.consumers
            .get(group)?
            .values()
            .filter_map(|m| m.subscriptions.get(topic).map(|s| (m.last_heartbeat_ms, s)))
            .max_by_key(|(seen, s)| (*seen, s.sub_version))
            .map(|(_, s)| s)
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
    use bolide_proto::body::{ConsumerData, ProducerData};

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
        assert_eq!(
            c,
            [MembershipChange {
                group: "G".into(),
                notify: vec![conn(1)]
            }]
        );
        assert!(g
            .heartbeat(&consumer_hb("c1", "G", "T", "*"), conn(1), 10)
            .is_empty());
        let c = g.heartbeat(&consumer_hb("c2", "G", "T", "*"), conn(2), 20);
        assert_eq!(c[0].notify, [conn(1), conn(2)]);
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
}
