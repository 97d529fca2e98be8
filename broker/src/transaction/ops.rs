//! The book of one shard's unresolved half messages, and the op log's
//! format. Pure: no I/O, time passed in.
//!
//! A transaction is named by its *origin*: the half-queue offset of the
//! half message the producer sent. Each check re-puts the half message as
//! a *copy* (RocketMQ's `putBackHalfMsgQueue`, which is how the check count
//! survives a restart); a copy carries its origin in
//! `TRAN_PREPARED_QUEUE_OFFSET`. An END_TRANSACTION may name the origin or
//! any copy: all name the same transaction, so a second END for it (the
//! producer's own and the one answering a check, racing) finds it resolved
//! and delivers nothing.
//!
//! The book holds only what is unresolved ([`Pending`], at most
//! [`MAX_PENDING`]) plus the last [`RECENT_OUTCOMES`] outcomes, for the
//! answer to a repeated END. Every half message of the log is either in the
//! book or resolved: the send registers it before answering, and a restart
//! rebuilds the book before END_TRANSACTION is served ([`Recovery`]).
//!
//! Op log entries (`RMQ_SYS_TRANS_OP_HALF_TOPIC`, tag `d`) hold finished
//! half-queue offsets as RocketMQ writes them (`"7,"`, and several as
//! `"7,12,"`); an entry here names the origin and the copy the END named.

use std::collections::{BTreeMap, HashSet, VecDeque};

use super::check::{decide, Action, Policy};

/// Most unresolved half messages one shard holds; further half messages are
/// refused (SERVICE_NOT_AVAILABLE) until some resolve. Each costs ~150 bytes.
pub const MAX_PENDING: usize = 1 << 20;
/// Outcomes remembered for answering a repeated END_TRANSACTION.
pub const RECENT_OUTCOMES: usize = 4096;
/// Transactions one [`Book::due`] call looks at.
pub const SCAN_LIMIT: usize = 4096;
/// Separator after each offset in an op entry's body.
pub const OFFSET_SEPARATOR: char = ',';

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Committed,
    RolledBack,
    /// Checked `check_max` times without an answer.
    Discarded,
}

impl Outcome {
    pub fn describe(self) -> &'static str {
        match self {
            Outcome::Committed => "committed",
            Outcome::RolledBack => "rolled back",
            Outcome::Discarded => "discarded after too many checks",
        }
    }
}

/// What is under way for a pending transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Busy {
    #[default]
    Idle,
    /// The checker is re-putting it; an END may still take it over.
    Checking,
    /// An END_TRANSACTION is storing its outcome.
    Ending,
}

/// One unresolved transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Half-queue offset of the newest copy (the origin until a check).
    pub latest_offset: u64,
    /// Global commit-log offset of the newest copy.
    pub latest_physical: u64,
    /// The producer's born timestamp, ms (RocketMQ measures age from it).
    pub born_ms: i64,
    /// Store time of the newest copy, once checked.
    pub last_check_ms: Option<i64>,
    /// Checks made (`TRANSACTION_CHECK_TIMES` of the newest copy).
    pub check_times: u32,
    /// `CHECK_IMMUNITY_TIME_IN_SECONDS`, in ms.
    pub immunity_ms: Option<u64>,
    /// Producer group (`PGROUP`): who is asked.
    pub group: String,
    pub busy: Busy,
}

/// Why an END_TRANSACTION cannot take a transaction now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndRefusal {
    /// The book is being rebuilt after a start.
    Loading,
    /// Another END for it is storing its outcome.
    Ending,
    /// It is resolved; the outcome if still remembered.
    Ended(Option<Outcome>),
}

/// A check to make, or a discard, chosen by [`Book::due`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCheck {
    pub origin: u64,
    pub pending: Pending,
    pub action: Action,
}

/// One shard's transactions.
#[derive(Debug, Default)]
pub struct Book {
    pending: BTreeMap<u64, Pending>,
    recent: VecDeque<(u64, Outcome)>,
    loaded: bool,
    /// Where the next [`Book::due`] scan starts.
    scan_from: u64,
}

