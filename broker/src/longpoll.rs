//! Long polling bookkeeping (remoting.md §7.2): pulls that found nothing are
//! parked per (topic, queue) until a matching message arrives past their
//! offset or their hold time ends; "matching" is the pull's filter on the
//! arrival's tags code and, for SQL92, its properties. Pure: the runtime
//! keeps the waiting futures, keyed by the [`PullTicket`] ids this returns.

use std::collections::{BTreeMap, HashMap};

use bolide_store::store::Dispatched;

use crate::filter::MessageFilter;

/// Id of one parked pull.
pub type PullTicket = u64;

/// Most pulls parked per broker shard; beyond it pulls are answered
/// PULL_NOT_FOUND at once and the client simply pulls again.
pub const MAX_PARKED_PULLS: usize = 65_536;

#[derive(Debug, Clone)]
struct Parked {
    ticket: PullTicket,
    /// The offset the pull asked for: a message at or past it wakes it.
    offset: u64,
    deadline_ms: u64,
    filter: MessageFilter,
}

/// Parked pulls of one shard.
#[derive(Debug, Default)]
pub struct ParkedPulls {
    by_queue: HashMap<(String, u32), Vec<Parked>>,
    deadlines: BTreeMap<(u64, PullTicket), (String, u32)>,
    next_ticket: PullTicket,
}

impl ParkedPulls {
    /// Parks a pull; `None` when full.
    pub fn park(
        &mut self,
        topic: &str,
        queue: u32,
        offset: u64,
        deadline_ms: u64,
        filter: MessageFilter,
    ) -> Option<PullTicket> {
        if self.deadlines.len() >= MAX_PARKED_PULLS {
            return None;
        }
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        let key = (topic.to_owned(), queue);
        self.by_queue.entry(key.clone()).or_default().push(Parked {
            ticket,
            offset,
            deadline_ms,
            filter,
        });
        self.deadlines.insert((deadline_ms, ticket), key);
        Some(ticket)
    }

    /// A message was dispatched: the pulls it satisfies.
    pub fn on_arrival(&mut self, d: &Dispatched<'_>) -> Vec<PullTicket> {
        let key = (d.topic.to_string(), d.queue_id);
        let Some(parked) = self.by_queue.get_mut(&key) else {
            return Vec::new();
        };
        let mut woken = Vec::new();
        parked.retain(|p| {
            let wake = d.queue_offset >= p.offset && p.filter.matches(d.tags_code, d.properties);
            if wake {
                woken.push((p.deadline_ms, p.ticket));
            }
            !wake
        });
        if parked.is_empty() {
            self.by_queue.remove(&key);
        }
        for k in &woken {
            self.deadlines.remove(k);
        }
        woken.into_iter().map(|(_, t)| t).collect()
    }

    /// Pulls whose hold time is over at `now_ms`.
    pub fn expired(&mut self, now_ms: u64) -> Vec<PullTicket> {
        let mut due = Vec::new();
        while let Some(entry) = self.deadlines.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            let ((_, ticket), key) = entry.remove_entry();
            if let Some(parked) = self.by_queue.get_mut(&key) {
                parked.retain(|p| p.ticket != ticket);
                if parked.is_empty() {
                    self.by_queue.remove(&key);
                }
            }
            due.push(ticket);
        }
        due
    }

    /// The earliest deadline, to schedule the next timer.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.keys().next().map(|(d, _)| *d)
    }

    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolide_proto::message::PropertiesBuilder;
    use bolide_proto::tags::tags_code;

    fn arrival(queue: u32, offset: u64, tags_code: i64, properties: &str) -> Dispatched<'_> {
        Dispatched {
            topic: "T".into(),
            queue_id: queue,
            queue_offset: offset,
            tags_code,
            properties,
        }
    }

    #[test]
    fn arrival_wakes_matching_pulls_only() {
        let mut p = ParkedPulls::default();
        let all = p.park("T", 0, 5, 1_000, MessageFilter::ALL).unwrap();
        let tag_a = p
            .park(
                "T",
                0,
                5,
                1_000,
                MessageFilter::parse("TagA", None).unwrap(),
            )
            .unwrap();
        let later = p.park("T", 0, 9, 1_000, MessageFilter::ALL).unwrap();
        let other_queue = p.park("T", 1, 0, 1_000, MessageFilter::ALL).unwrap();
        assert_eq!(
            p.on_arrival(&arrival(0, 5, tags_code(Some("TagB")), "")),
            [all]
        );
        assert_eq!(
            p.on_arrival(&arrival(0, 6, tags_code(Some("TagA")), "")),
            [tag_a]
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p.on_arrival(&arrival(0, 9, 0, "")), [later]);
        assert_eq!(p.expired(999), Vec::<u64>::new());
        assert_eq!(p.expired(1_000), [other_queue]);
        assert!(p.is_empty());
    }

    #[test]
    fn deadlines_come_in_order() {
        let mut p = ParkedPulls::default();
        let late = p.park("T", 0, 0, 300, MessageFilter::ALL).unwrap();
        let early = p.park("T", 0, 0, 100, MessageFilter::ALL).unwrap();
        assert_eq!(p.next_deadline_ms(), Some(100));
        assert_eq!(p.expired(200), [early]);
        assert_eq!(p.expired(300), [late]);
        assert_eq!(p.next_deadline_ms(), None);
        assert!(p.on_arrival(&arrival(0, 1, 0, "")).is_empty());
    }

    #[test]
    fn sql92_pulls_wake_only_for_matching_properties() {
        let mut p = ParkedPulls::default();
        let sql = MessageFilter::parse("a > 1", Some("SQL92")).unwrap();
        let ticket = p.park("T", 0, 0, 1_000, sql).unwrap();
        let props = |a: &str| {
            let mut b = PropertiesBuilder::new();
            b.set("a", a).unwrap();
            b.build()
        };
        let (low, text, high) = (props("1"), props("x"), props("2"));
        assert!(p.on_arrival(&arrival(0, 0, 0, &low)).is_empty());
        assert!(p.on_arrival(&arrival(0, 1, 0, &text)).is_empty());
        assert!(p.on_arrival(&arrival(0, 2, 0, "")).is_empty());
        assert_eq!(p.on_arrival(&arrival(0, 3, 0, &high)), [ticket]);
    }
}
