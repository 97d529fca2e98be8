//! Pure naming and offset math of the shard directory; no I/O.
//!
//! ```text
//! <data>/shard-<k>/
//!   abort                         present while open; left behind by a crash
//!   checkpoint                    see `checkpoint.rs` (replaced atomically)
//!   commitlog/<20-digit base>     segments; base = first physical offset held
//!   consumequeue/<topic>/<qid>/<20-digit first unit * 20>
//!   index/<20-digit first phys>   key-index files (`index::format`)
//! ```

use std::path::{Path, PathBuf};

/// The directory of shard `k` under `data`.
pub fn shard_dir(data: &Path, shard: u16) -> PathBuf {
    data.join(format!("shard-{shard}"))
}

/// A 20-digit zero-padded decimal, RocketMQ's file naming.
pub fn file_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// Parses a name made by [`file_name`].
pub fn parse_file_name(name: &str) -> Option<u64> {
    (name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// Base offset of the segment holding `pos`.
pub fn segment_base(pos: u64, segment_size_bytes: u64) -> u64 {
    pos - pos % segment_size_bytes
}

/// The page a commit-log write starts and ends on (O_DIRECT's unit).
const PAGE_BYTES: u64 = crate::config::IO_PAGE_BYTES as u64;

/// Length of the *page filler* that pads the log from `pos` to a page
/// boundary, or `None` at a boundary. A flush round ends on a page boundary
/// this way, so no later write rewrites a page holding a record it may
/// already have acknowledged. A filler is a blank record (at least its
/// 8-byte header), so a gap shorter than that runs on to the next page's
/// end. Readers trust a blank as a page filler only at exactly this length.
pub fn page_filler_len(pos: u64) -> Option<u64> {
    match PAGE_BYTES - pos % PAGE_BYTES {
        PAGE_BYTES => None,
        gap if gap < bolide_proto::message::BLANK_HEADER_BYTES as u64 => Some(gap + PAGE_BYTES),
        gap => Some(gap),
    }
}

/// True when a topic name can be a directory name: RocketMQ's character set
/// `[A-Za-z0-9%_|-]`, 1..=255 bytes, which also rules out `.`/`..`/`/`.
pub fn topic_is_valid(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 255
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'_' | b'|' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_others() {
        assert_eq!(file_name(1073741824), "00000000001073741824");
        assert_eq!(parse_file_name("00000000001073741824"), Some(1073741824));
        for bad in ["", "123", "0000000000107374182x", "000000000010737418240"] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_page_filler_ends_on_a_page_and_holds_a_blank_header() {
        assert_eq!(page_filler_len(0), None);
        assert_eq!(page_filler_len(8192), None);
        assert_eq!(page_filler_len(100), Some(3996));
        assert_eq!(page_filler_len(4096 - 8), Some(8));
        assert_eq!(page_filler_len(4096 - 7), Some(7 + 4096));
        assert_eq!(page_filler_len(4095), Some(1 + 4096));
        for pos in (0..3 * 4096).step_by(7) {
            if let Some(len) = page_filler_len(pos) {
                assert_eq!((pos + len) % 4096, 0, "{pos}");
                assert!((8..4096 + 8).contains(&len), "{pos}");
            }
        }
    }

    #[test]
    fn segment_math() {
        assert_eq!(segment_base(0, 100), 0);
        assert_eq!(segment_base(99, 100), 0);
        assert_eq!(segment_base(100, 100), 100);
    }

    #[test]
    fn topic_names() {
        assert!(topic_is_valid("Topic_A-1%x|y"));
        for bad in ["", ".", "..", "a/b", "a b", "日本"] {
            assert!(!topic_is_valid(bad), "{bad}");
        }
    }
}