impl Book {
    /// Records a stored half message (a send, or one found at recovery);
    /// a newer copy of a known origin replaces the older one.
    pub fn half_stored(&mut self, origin: u64, half: Pending) {
        match self.pending.get_mut(&origin) {
            Some(known) if known.latest_offset >= half.latest_offset => {}
            Some(known) => {
                let busy = known.busy;
                *known = Pending { busy, ..half };
            }
            None => {
                self.pending.insert(origin, half);
            }
        }
        debug_assert!(self.pending.len() <= MAX_PENDING + RECENT_OUTCOMES);
    }

    /// Whether a new half message must be refused.
    pub fn is_full(&self) -> bool {
        self.pending.len() >= MAX_PENDING
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    pub fn get(&self, origin: u64) -> Option<&Pending> {
        self.pending.get(&origin)
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// Recovery is done: END_TRANSACTION may be served.
    pub fn set_loaded(&mut self) {
        self.loaded = true;
    }

    /// An END takes the transaction (from a check under way too: the
    /// check's copy then goes unsent, see [`Book::checked`]).
    pub fn begin_end(&mut self, origin: u64) -> Result<Pending, EndRefusal> {
        if !self.loaded {
            return Err(EndRefusal::Loading);
        }
        let Some(p) = self.pending.get_mut(&origin) else {
            return Err(EndRefusal::Ended(self.outcome(origin)));
        };
        if p.busy == Busy::Ending {
            return Err(EndRefusal::Ending);
        }
        p.busy = Busy::Ending;
        Ok(p.clone())
    }

    /// Storing the END's outcome failed: the transaction is pending again.
    pub fn end_failed(&mut self, origin: u64) {
        if let Some(p) = self.pending.get_mut(&origin) {
            p.busy = Busy::Idle;
        }
    }

    /// The transaction is resolved (by an END or a discard).
    pub fn ended(&mut self, origin: u64, outcome: Outcome) {
        self.pending.remove(&origin);
        if self.recent.len() == RECENT_OUTCOMES {
            self.recent.pop_front();
        }
        self.recent.push_back((origin, outcome));
    }

    /// A remembered outcome.
    pub fn outcome(&self, origin: u64) -> Option<Outcome> {
        self.recent
            .iter()
            .rev()
            .find(|(o, _)| *o == origin)
            .map(|(_, outcome)| *outcome)
    }

    /// Up to `max` idle transactions due for a check or a discard, marked
    /// [`Busy::Checking`]. At most [`SCAN_LIMIT`] are looked at per call,
    /// oldest first from where the last call stopped (wrapping around), so
    /// a large book costs every tick the same bounded time under the lock.
    pub fn due(&mut self, now_ms: i64, policy: &Policy, max: usize) -> Vec<DueCheck> {
        let mut found = Vec::new();
        let mut visited = 0;
        let mut last = None;
        let (after, before) = (self.scan_from.., ..self.scan_from);
        let order = self.pending.range(after).chain(self.pending.range(before));
        for (origin, p) in order {
            if found.len() == max || visited == SCAN_LIMIT {
                break;
            }
            visited += 1;
            last = Some(*origin);
            if p.busy == Busy::Idle {
                if let Some(action) = decide(p, now_ms, policy) {
                    found.push((*origin, action));
                }
            }
        }
        self.scan_from = match last {
            Some(origin) if visited < self.pending.len() => origin + 1,
            _ => 0,
        };
        let mut due = Vec::with_capacity(found.len());
        for (origin, action) in found {
            if let Some(p) = self.pending.get_mut(&origin) {
                p.busy = Busy::Checking;
                let pending = p.clone();
                due.push(DueCheck {
                    origin,
                    pending,
                    action,
                });
            }
        }
        due
    }

    /// The checker stored copy `copy` (offset, global offset, store time)
    /// of `origin`. Returns the updated transaction when it is still
    /// pending and the check should be sent; `None` when an END took it
    /// meanwhile (the copy stays behind, resolved by that END's op entry).
    pub fn checked(&mut self, origin: u64, copy: (u64, u64, i64)) -> Option<Pending> {
        let p = self.pending.get_mut(&origin)?;
        if p.busy != Busy::Checking {
            return None;
        }
        p.latest_offset = copy.0;
        p.latest_physical = copy.1;
        p.last_check_ms = Some(copy.2);
        p.check_times += 1;
        p.busy = Busy::Idle;
        Some(p.clone())
    }

    /// A check or discard failed to store; try again at a later tick.
    pub fn check_failed(&mut self, origin: u64) {
        if let Some(p) = self.pending.get_mut(&origin) {
            if p.busy == Busy::Checking {
                p.busy = Busy::Idle;
            }
        }
    }
}

/// Rebuilding a book from a shard's log: first every op entry
/// ([`Recovery::op_entry`]), then every half message not named by one
/// ([`Recovery::is_unresolved`]).
#[derive(Debug, Default)]
pub struct Recovery {
    finished: HashSet<u64>,
}

impl Recovery {
    /// An op entry's body: the half-queue offsets it finished.
    pub fn op_entry(&mut self, body: &[u8]) {
        self.finished.extend(parse_op_body(body));
    }

    /// Whether the half message at `offset` needs reading at all.
    pub fn is_named(&self, offset: u64) -> bool {
        self.finished.contains(&offset)
    }

    /// Whether a half message (or copy) of `origin` is still unresolved.
    pub fn is_unresolved(&self, origin: u64) -> bool {
        !self.finished.contains(&origin)
    }
}

/// An op entry's body: each offset followed by [`OFFSET_SEPARATOR`], the
/// origin first, repeated offsets once.
pub fn op_body(origin: u64, copy: u64) -> String {
    let mut body = format!("{origin}{OFFSET_SEPARATOR}");
    if copy != origin {
        body.push_str(&format!("{copy}{OFFSET_SEPARATOR}"));
    }
    body
}

/// The offsets of an op entry's body; pieces that are not numbers are
/// skipped (RocketMQ logs and skips them).
pub fn parse_op_body(body: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(body)
        .split(OFFSET_SEPARATOR)
        .filter_map(|piece| piece.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn half(offset: u64, born_ms: i64) -> Pending {
        Pending {
            latest_offset: offset,
            latest_physical: offset * 100,
            born_ms,
            last_check_ms: None,
            check_times: 0,
            immunity_ms: None,
            group: "PG".into(),
            busy: Busy::Idle,
        }
    }

    fn loaded() -> Book {
        let mut b = Book::default();
        b.set_loaded();
        b
    }

    const POLICY: Policy = Policy {
        timeout_ms: 6_000,
        interval_ms: 60_000,
        check_max: 2,
    };

    #[test]
    fn op_bodies_round_trip_in_rocketmq_form() {
        assert_eq!(op_body(7, 7), "7,");
        assert_eq!(op_body(7, 12), "7,12,");
        assert_eq!(parse_op_body(b"7,12,"), [7, 12]);
        assert_eq!(parse_op_body(b"7,x,,9"), [7, 9]);
        assert!(parse_op_body(b"").is_empty());
    }

    #[test]
    fn an_end_resolves_once_whichever_copy_it_names() {
        let mut b = Book::default();
        b.half_stored(3, half(3, 0));
        assert_eq!(b.begin_end(3), Err(EndRefusal::Loading));
        b.set_loaded();
        assert_eq!(b.begin_end(3).unwrap().latest_offset, 3);
        assert_eq!(b.begin_end(3), Err(EndRefusal::Ending));
        b.end_failed(3);
        assert!(b.begin_end(3).is_ok(), "pending again after a failed store");
        b.ended(3, Outcome::Committed);
        assert_eq!(
            b.begin_end(3),
            Err(EndRefusal::Ended(Some(Outcome::Committed)))
        );
        assert_eq!(b.pending_count(), 0);
    }

    #[test]
    fn outcomes_are_remembered_up_to_the_limit() {
        let mut b = loaded();
        for origin in 0..(RECENT_OUTCOMES as u64 + 1) {
            b.half_stored(origin, half(origin, 0));
            b.ended(origin, Outcome::RolledBack);
        }
        assert_eq!(b.begin_end(0), Err(EndRefusal::Ended(None)));
        assert_eq!(b.outcome(1), Some(Outcome::RolledBack));
    }

    #[test]
    fn newer_copies_replace_older_ones_and_keep_the_busy_state() {
        let mut b = loaded();
        let mut copy = half(9, 0);
        copy.check_times = 2;
        b.half_stored(4, copy.clone());
        b.half_stored(4, half(4, 0));
        assert_eq!(b.get(4).unwrap().check_times, 2, "older copy ignored");
        b.begin_end(4).unwrap();
        copy.latest_offset = 11;
        b.half_stored(4, copy);
        assert_eq!(b.get(4).unwrap().latest_offset, 11);
        assert_eq!(b.get(4).unwrap().busy, Busy::Ending);
    }

    #[test]
    fn due_checks_are_bounded_oldest_first_and_not_repeated() {
        let mut b = loaded();
        for origin in [5, 1, 3] {
            b.half_stored(origin, half(origin, 0));
        }
        b.half_stored(8, half(8, 9_000)); // too young at 10 s
        let due = b.due(10_000, &POLICY, 2);
        let origins: Vec<u64> = due.iter().map(|d| d.origin).collect();
        assert_eq!(origins, [1, 3]);
        assert!(due.iter().all(|d| d.action == Action::Check));
        let next = b.due(10_000, &POLICY, 10);
        assert_eq!(next.len(), 1, "busy ones are skipped: {next:?}");
        assert_eq!(next[0].origin, 5);
    }

    #[test]
    fn due_scans_are_bounded_and_resume_where_they_stopped() {
        let mut b = loaded();
        let total = SCAN_LIMIT as u64 + 10;
        for origin in 0..total {
            b.half_stored(origin, half(origin, 9_000)); // all too young
        }
        b.half_stored(total, half(total, 0));
        assert!(
            b.due(10_000, &POLICY, 10).is_empty(),
            "stopped at the limit"
        );
        let due = b.due(10_000, &POLICY, 10);
        assert_eq!(due.len(), 1, "found in the next scan");
        assert_eq!(due[0].origin, total);
        assert!(b.due(10_000, &POLICY, 10).is_empty());
    }

    #[test]
    fn a_check_updates_the_transaction_unless_an_end_took_it() {
        let mut b = loaded();
        b.half_stored(1, half(1, 0));
        b.half_stored(2, half(2, 0));
        assert_eq!(b.due(10_000, &POLICY, 10).len(), 2);
        let p = b.checked(1, (20, 2_000, 10_001)).unwrap();
        assert_eq!(
            (p.latest_offset, p.check_times, p.last_check_ms),
            (20, 1, Some(10_001))
        );
        assert!(
            b.due(10_002, &POLICY, 10).is_empty(),
            "checked a moment ago"
        );
        assert_eq!(b.due(70_001, &POLICY, 10)[0].origin, 1);
        b.begin_end(2).unwrap();
        assert_eq!(b.checked(2, (21, 2_100, 10_001)), None, "END took it");
        b.check_failed(1);
        assert_eq!(b.get(1).unwrap().busy, Busy::Idle);
    }

    #[test]
    fn recovery_keeps_what_no_op_entry_names() {
        let mut r = Recovery::default();
        r.op_entry(b"3,10,");
        r.op_entry(b"5,");
        // (half offset, origin): 3 committed, copy 7 of 3 is stale, 4 is
        // open with its newest copy 9, 5 rolled back, 10 named itself.
        let log = [(3, 3), (4, 4), (5, 5), (7, 3), (9, 4), (10, 3)];
        let open: Vec<(u64, u64)> = log
            .into_iter()
            .filter(|(offset, origin)| !r.is_named(*offset) && r.is_unresolved(*origin))
            .collect();
        assert_eq!(open, [(4, 4), (9, 4)]);
    }
}
