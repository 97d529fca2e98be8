//! Broker-stored consumer offsets: (group, topic, queue) → the next offset
//! the group will consume. Kept in memory, persisted as JSON in
//! `<data>/config/consumer_offsets.json`:
//!
//! ```text
//! {"offsetTable":{"<topic>@<group>":{"0":12,"1":3}}}
//! ```
//!
//! (Java's `consumerOffset.json` shape, with standard quoted keys.)

use std::collections::BTreeMap;

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
