//! Key queries (QUERY_MESSAGE): index candidates, confirmed by reading the
//! records, newest first.

use std::collections::BTreeSet;

use bolide_proto::ids::PhysicalOffset;
use bolide_proto::message::{property, RecordView};

use crate::error::{Result, StoreError};
use crate::index::format::KeyLookup;
use crate::io::{Storage, StorageFile};
use crate::layout::file_name;

use super::ShardStore;

impl<S: Storage> ShardStore<S> {
    /// Records of `topic` whose `KEYS` contain `key` or whose `UNIQ_KEY` is
    /// `key`, stored within `[begin_ms, end_ms]`, newest first, at most `max`.
    pub async fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>> {
        // Candidates are hash matches; ask for more than `max` to survive collisions.
        let want = max.saturating_mul(4).max(16);
        let mut candidates: BTreeSet<u64> = self
            .index
            .borrow()
            .lookup_memory(topic, key, begin_ms, end_ms, want)
            .into_iter()
            .collect();
        let headers: Vec<_> = self
            .index
            .borrow()
            .on_disk
            .iter()
            .rev()
            .map(|(n, h)| (*n, *h))
            .collect();
        for (name, header) in headers {
            if candidates.len() >= want {
                break;
            }
            let path = self.dir.join("index").join(file_name(name));
            let file = self
                .storage
                .open(&path, false)
                .await
                .map_err(|e| StoreError::io("opening an index file", &e))?;
            let mut walk = KeyLookup::new(header, topic, key, begin_ms, end_ms, want);
            while let Some((pos, len)) = walk.want() {
                let bytes = file
                    .read_at(pos as u64, len)
                    .await
                    .map_err(|e| StoreError::io("reading an index file", &e))?;
                walk.feed(&bytes);
            }
            candidates.extend(walk.into_results());
        }
        let mut out = Vec::new();
        for phys in candidates.into_iter().rev() {
            if out.len() >= max {
                break;
            }
            if phys < self.log_min.get() || phys >= self.bufs.borrow().write_pos() {
                continue;
            }
            let bytes = self.read_record(PhysicalOffset(phys)).await?;
            if record_has_key(&bytes, topic, key, begin_ms, end_ms) {
                out.push(bytes);
            }
        }
        Ok(out)
    }
}

fn record_has_key(bytes: &[u8], topic: &str, key: &str, begin_ms: i64, end_ms: i64) -> bool {
    let Ok(view) = RecordView::parse(bytes) else {
        return false;
    };
    let props = view.properties();
    let ts = view.store_timestamp();
    view.topic() == topic
        && (begin_ms..=end_ms).contains(&ts)
        && (props.keys().any(|k| k == key) || props.get(property::UNIQ_KEY) == Some(key))
}
