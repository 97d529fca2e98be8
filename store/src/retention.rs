//! Retention policy, pure: which whole segments to delete.
//!
//! A prefix of the segments (oldest first, never the one being written) is
//! deleted while the oldest is expired (its newest record is older than the
//! reserved time) or disk usage is above the soft watermark. Usage is
//! re-estimated after each deletion.

use crate::io::DiskUsage;

/// A sealed segment as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    pub base: u64,
    pub size_bytes: u64,
    /// Store time of its newest record (upper bound), if known.
    pub newest_ms: Option<i64>,
}

/// Bases of the segments to delete, oldest first. `segments` must be
/// sorted and exclude the segment being written.
pub fn plan_deletions(
    segments: &[SegmentInfo],
    now_ms: i64,
    retention_ms: i64,
    usage: DiskUsage,
    soft_permille: u32,
) -> Vec<u64> {
    let mut used = usage;
    let mut out = Vec::new();
    for s in segments {
        let expired = s.newest_ms.is_some_and(|t| t <= now_ms - retention_ms);
        let over = used.used_permille() > soft_permille;
        if !expired && !over {
            break;
        }
        out.push(s.base);
        used.used_bytes = used.used_bytes.saturating_sub(s.size_bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(base: u64, newest_ms: i64) -> SegmentInfo {
        SegmentInfo {
            base,
            size_bytes: 100,
            newest_ms: Some(newest_ms),
        }
    }

    #[test]
    fn deletion_table() {
        let segs = [seg(0, 10), seg(100, 20), seg(200, 30)];
        let roomy = DiskUsage {
            capacity_bytes: 10_000,
            used_bytes: 300,
        };
        let cases: &[(i64, DiskUsage, Vec<u64>)] = &[
            (25, roomy, vec![]), // nothing older than 25 - 10 = 15... seg 0 (10) expired
            (1000, roomy, vec![0, 100, 200]), // all expired
            (
                0,
                DiskUsage {
                    capacity_bytes: 1000,
                    used_bytes: 900,
                },
                vec![0, 100],
            ), // over 750‰ until below
        ];
        let got: Vec<Vec<u64>> = cases
            .iter()
            .map(|(now, u, _)| plan_deletions(&segs, *now, 10, *u, 750))
            .collect();
        assert_eq!(got[0], vec![0]);
        assert_eq!(got[1], cases[1].2);
        assert_eq!(got[2], cases[2].2);
        assert!(plan_deletions(
            &[SegmentInfo {
                newest_ms: None,
                ..segs[0]
            }],
            1000,
            10,
            roomy,
            750
        )
        .is_empty());
    }
}
