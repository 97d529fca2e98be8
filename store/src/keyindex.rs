//! Key index integration: every record's `KEYS` and `UNIQ_KEY` go into the
//! current [`IndexFile`] (format owned by `index::format`); full files are
//! queued and written whole at the next checkpoint, the current file's
//! dirty pages too. Files live in `index/<20-digit phys of first entry>`.
//!
//! Lookups return *candidates* (hash matches); the store confirms each by
//! reading the record. After an unclean restart entries past the
//! checkpoint are put again, so duplicates are possible: lookups dedupe.
//! Memory: the current file plus full files awaiting the next checkpoint.

use std::collections::BTreeMap;

use bolide_proto::message::{property, split_keys, RecordView};

use crate::index::format::{IndexFile, IndexHeader, IndexLayout};

/// The in-memory side of the key index.
#[derive(Debug)]
pub(crate) struct KeyIndex {
    pub layout: IndexLayout,
    /// Name (first phys) and contents of the file being filled.
    pub current: Option<(u64, IndexFile)>,
    /// Full files not yet written.
    pub full: Vec<(u64, IndexFile)>,
    /// Headers of files on disk (excluding `current`), by name.
    pub on_disk: BTreeMap<u64, IndexHeader>,
}

impl KeyIndex {
    pub fn new(layout: IndexLayout) -> Self {
        KeyIndex {
            layout,
            current: None,
            full: Vec::new(),
            on_disk: BTreeMap::new(),
        }
    }

    /// Indexes the keys of the record at `pos`.
    pub fn add_record(&mut self, view: &RecordView<'_>, pos: u64) {
        let [keys, uniq] = view
            .properties()
            .get_many([property::KEYS, property::UNIQ_KEY]);
        self.add_keys(view.topic(), keys, uniq, pos, view.store_timestamp());
    }

    /// Indexes a record's `KEYS` value and unique key.
    pub fn add_keys(
        &mut self,
        topic: &str,
        keys: Option<&str>,
        uniq: Option<&str>,
        pos: u64,
        ts: i64,
    ) {
        for key in split_keys(keys).chain(uniq) {
            self.put(topic, key, pos, ts);
        }
    }

    fn put(&mut self, topic: &str, key: &str, pos: u64, ts: i64) {
        for _ in 0..2 {
            let layout = self.layout;
            let (_, file) = self
                .current
                .get_or_insert_with(|| (pos, IndexFile::new(layout)));
            if file.put(topic, key, pos, ts).is_ok() {
                return;
            }
            if let Some(done) = self.current.take() {
                self.full.push(done);
            }
        }
        tracing::warn!(
            topic,
            key,
            "key does not fit an empty index file; not indexed"
        );
    }

    /// In-memory candidates for `topic#key`.
    pub fn lookup_memory(
        &self,
        topic: &str,
        key: &str,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
    ) -> Vec<u64> {
        let files = self.full.iter().chain(self.current.iter());
        let mut out: Vec<u64> = files
            .flat_map(|(_, f)| f.lookup(topic, key, begin_ms, end_ms, max))
            .collect();
        out.sort_unstable_by(|a, b| b.cmp(a));
        out.dedup();
        out
    }

    /// Forgets on-disk files whose entries all lie below `log_min`; returns their names.
    pub fn expire_below(&mut self, log_min: u64) -> Vec<u64> {
        let dead: Vec<u64> = self
            .on_disk
            .iter()
            .filter(|(_, h)| h.end_phys < log_min)
            .map(|(n, _)| *n)
            .collect();
        for n in &dead {
            self.on_disk.remove(n);
        }
        dead
    }
}
