//! Topic routes → the queues a client may use (remoting.md §4.1, §6.7).
//!
//! A [`TopicRouteData`] from the NameServer lists, per broker name, how many
//! read and write queues a topic has and their permission bits, plus the
//! broker addresses (id 0 = master). From it a client derives:
//!
//! * publish queues ([`publish_info`]): `writeQueueNums` queues of each broker
//!   name whose perm has WRITE **and** that has a master address (only a
//!   master accepts sends). When `orderTopicConf` (`"brokerA:4;brokerB:4"`)
//!   is present it replaces the queue data, as in the Java and C++ clients.
//! * subscribe queues ([`subscribe_queues`]): `readQueueNums` queues of each
//!   broker name whose perm has READ (slaves serve reads: no master needed).
//!
//! Invariants: no queue appears twice; queue-data results are sorted (the
//! order RocketMQ gets by sorting queue data by broker name), while an
//! `orderTopicConf` keeps its written order, since ordered sends map keys to
//! positions in it. No broker contributes more than [`MAX_QUEUES_PER_BROKER`]
//! queues, so a corrupt route cannot make the client allocate without bound.

use std::fmt;
use std::net::SocketAddr;

use bolide_proto::body::{self, BrokerData, TopicRouteData};
use bolide_proto::codes::perm;
use bolide_proto::ids::QueueId;

use crate::error::ClientError;

/// Queues taken from one broker name at most (larger counts are clamped).
pub const MAX_QUEUES_PER_BROKER: u32 = 4096;

/// One queue of a topic on a broker name. Orders by topic, broker name, then
/// queue id, like Java's `MessageQueue.compareTo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageQueue {
    pub topic: String,
    pub broker_name: String,
    pub queue_id: QueueId,
}

impl MessageQueue {
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: u32) -> Self {
        MessageQueue {
            topic: topic.into(),
            broker_name: broker_name.into(),
            queue_id: QueueId(queue_id),
        }
    }

    /// The wire form (LOCK_BATCH_MQ bodies and the like). Queue ids above
    /// `i32::MAX` cannot exist on the wire; they saturate.
    pub fn to_wire(&self) -> body::MessageQueue {
        body::MessageQueue {
            broker_name: self.broker_name.clone(),
            queue_id: i32::try_from(self.queue_id.0).unwrap_or(i32::MAX),
            topic: self.topic.clone(),
        }
    }

    /// From the wire form; `None` for a negative queue id.
    pub fn from_wire(mq: &body::MessageQueue) -> Option<Self> {
        let queue_id = u32::try_from(mq.queue_id).ok()?;
        Some(MessageQueue::new(&mq.topic, &mq.broker_name, queue_id))
    }
}

impl fmt::Display for MessageQueue {
    /// Java's `toString`, so logs read alike.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MessageQueue [topic={}, brokerName={}, queueId={}]",
            self.topic, self.broker_name, self.queue_id
        )
    }
}

/// The queues a producer may send a topic's messages to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicPublishInfo {
    /// Built from `orderTopicConf`: keep the key → queue mapping stable.
    pub ordered: bool,
    pub queues: Vec<MessageQueue>,
}

impl TopicPublishInfo {
    /// Whether there is at least one queue to send to.
    pub fn is_ok(&self) -> bool {
        !self.queues.is_empty()
    }
}

/// Publish queues of `topic` from its route.
pub fn publish_info(topic: &str, route: &TopicRouteData) -> TopicPublishInfo {
    let order_conf = route
        .order_topic_conf
        .as_deref()
        .filter(|c| !c.trim().is_empty());
    match order_conf {
        Some(conf) => TopicPublishInfo {
            ordered: true,
            queues: order_conf_queues(topic, conf),
        },
        None => TopicPublishInfo {
            ordered: false,
            queues: perm_queues(topic, route, Access::Write),
        },
    }
}

/// Subscribe (readable) queues of `topic` from its route.
pub fn subscribe_queues(topic: &str, route: &TopicRouteData) -> Vec<MessageQueue> {
    perm_queues(topic, route, Access::Read)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

fn perm_queues(topic: &str, route: &TopicRouteData, access: Access) -> Vec<MessageQueue> {
    let mut queues = Vec::new();
    for data in &route.queue_datas {
        let count = match access {
            Access::Write if perm::is_writeable(data.perm) => {
                if master_addr(route, &data.broker_name).is_none() {
                    continue;
                }
                data.write_queue_nums
            }
            Access::Read if perm::is_readable(data.perm) => data.read_queue_nums,
            _ => continue,
        };
        queues.extend(queue_range(topic, &data.broker_name, clamp_count(count)));
    }
    queues.sort();
    queues.dedup();
    queues
}

/// `"brokerA:4;brokerB:4"`; malformed entries and repeated broker names are
/// skipped (Java would throw on the former and duplicate the latter).
fn order_conf_queues(topic: &str, conf: &str) -> Vec<MessageQueue> {
    let mut seen: Vec<&str> = Vec::new();
    let mut queues = Vec::new();
    for (broker, count) in conf.split(';').filter_map(parse_order_entry) {
        if seen.contains(&broker) {
            continue;
        }
        seen.push(broker);
        queues.extend(queue_range(topic, broker, count.min(MAX_QUEUES_PER_BROKER)));
    }
    queues
}

fn parse_order_entry(entry: &str) -> Option<(&str, u32)> {
    let (broker, count) = entry.trim().split_once(':')?;
    let broker = broker.trim();
    let count = count.trim().parse().ok()?;
    (!broker.is_empty()).then_some((broker, count))
}

fn clamp_count(count: i32) -> u32 {
    u32::try_from(count).unwrap_or(0).min(MAX_QUEUES_PER_BROKER)
}

fn queue_range<'a>(
    topic: &'a str,
    broker: &'a str,
    count: u32,
) -> impl Iterator<Item = MessageQueue> + 'a {
    (0..count).map(move |id| MessageQueue::new(topic, broker, id))
}

