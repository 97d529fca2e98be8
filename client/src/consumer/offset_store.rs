//! Consumer offsets: the per-queue table (pure) and its local-file form for
//! broadcasting consumers.
//!
//! A clustering consumer keeps offsets in memory and commits them to the
//! broker (UPDATE_CONSUMER_OFFSET, and the COMMIT_OFFSET flag on pulls); a
//! broadcasting consumer owns its progress and keeps it in a local file.
//!
//! File format (`<dir>/<group>.json`), the broker's `KvTable` body shape so
//! no other JSON type is needed:
//!
//! ```text
//! {"table":{"TopicTest@broker-a@0":"42","TopicTest@broker-a@1":"7"}}
//! ```
//!
//! The key is `topic@brokerName@queueId` (topics cannot contain `@`; a
//! broker name may, so the queue id is split off from the right). Entries
//! that do not parse are skipped on load. Saving writes a temporary file and
//! renames it over the old one, so a crash leaves the old or the new table,
//! never half of one.
//!
//! Invariant: with `increase_only`, an offset never moves backwards (a late
//! acknowledgement must not undo a newer one); `seek`-like callers pass
//! `increase_only = false`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use bolide_proto::body::{JsonBody, KvTable};
use bolide_proto::ids::QueueOffset;

use crate::route::MessageQueue;

/// Queue → next offset to consume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetTable {
    offsets: BTreeMap<MessageQueue, QueueOffset>,
}

impl OffsetTable {
    /// The stored offset of `mq`.
    pub fn get(&self, mq: &MessageQueue) -> Option<QueueOffset> {
        self.offsets.get(mq).copied()
    }

    /// Sets `mq`'s offset; with `increase_only` a lower value is ignored.
    /// Returns whether the table changed.
    pub fn update(&mut self, mq: &MessageQueue, offset: QueueOffset, increase_only: bool) -> bool {
        match self.offsets.get_mut(mq) {
            Some(old) if *old == offset || (increase_only && *old > offset) => false,
            Some(old) => {
                *old = offset;
                true
            }
            None => {
                self.offsets.insert(mq.clone(), offset);
                true
            }
        }
    }

    pub fn remove(&mut self, mq: &MessageQueue) -> Option<QueueOffset> {
        self.offsets.remove(mq)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&MessageQueue, QueueOffset)> {
        self.offsets.iter().map(|(mq, o)| (mq, *o))
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The file form.
    pub fn encode(&self) -> Vec<u8> {
        let table = self
            .offsets
            .iter()
            .map(|(mq, o)| (queue_key(mq), o.0.to_string()))
            .collect();
        KvTable { table }.encode()
    }

    /// Parses the file form, skipping entries that do not parse.
    pub fn decode(bytes: &[u8]) -> Result<Self, bolide_proto::ProtoError> {
        let kv = KvTable::decode(bytes)?;
        let offsets = kv
            .table
            .iter()
            .filter_map(|(k, v)| Some((parse_queue_key(k)?, QueueOffset(v.trim().parse().ok()?))))
            .collect();
        Ok(OffsetTable { offsets })
    }
}

fn queue_key(mq: &MessageQueue) -> String {
    format!("{}@{}@{}", mq.topic, mq.broker_name, mq.queue_id.0)
}

fn parse_queue_key(key: &str) -> Option<MessageQueue> {
    let (topic, rest) = key.split_once('@')?;
    let (broker, queue) = rest.rsplit_once('@')?;
    if topic.is_empty() || broker.is_empty() {
        return None;
    }
    Some(MessageQueue::new(topic, broker, queue.parse().ok()?))
}

/// Where a broadcasting consumer of `group` keeps its offsets under `dir`.
pub fn offsets_file(dir: &Path, group: &str) -> PathBuf {
    // Group names are [A-Za-z0-9_%|-]; map anything else so a name can
    // never escape `dir`.
    let safe: String = group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-%|".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.json"))
}

/// Loads a table; a missing file is an empty table.
pub fn load_file(path: &Path) -> io::Result<OffsetTable> {
    match std::fs::read(path) {
        Ok(bytes) => OffsetTable::decode(&bytes).map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(OffsetTable::default()),
        Err(e) => Err(e),
    }
}

/// Saves a table atomically (temporary file, then rename).
pub fn save_file(path: &Path, table: &OffsetTable) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, table.encode())?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(topic: &str, broker: &str, id: u32) -> MessageQueue {
        MessageQueue::new(topic, broker, id)
    }

    #[test]
    fn update_rules() {
        // (old, new, increase_only, changed, result)
        let cases = [
            (None, 5, true, true, 5),
            (Some(5), 7, true, true, 7),
            (Some(7), 5, true, false, 7),
            (Some(7), 5, false, true, 5),
            (Some(7), 7, false, false, 7),
        ];
        for (old, new, increase_only, changed, want) in cases {
            let mut t = OffsetTable::default();
            let q = mq("T", "b", 0);
            if let Some(old) = old {
                t.update(&q, QueueOffset(old), false);
            }
            let got = t.update(&q, QueueOffset(new), increase_only);
            assert_eq!((got, t.get(&q)), (changed, Some(QueueOffset(want))));
        }
    }

    #[test]
    fn file_form_round_trips() {
        let mut t = OffsetTable::default();
        t.update(&mq("T", "broker-a", 0), QueueOffset(42), true);
        t.update(&mq("%RETRY%g", "b@x", 11), QueueOffset(7), true);
        let text = String::from_utf8(t.encode()).unwrap();
        assert_eq!(
            text,
            r#"{"table":{"%RETRY%g@b@x@11":"7","T@broker-a@0":"42"}}"#
        );
        assert_eq!(OffsetTable::decode(text.as_bytes()).unwrap(), t);
    }

    #[test]
    fn decode_skips_bad_entries() {
        let text = r#"{"table":{"T@b@0":"1","T@b":"2","@b@0":"3","T@@0":"4","T@b@x":"5","T@b@1":"-1","T@b@2":" 9 "}}"#;
        let t = OffsetTable::decode(text.as_bytes()).unwrap();
        let got: Vec<_> = t.iter().map(|(q, o)| (q.queue_id.0, o.0)).collect();
        assert_eq!(got, [(0, 1), (2, 9)]);
        assert!(OffsetTable::decode(b"[1]").is_err());
    }

    #[test]
    fn file_names_stay_in_dir() {
        let dir = Path::new("/d");
        let cases = [
            ("g1", "/d/g1.json"),
            ("../x", "/d/___x.json"),
            ("a/b", "/d/a_b.json"),
        ];
        for (group, want) in cases {
            assert_eq!(offsets_file(dir, group), Path::new(want), "{group}");
        }
    }

    #[test]
    fn saves_and_loads_files() {
        let dir = std::env::temp_dir().join(format!("bolide-offsets-{}", std::process::id()));
        let path = offsets_file(&dir, "g");
        assert!(load_file(&path).unwrap().is_empty());
        let mut t = OffsetTable::default();
        t.update(&mq("T", "b", 3), QueueOffset(9), true);
        save_file(&path, &t).unwrap();
        assert_eq!(load_file(&path).unwrap(), t);
        std::fs::write(&path, b"{garbage").unwrap();
        assert!(load_file(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
