//! Broker-stored consumer offsets: (group, topic, queue) → the next offset
//! the group will consume. Kept in memory, persisted as JSON in
//! `<data>/config/consumer_offsets.json`:
//!
//! ```text
//! {"offsetTable":{"<topic>@<group>":{"0":12,"1":3}}}
//! ```
//!
//! (Java's `consumerOffset.json` shape, with standard quoted keys.)
//!
//! A slave follows its master's table by [`OffsetTable::follow`]: the
//! larger offset wins per queue, so a commit made on the slave while the
//! master was down is kept when the master returns with older offsets.

use std::collections::BTreeMap;

use bolide_proto::body::{ConsumerOffsetWrapper, DataVersion};
use serde::{Deserialize, Serialize};

/// Key separator of the persisted table, as in Java (`topic@group`).
const KEY_SEPARATOR: char = '@';

/// Committed offsets of every group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsetTable {
    offset_table: BTreeMap<String, BTreeMap<u32, u64>>,
}

fn key(group: &str, topic: &str) -> String {
    format!("{topic}{KEY_SEPARATOR}{group}")
}

impl OffsetTable {
    /// The committed offset, if any.
    pub fn query(&self, group: &str, topic: &str, queue: u32) -> Option<u64> {
        self.offset_table
            .get(&key(group, topic))?
            .get(&queue)
            .copied()
    }

    /// Records a commit. Returns true if the value changed.
    pub fn commit(&mut self, group: &str, topic: &str, queue: u32, offset: u64) -> bool {
        let slot = self.offset_table.entry(key(group, topic)).or_default();
        slot.insert(queue, offset) != Some(offset)
    }

    /// Every (topic, queue, offset) of `group`.
    pub fn of_group<'a>(
        &'a self,
        group: &'a str,
    ) -> impl Iterator<Item = (&'a str, u32, u64)> + 'a {
        self.offset_table.iter().flat_map(move |(k, queues)| {
            let (topic, g) = k.split_once(KEY_SEPARATOR).unwrap_or((k.as_str(), ""));
            let mine = g == group;
            queues
                .iter()
                .filter(move |_| mine)
                .map(move |(q, o)| (topic, *q, *o))
        })
    }

    /// Groups that committed offsets of `topic`.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        self.offset_table
            .keys()
            .filter_map(|k| k.split_once(KEY_SEPARATOR))
            .filter(|(t, _)| *t == topic)
            .map(|(_, g)| g.to_owned())
            .collect()
    }

    /// Forgets a topic's offsets (topic deleted).
    pub fn remove_topic(&mut self, topic: &str) {
        self.offset_table
            .retain(|k, _| k.split_once(KEY_SEPARATOR).is_none_or(|(t, _)| t != topic));
    }

    /// The GET_ALL_CONSUMER_OFFSET body.
    pub fn to_wrapper(&self, data_version: DataVersion) -> ConsumerOffsetWrapper {
        // Queue ids and offsets came in as non-negative i32 / i64, so the
        // conversions back cannot fail; anything else is left out.
        let offset_table = self
            .offset_table
            .iter()
            .map(|(key, queues)| {
                let queues = queues
                    .iter()
                    .filter_map(|(q, o)| Some((i32::try_from(*q).ok()?, i64::try_from(*o).ok()?)));
                (key.clone(), queues.collect())
            })
            .collect();
        ConsumerOffsetWrapper {
            data_version: Some(data_version),
            offset_table,
        }
    }

    /// Takes the master's offsets (a slave's metadata sync): per queue the
    /// larger of the two, so neither side's progress is undone, and
    /// entries only this table has stay. RocketMQ's slave instead
    /// replaces each `topic@group` entry with the master's, losing what
    /// consumers committed to it while the master was down. The cost: a
    /// reset of a group to an earlier offset on the master does not reach
    /// the slave. Negative values (not offsets) are skipped. Returns true
    /// if anything changed.
    pub fn follow(&mut self, master: &ConsumerOffsetWrapper) -> bool {
        let mut changed = false;
        for (key, queues) in &master.offset_table {
            for (queue, offset) in queues {
                let (Ok(queue), Ok(offset)) = (u32::try_from(*queue), u64::try_from(*offset))
                else {
                    continue;
                };
                let slot = self.offset_table.entry(key.clone()).or_default();
                if slot.get(&queue).is_none_or(|mine| *mine < offset) {
                    slot.insert(queue, offset);
                    changed = true;
                }
            }
        }
        changed
    }

    pub fn to_json(&self) -> Vec<u8> {
        // String keys and integers only: serialization cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("consumer offsets: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_query_and_persist() {
        let mut t = OffsetTable::default();
        assert_eq!(t.query("g", "T", 0), None);
        assert!(t.commit("g", "T", 0, 12));
        assert!(!t.commit("g", "T", 0, 12));
        t.commit("g", "T", 1, 3);
        t.commit("h", "T", 0, 7);
        assert_eq!(t.query("g", "T", 0), Some(12));
        let json = t.to_json();
        assert_eq!(
            String::from_utf8(json.clone()).unwrap(),
            r#"{"offsetTable":{"T@g":{"0":12,"1":3},"T@h":{"0":7}}}"#
        );
        assert_eq!(OffsetTable::from_json(&json).unwrap(), t);
        assert!(OffsetTable::from_json(b"[]").is_err());
    }

    #[test]
    fn the_wire_form_is_javas() {
        let mut t = OffsetTable::default();
        t.commit("g", "T", 1, 3);
        t.commit("g", "T", 0, 12);
        let version = DataVersion {
            counter: 0,
            state_version: 0,
            timestamp: 7,
        };
        let body = bolide_proto::body::JsonBody::encode(&t.to_wrapper(version));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"dataVersion":{"counter":0,"stateVersion":0,"timestamp":7},"offsetTable":{"T@g":{"0":12,"1":3}}}"#
        );
    }

    #[test]
    fn following_the_master_keeps_the_larger_offset_per_queue() {
        let mut slave = OffsetTable::default();
        slave.commit("g", "T", 0, 50); // committed while the master was down
        slave.commit("g", "T", 1, 5);
        slave.commit("h", "U", 0, 9); // only the slave has it
        let mut master = ConsumerOffsetWrapper::default();
        master
            .offset_table
            .insert("T@g".into(), [(0, 40), (1, 8), (2, 1), (-1, 4)].into());
        master.offset_table.insert("V@g".into(), [(0, -1)].into());
        assert!(slave.follow(&master));
        // (group, topic, queue, offset after the sync)
        let cases = [
            ("g", "T", 0, Some(50)),
            ("g", "T", 1, Some(8)),
            ("g", "T", 2, Some(1)),
            ("h", "U", 0, Some(9)),
            ("g", "V", 0, None),
        ];
        for (group, topic, queue, want) in cases {
            assert_eq!(
                slave.query(group, topic, queue),
                want,
                "{topic}@{group} {queue}"
            );
        }
        assert!(!slave.follow(&master), "a second sync changes nothing");
    }

    #[test]
    fn group_and_topic_views() {
        let mut t = OffsetTable::default();
        t.commit("g", "T", 0, 1);
        t.commit("g", "U", 2, 5);
        t.commit("h", "T", 0, 9);
        let mut mine: Vec<_> = t.of_group("g").collect();
        mine.sort();
        assert_eq!(mine, [("T", 0, 1), ("U", 2, 5)]);
        assert_eq!(t.groups_of_topic("T"), ["g", "h"]);
        t.remove_topic("T");
        assert_eq!(t.query("g", "T", 0), None);
        assert_eq!(t.query("g", "U", 2), Some(5));
    }
}