/// The [`BrokerData`] of `broker_name` in `route`.
pub fn broker_data<'a>(route: &'a TopicRouteData, broker_name: &str) -> Option<&'a BrokerData> {
    route
        .broker_datas
        .iter()
        .find(|b| b.broker_name == broker_name)
}

/// The master's (`brokerId` 0) address of `broker_name`: where sends go.
pub fn master_addr<'a>(route: &'a TopicRouteData, broker_name: &str) -> Option<&'a str> {
    broker_data(route, broker_name)?.master_addr()
}

/// The master's address, or else the lowest-id slave's: where reads and
/// queries may go when the master is down.
pub fn any_addr<'a>(route: &'a TopicRouteData, broker_name: &str) -> Option<&'a str> {
    let broker = broker_data(route, broker_name)?;
    let first = broker.broker_addrs.values().next().map(String::as_str);
    broker.master_addr().or(first)
}

/// Parses an `ip:port` address as routes and NameServer lists spell it;
/// an operator's `host:port` is resolved.
pub fn parse_addr(addr: &str) -> Result<SocketAddr, ClientError> {
    bolide_transport::cli::resolve_addr(addr).map_err(|_| ClientError::InvalidAddr {
        addr: addr.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bolide_proto::body::QueueData;

    use super::*;

    const RW: i32 = perm::READ_WRITE;
    const R: i32 = perm::READ;
    const W: i32 = perm::WRITE;

    /// `queues`: (broker, perm, read, write); `brokers`: (broker, [(id, addr)]).
    fn route(
        queues: &[(&str, i32, i32, i32)],
        brokers: &[(&str, &[(i64, &str)])],
    ) -> TopicRouteData {
        let queue_datas = queues
            .iter()
            .map(|&(name, perm, read, write)| QueueData {
                broker_name: name.into(),
                perm,
                read_queue_nums: read,
                write_queue_nums: write,
                topic_sys_flag: 0,
            })
            .collect();
        let broker_datas = brokers
            .iter()
            .map(|&(name, addrs)| BrokerData {
                broker_addrs: addrs
                    .iter()
                    .map(|&(id, a)| (id, a.to_owned()))
                    .collect::<BTreeMap<_, _>>(),
                broker_name: name.into(),
                ..BrokerData::default()
            })
            .collect();
        TopicRouteData {
            queue_datas,
            broker_datas,
            ..TopicRouteData::default()
        }
    }

    fn ids(queues: &[MessageQueue]) -> Vec<(&str, u32)> {
        queues
            .iter()
            .map(|q| (q.broker_name.as_str(), q.queue_id.0))
            .collect()
    }

    const MASTER_A: (&str, &[(i64, &str)]) = ("a", &[(0, "10.0.0.1:10911")]);
    const MASTER_B: (&str, &[(i64, &str)]) = ("b", &[(0, "10.0.0.2:10911"), (1, "10.0.0.3:10911")]);
    const SLAVE_ONLY_B: (&str, &[(i64, &str)]) = ("b", &[(1, "10.0.0.3:10911")]);

    #[test]
    fn publish_and_subscribe_queues_follow_perm_and_master() {
        type Case<'a> = (
            &'a str,
            TopicRouteData,
            Vec<(&'a str, u32)>,
            Vec<(&'a str, u32)>,
        );
        let cases: Vec<Case> = vec![
            (
                "two rw brokers, sorted by name",
                route(&[("b", RW, 1, 2), ("a", RW, 2, 1)], &[MASTER_A, MASTER_B]),
                vec![("a", 0), ("b", 0), ("b", 1)],
                vec![("a", 0), ("a", 1), ("b", 0)],
            ),
            (
                "read-only and write-only",
                route(&[("a", R, 2, 2), ("b", W, 2, 2)], &[MASTER_A, MASTER_B]),
                vec![("b", 0), ("b", 1)],
                vec![("a", 0), ("a", 1)],
            ),
            (
                "no master: readable, not writable",
                route(
                    &[("a", RW, 1, 1), ("b", RW, 1, 1)],
                    &[MASTER_A, SLAVE_ONLY_B],
                ),
                vec![("a", 0)],
                vec![("a", 0), ("b", 0)],
            ),
            (
                "broker missing from brokerDatas",
                route(&[("a", RW, 1, 1), ("c", RW, 1, 1)], &[MASTER_A]),
                vec![("a", 0)],
                vec![("a", 0), ("c", 0)],
            ),
            (
                "no perm, negative counts, duplicate queue data",
                route(
                    &[
                        ("a", 0, 3, 3),
                        ("b", RW, -1, -5),
                        ("a", RW, 1, 1),
                        ("a", RW, 1, 1),
                    ],
                    &[MASTER_A, MASTER_B],
                ),
                vec![("a", 0)],
                vec![("a", 0)],
            ),
            ("empty route", TopicRouteData::default(), vec![], vec![]),
        ];
        for (name, route, publish, subscribe) in cases {
            let info = publish_info("T", &route);
            assert!(!info.ordered, "{name}");
            assert_eq!(ids(&info.queues), publish, "{name}: publish");
            assert_eq!(
                ids(&subscribe_queues("T", &route)),
                subscribe,
                "{name}: subscribe"
            );
            assert!(info.queues.iter().all(|q| q.topic == "T"), "{name}");
        }
    }

    #[test]
    fn order_topic_conf_replaces_queue_data() {
        let cases: [(&str, Vec<(&str, u32)>); 5] = [
            ("b:2;a:1", vec![("b", 0), ("b", 1), ("a", 0)]),
            (" a : 2 ; ", vec![("a", 0), ("a", 1)]),
            ("a:1;a:3;x;:4;c:z;d:-1", vec![("a", 0)]),
            ("a:0", vec![]),
            ("", vec![("a", 0), ("b", 0)]),
        ];
        for (conf, want) in cases {
            let mut r = route(&[("a", RW, 1, 1), ("b", RW, 1, 1)], &[MASTER_A, MASTER_B]);
            r.order_topic_conf = Some(conf.into());
            let info = publish_info("T", &r);
            assert_eq!(ids(&info.queues), want, "{conf:?}");
            assert_eq!(info.ordered, !conf.is_empty(), "{conf:?}");
        }
    }

    #[test]
    fn queue_counts_are_clamped() {
        let r = route(&[("a", RW, i32::MAX, i32::MAX)], &[MASTER_A]);
        assert_eq!(
            publish_info("T", &r).queues.len(),
            MAX_QUEUES_PER_BROKER as usize
        );
        assert_eq!(
            subscribe_queues("T", &r).len(),
            MAX_QUEUES_PER_BROKER as usize
        );
        let mut r = r;
        r.order_topic_conf = Some("a:4000000000".into());
        assert_eq!(
            publish_info("T", &r).queues.len(),
            MAX_QUEUES_PER_BROKER as usize
        );
    }

    #[test]
    fn broker_addresses() {
        let r = route(
            &[],
            &[MASTER_A, SLAVE_ONLY_B, ("c", &[(2, "c2:1"), (1, "c1:1")])],
        );
        let cases = [
            ("a", Some("10.0.0.1:10911"), Some("10.0.0.1:10911")),
            ("b", None, Some("10.0.0.3:10911")),
            ("c", None, Some("c1:1")),
            ("zz", None, None),
        ];
        for (broker, master, any) in cases {
            assert_eq!(master_addr(&r, broker), master, "{broker}");
            assert_eq!(any_addr(&r, broker), any, "{broker}");
        }
    }

    #[test]
    fn parses_addresses() {
        let cases = [
            ("127.0.0.1:9876", true),
            (" 10.0.0.1:10911 ", true),
            ("[::1]:9876", true),
            ("localhost:9876", true),
            ("localhost", false),
            ("127.0.0.1", false),
            ("", false),
        ];
        for (text, ok) in cases {
            assert_eq!(parse_addr(text).is_ok(), ok, "{text:?}");
        }
    }

    #[test]
    fn ordering_and_wire_form() {
        let mut queues = [
            MessageQueue::new("T2", "a", 0),
            MessageQueue::new("T1", "b", 0),
            MessageQueue::new("T1", "a", 10),
            MessageQueue::new("T1", "a", 2),
        ];
        queues.sort();
        let order: Vec<String> = queues
            .iter()
            .map(|q| format!("{}/{}/{}", q.topic, q.broker_name, q.queue_id))
            .collect();
        assert_eq!(order, ["T1/a/2", "T1/a/10", "T1/b/0", "T2/a/0"]);

        let q = MessageQueue::new("T", "a", 3);
        assert_eq!(MessageQueue::from_wire(&q.to_wire()), Some(q.clone()));
        assert_eq!(
            q.to_string(),
            "MessageQueue [topic=T, brokerName=a, queueId=3]"
        );
        let negative = body::MessageQueue {
            queue_id: -1,
            ..q.to_wire()
        };
        assert_eq!(MessageQueue::from_wire(&negative), None);
    }
}
