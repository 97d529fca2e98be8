//! Following records through raw log bytes (the tail ring, a replication
//! stream): where the record after a log offset starts, and its bytes.
//! Pure: the bytes come from a `read(pos, len)` that answers `None` when
//! its source does not hold them (yet).
//!
//! A record never spans segments; a blank filler at `pos` is only followed
//! under exactly the rules `log::buffer` writes them by, so bytes that
//! merely look like a filler are not trusted: a page filler has exactly
//! [`page_filler_len`] bytes; a segment-end filler ends its segment, and the
//! record after it could not have fit before it.

use bolide_proto::message::{peek_head, RecordHead, BLANK_HEADER_BYTES};

use crate::layout::{page_filler_len, segment_base};

/// What follows a log offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// A record (unvalidated: the caller checks CRC and stored offset).
    Record { at: u64, bytes: Vec<u8> },
    /// The source ends before the record does.
    Incomplete,
    /// No record head where one must be.
    Invalid,
}

/// The record that follows log offset `pos`: at `pos`, or past the page
/// filler and/or segment-end filler at `pos`. Records longer than
/// `max_len` are invalid.
pub(crate) fn next_record(
    read: impl Fn(u64, usize) -> Option<Vec<u8>>,
    pos: u64,
    segment_size: u64,
    max_len: usize,
) -> Next {
    let Some(head) = read(pos, BLANK_HEADER_BYTES) else {
        return Next::Incomplete;
    };
    match peek_head(&head) {
        Ok(RecordHead::Blank(len)) if Some(len as u64) == page_filler_len(pos) => {
            after_segment_filler(&read, pos + len as u64, segment_size, max_len)
        }
        _ => after_segment_filler(&read, pos, segment_size, max_len),
    }
}

/// The record at `pos`, or after the segment-end filler at `pos`.
fn after_segment_filler(
    read: &impl Fn(u64, usize) -> Option<Vec<u8>>,
    pos: u64,
    segment_size: u64,
    max_len: usize,
) -> Next {
    let seg_end = segment_base(pos, segment_size) + segment_size;
    let Some(head) = read(pos, BLANK_HEADER_BYTES) else {
        return Next::Incomplete;
    };
    match peek_head(&head) {
        Ok(RecordHead::Message(_)) => message_at(read, pos, seg_end, max_len),
        Ok(RecordHead::Blank(len)) if pos + len as u64 == seg_end => {
            match message_at(read, seg_end, seg_end + segment_size, max_len) {
                Next::Record { at, bytes } => {
                    // The append only rolled over if the record did not fit.
                    let did_not_fit = pos + (bytes.len() + BLANK_HEADER_BYTES) as u64 > seg_end;
                    match did_not_fit {
                        true => Next::Record { at, bytes },
                        false => Next::Invalid,
                    }
                }
                other => other,
            }
        }
        _ => Next::Invalid,
    }
}

fn message_at(
    read: &impl Fn(u64, usize) -> Option<Vec<u8>>,
    pos: u64,
    seg_end: u64,
    max_len: usize,
) -> Next {
    let Some(head) = read(pos, BLANK_HEADER_BYTES) else {
        return Next::Incomplete;
    };
    match peek_head(&head) {
        Ok(RecordHead::Message(len))
            if pos + (len + BLANK_HEADER_BYTES) as u64 <= seg_end && len <= max_len =>
        {
            match read(pos, len) {
                Some(bytes) => Next::Record { at: pos, bytes },
                None => Next::Incomplete,
            }
        }
        _ => Next::Invalid,
    }
}
