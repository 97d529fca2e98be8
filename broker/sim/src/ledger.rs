//! The invariants: everything the clients were told, checked against
//! everything they later see.
//!
//! * **No acknowledged message is lost**: a position `(queue, offset)`
//!   answered SUCCESS always reads back as that message, and at the end
//!   every acknowledged position has been delivered — except what the
//!   flush mode does not promise to keep ([`Ledger::forget_from`]: a suffix
//!   of each queue after a power loss in the async modes).
//! * **Nothing is invented**: every delivered body is one a producer sent,
//!   intact ([`MessageKey::parse`] checks every byte).
//! * **Duplicates only where the protocol allows them**: a message stored
//!   at two positions was sent more than once (a producer retry).
//! * **Committed offsets are kept**: a consumer resuming after a restart
//!   starts at or after the last offset the broker acknowledged committing.
//!
//! * **A message sent back comes back**: from `%RETRY%<group>`, intact,
//!   with its id, no earlier than its retry delay — or, past the maximum
//!   reconsume times, in `%DLQ%<group>`; one answered SUCCESS is never
//!   lost unless a crash that may cut the log came after it
//!   ([`Ledger::came_back`]).
//!
//! Per-queue order (offsets consecutive, never going back within a
//! session) is checked by the consumer as it reads ([`crate::clients`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::retry;

/// Which message: producer and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MessageKey {
    pub producer: u32,
    pub seq: u64,
}

impl MessageKey {
    /// The body a producer sends: the key, then a filler whose length and
    /// bytes both follow from the key, so any corruption is caught.
    pub fn body(self) -> Vec<u8> {
        let mut body = format!("p{}-m{}|", self.producer, self.seq).into_bytes();
        let len = (self.seq * 131 + u64::from(self.producer) * 17) % 700;
        body.extend((0..len).map(|i| self.filler(i)));
        body
    }

    fn filler(self, i: u64) -> u8 {
        b'a' + ((i + self.seq + u64::from(self.producer)) % 26) as u8
    }

    /// The key of an intact body, or what is wrong with it.
    pub fn parse(body: &[u8]) -> Result<MessageKey, String> {
        let text = String::from_utf8_lossy(body);
        let head = text.split('|').next().unwrap_or_default();
        let key = head
            .strip_prefix('p')
            .and_then(|rest| rest.split_once("-m"))
            .and_then(|(p, s)| Some((p.parse().ok()?, s.parse().ok()?)))
            .map(|(producer, seq)| MessageKey { producer, seq })
            .ok_or_else(|| format!("not a simulated body: {:?}", preview(body)))?;
        if key.body() != body {
            return Err(format!("corrupt body for {key:?}: {:?}", preview(body)));
        }
        Ok(key)
    }
}

fn preview(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned()
}

/// A queue position.
pub type Position = (u32, u64);

/// What every client was told and has seen so far.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Send attempts per message.
    attempts: BTreeMap<MessageKey, u32>,
    /// When each message was first sent.
    first_sent: BTreeMap<MessageKey, u64>,
    acked: BTreeMap<Position, MessageKey>,
    delivered: BTreeMap<Position, MessageKey>,
    /// Per queue: the highest offset the broker acknowledged committing.
    committed: BTreeMap<u32, u64>,
    /// Per queue: the highest offset a consumer asked to commit (answered
    /// or not: the broker may have stored it either way).
    commit_asked: BTreeMap<u32, u64>,
    pub deliveries: u64,
    pub redeliveries: u64,
    /// Acknowledged messages the flush mode was allowed to lose (and did).
    pub forgiven: u64,
    /// Per queue, positions reused after a cut that a consumer already past
    /// them may skip: `[cut, reached)`.
    skippable: Vec<(u32, std::ops::Range<u64>)>,
    /// Acknowledged positions skipped that way.
    pub skipped: u64,
    /// Acknowledged delayed messages: (due no earlier than, cuts by then).
    delayed: BTreeMap<MessageKey, (u64, u32)>,
    delayed_delivered: BTreeMap<MessageKey, u32>,
    /// Send-backs by (key, its new reconsumeTimes): first asked when.
    back_asked: BTreeMap<(MessageKey, i32), u64>,
    /// Send-backs answered SUCCESS: the cuts when the message was read.
    back_acked: BTreeMap<(MessageKey, i32), u32>,
    /// Send-backs seen again, in the retry topic or the DLQ.
    came_back: BTreeSet<(MessageKey, i32)>,
    /// Messages read from the DLQ.
    pub dead: u64,
}

impl Ledger {
    pub fn sent(&mut self, key: MessageKey, now: u64) {
        *self.attempts.entry(key).or_default() += 1;
        self.first_sent.entry(key).or_insert(now);
    }

    /// The broker answered SUCCESS for `key` at `at`.
    pub fn acked(&mut self, key: MessageKey, at: Position) -> Result<(), String> {
        if let Some(other) = self.acked.insert(at, key).filter(|o| *o != key) {
            return Err(format!(
                "{at:?} acknowledged for {other:?} and then {key:?}"
            ));
        }
        match self.delivered.get(&at) {
            Some(seen) if *seen != key => Err(format!(
                "{at:?} acknowledged for {key:?} but delivered as {seen:?}"
            )),
            _ => Ok(()),
        }
    }

    /// The broker answered SUCCESS for `key` sent with a delay of
    /// `delay_ms`: it sits in the schedule topic, then reaches a position
    /// of the real topic no earlier than a delay after its first attempt
    /// (any attempt may be the stored one). `cuts`: crashes so far that
    /// could cut the log.
    pub fn acked_delayed(&mut self, key: MessageKey, delay_ms: u64, cuts: u32) {
        let due = self.first_sent.get(&key).copied().unwrap_or(0) + delay_ms;
        self.delayed.entry(key).or_insert((due, cuts));
    }

    /// A consumer read `body` at `at`, at time `now`.
    pub fn delivered(&mut self, at: Position, body: &[u8], now: u64) -> Result<(), String> {
        let key = MessageKey::parse(body).map_err(|e| format!("at {at:?}: {e}"))?;
        if !self.attempts.contains_key(&key) {
            return Err(format!("{at:?} holds {key:?}, which was never sent"));
        }
        if let Some((due, _)) = self.delayed.get(&key) {
            if now < *due {
                return Err(format!("delayed {key:?} delivered at {now}, due {due}"));
            }
            *self.delayed_delivered.entry(key).or_default() += 1;
        }
        if let Some(acked) = self.acked.get(&at).filter(|a| **a != key) {
            return Err(format!(
                "acknowledged {acked:?} at {at:?} reads back as {key:?}"
            ));
        }
        self.deliveries += 1;
        match self.delivered.insert(at, key) {
            Some(seen) if seen != key => {
                Err(format!("{at:?} delivered as {seen:?} and later as {key:?}"))
            }
            Some(_) => {
                self.redeliveries += 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// A consumer asks to commit `offset` for `queue`.
    pub fn commit_asked(&mut self, queue: u32, offset: u64) {
        let c = self.commit_asked.entry(queue).or_default();
        *c = (*c).max(offset);
    }

    /// The broker acknowledged committing `offset` for `queue`. A lower
    /// commit replaces a higher one that lay past a cut: a consumer that
    /// read past the cut may commit its own position after it, and then,
    /// corrected by the broker (the offset is past the queue's end), a
    /// lower one (seed 73).
    pub fn committed(&mut self, queue: u32, offset: u64) {
        let c = self.committed.entry(queue).or_default();
        let past_a_cut = self
            .skippable
            .iter()
            .any(|(q, range)| *q == queue && *c > 0 && range.contains(&(*c - 1)));
        if offset > *c || past_a_cut {
            *c = offset;
        }
    }

    /// A consumer resumes `queue` at the broker's stored `offset`.
    pub fn resumed(&self, queue: u32, offset: u64) -> Result<(), String> {
        match self.committed.get(&queue) {
            Some(c) if offset < *c => Err(format!(
                "queue {queue}: resumed at {offset}, below the committed {c}"
            )),
            _ => Ok(()),
        }
    }

    /// A crash cut `queue` at `end` in a mode allowed to lose an unflushed
    /// tail: forget what was acknowledged, delivered and committed from
    /// there (those positions will be reused). A consumer that had
    /// `reached` further reads on from where it was, so the new messages
    /// at `[end, reached)` may never reach it: the price of the weaker
    /// promise, which RocketMQ's async flush pays the same way.
    pub fn forget_from(&mut self, queue: u32, end: u64, reached: u64) {
        let lost = self.acked.range((queue, end)..(queue + 1, 0)).count();
        self.forgiven += lost as u64;
        if reached > end {
            self.skippable.push((queue, end..reached));
        }
        self.acked.retain(|(q, o), _| *q != queue || *o < end);
        self.delivered.retain(|(q, o), _| *q != queue || *o < end);
        for c in [
            self.committed.get_mut(&queue),
            self.commit_asked.get_mut(&queue),
        ]
        .into_iter()
        .flatten()
        {
            *c = (*c).min(end);
        }
    }

    /// Every acknowledged delayed message delivered, unless a crash that
    /// may cut the log came after its acknowledgement.
    fn check_delayed(&mut self, final_cuts: u32, problems: &mut String) {
        let missing: Vec<MessageKey> = self
            .delayed
            .iter()
            .filter(|(key, _)| !self.delayed_delivered.contains_key(key))
            .filter(|(_, (_, cuts))| *cuts == final_cuts)
            .map(|(key, _)| *key)
            .collect();
        let forgiven = self.delayed.len() - self.delayed_delivered.len() - missing.len();
        self.forgiven += forgiven as u64;
        if !missing.is_empty() {
            let _ = write!(problems, "delayed messages never delivered: {missing:?}; ");
        }
    }

    /// A consumer sends `key` back, to come back with `times`.
    pub fn back_asked(&mut self, key: MessageKey, times: i32, now: u64) {
        self.back_asked.entry((key, times)).or_insert(now);
    }

    /// The broker answered SUCCESS to that; `cuts` when the consumer had
    /// read what it sent back.
    pub fn back_acked(&mut self, key: MessageKey, times: i32, cuts: u32) {
        let c = self.back_acked.entry((key, times)).or_insert(cuts);
        *c = (*c).min(cuts);
    }

    /// `key` came back with `times` from the retry topic or (`dlq`) the
    /// DLQ at `now`; `cuts` so far.
    pub fn came_back(
        &mut self,
        key: MessageKey,
        times: i32,
        dlq: bool,
        now: u64,
        cuts: u32,
    ) -> Result<(), String> {
        let where_ = if dlq { "DLQ" } else { "retry topic" };
        if dlq != (times > retry::MAX_RECONSUME) {
            return Err(format!("{key:?} in the {where_} reconsumed {times} times"));
        }
        match self.back_asked.get(&(key, times)) {
            // A send-back names a log offset, which a cut may have reused.
            None if cuts > 0 => {}
            None => return Err(format!("{key:?} in the {where_} but never sent back")),
            Some(at) if !dlq && now < at + retry::retry_delay_ms(times) => {
                return Err(format!(
                    "{key:?} sent back at {at} came back at {now}, before its delay {}",
                    retry::retry_delay_ms(times)
                ))
            }
            Some(_) => {}
        }
        if self.came_back.insert((key, times)) && dlq {
            self.dead += 1;
        }
        Ok(())
    }

    /// Acknowledged send-backs not seen again yet that must be.
    pub fn back_pending(&self, cuts: u32) -> usize {
        let pending = self.back_acked.iter();
        let pending = pending.filter(|(k, c)| **c == cuts && !self.came_back.contains(k));
        pending.count()
    }

    /// Whether every acknowledged delayed message and send-back that must
    /// come back has come back: [`Self::delayed_pending`] and
    /// [`Self::back_pending`] both 0, stopping at the first one missing
    /// (the settling run asks at every step).
    pub fn nothing_pending(&self, cuts: u32) -> bool {
        let mut delayed = self.delayed.iter();
        let mut back = self.back_acked.iter();
        !delayed.any(|(key, (_, c))| *c == cuts && !self.delayed_delivered.contains_key(key))
            && !back.any(|(k, c)| *c == cuts && !self.came_back.contains(k))
    }

    /// Send-backs acknowledged.
    pub fn sent_back(&self) -> usize {
        self.back_acked.len()
    }

    /// The highest offset of `queue` any consumer asked to commit.
    pub fn commit_asked_offset(&self, queue: u32) -> Option<u64> {
        self.commit_asked.get(&queue).copied()
    }

    /// Acknowledged positions and delayed messages.
    pub fn acked_count(&self) -> usize {
        self.acked.len() + self.delayed.len()
    }

    /// Acknowledged delayed messages not delivered yet that must be.
    pub fn delayed_pending(&self, cuts: u32) -> usize {
        let pending = self
            .delayed
            .iter()
            .filter(|(key, (_, c))| *c == cuts && !self.delayed_delivered.contains_key(key));
        pending.count()
    }

    /// Delayed messages acknowledged.
    pub fn delayed_count(&self) -> usize {
        self.delayed.len()
    }

    /// The end-of-run check: every acknowledged position delivered (as
    /// itself: [`Self::delivered`] checked that), and each message stored
    /// at several positions sent at least that many times.
    pub fn final_check(&mut self, final_cuts: u32) -> Result<(), String> {
        let mut problems = String::new();
        let (skipped, missing): (Vec<&Position>, Vec<&Position>) = self
            .acked
            .keys()
            .filter(|at| !self.delivered.contains_key(at))
            .partition(|(q, o)| {
                self.skippable
                    .iter()
                    .any(|(sq, r)| sq == q && r.contains(o))
            });
        if !missing.is_empty() {
            let _ = write!(
                problems,
                "{} acknowledged positions never delivered, first {:?}; ",
                missing.len(),
                &missing[..missing.len().min(5)]
            );
        }
        self.skipped = skipped.len() as u64;
        self.check_delayed(final_cuts, &mut problems);
        if self.back_pending(final_cuts) > 0 {
            let lost = self.back_acked.iter();
            let lost = lost.filter(|(k, c)| **c == final_cuts && !self.came_back.contains(k));
            let lost: Vec<_> = lost.map(|(k, _)| *k).take(5).collect();
            let _ = write!(problems, "sent back and never seen again: {lost:?}; ");
        }
        let cut = self.back_acked.iter();
        let cut = cut.filter(|(k, c)| **c != final_cuts && !self.came_back.contains(k));
        self.forgiven += cut.count() as u64;
        let mut copies: BTreeMap<MessageKey, u32> = BTreeMap::new();
        for key in self.delivered.values() {
            *copies.entry(*key).or_default() += 1;
        }
        // A delayed message may be delivered again after a crash (the
        // schedule's offset is persisted apart from the log): at least once.
        copies.retain(|key, _| !self.delayed.contains_key(key));
        for (key, n) in copies {
            let attempts = self.attempts.get(&key).copied().unwrap_or(0);
            if n > attempts {
                let _ = write!(problems, "{key:?} stored {n} times, sent {attempts}; ");
            }
        }
        match problems.is_empty() {
            true => Ok(()),
            false => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: MessageKey = MessageKey {
        producer: 1,
        seq: 9,
    };
    const J: MessageKey = MessageKey {
        producer: 2,
        seq: 3,
    };

    #[test]
    fn bodies_carry_their_key_and_any_damage_is_caught() {
        assert_eq!(MessageKey::parse(&K.body()), Ok(K));
        let mut torn = K.body();
        let last = torn.len() - 1;
        torn[last] ^= 1;
        assert!(MessageKey::parse(&torn).is_err());
        assert!(MessageKey::parse(&[0; 32]).is_err());
        assert!(MessageKey::parse(&K.body()[..5]).is_err());
    }

    #[test]
    fn an_acknowledged_position_must_read_back_as_itself() {
        let mut ledger = Ledger::default();
        ledger.sent(K, 0);
        ledger.sent(J, 0);
        ledger.acked(K, (0, 4)).unwrap();
        assert!(ledger.delivered((0, 4), &J.body(), 0).is_err());
        ledger.delivered((0, 4), &K.body(), 0).unwrap();
        ledger.delivered((0, 4), &K.body(), 0).unwrap();
        assert_eq!(ledger.redeliveries, 1);
        assert!(ledger.acked(J, (0, 4)).is_err());
    }

    #[test]
    fn the_final_check_wants_every_acknowledged_position_and_no_unexplained_copy() {
        let mut ledger = Ledger::default();
        ledger.sent(K, 0);
        ledger.acked(K, (0, 0)).unwrap();
        assert!(ledger.final_check(0).is_err());
        ledger.delivered((0, 0), &K.body(), 0).unwrap();
        ledger.final_check(0).unwrap();
        // A second copy needs a second attempt.
        ledger.delivered((1, 0), &K.body(), 0).unwrap();
        assert!(ledger.final_check(0).is_err());
        ledger.sent(K, 0);
        ledger.final_check(0).unwrap();
    }

    #[test]
    fn a_power_loss_forgives_only_the_cut_suffix_and_offsets_must_not_go_back() {
        let mut ledger = Ledger::default();
        ledger.sent(K, 0);
        ledger.sent(J, 0);
        ledger.acked(K, (0, 0)).unwrap();
        ledger.acked(J, (0, 1)).unwrap();
        ledger.committed(0, 2);
        assert!(ledger.resumed(0, 1).is_err());
        ledger.forget_from(0, 1, 2);
        assert_eq!((ledger.forgiven, ledger.acked_count()), (1, 1));
        ledger.resumed(0, 1).unwrap();
        assert!(ledger.delivered((0, 0), &J.body(), 0).is_err());
        // The position reused after the cut, behind a consumer that had
        // read it before, may be skipped; one past what it reached may not.
        ledger.delivered((0, 0), &K.body(), 0).unwrap();
        let l = MessageKey {
            producer: 3,
            seq: 1,
        };
        ledger.sent(l, 0);
        ledger.acked(l, (0, 1)).unwrap();
        ledger.final_check(0).unwrap();
        assert_eq!(ledger.skipped, 1);
        ledger.sent(J, 0);
        ledger.acked(J, (0, 2)).unwrap();
        assert!(ledger.final_check(0).is_err());
    }

    #[test]
    fn a_message_sent_back_comes_back_after_its_delay_or_in_the_dlq() {
        let mut ledger = Ledger::default();
        ledger.back_asked(K, 1, 100);
        ledger.back_acked(K, 1, 0);
        assert_eq!(ledger.back_pending(0), 1);
        assert!(ledger.final_check(0).is_err());
        // Level 3 (10 s) for its first return, from the retry topic only.
        assert!(ledger.came_back(K, 1, false, 100 + 9_999, 0).is_err());
        assert!(ledger.came_back(K, 1, true, 100 + 10_000, 0).is_err());
        ledger.came_back(K, 1, false, 100 + 10_000, 0).unwrap();
        ledger.final_check(0).unwrap();
        // Never sent back: only a cut (a reused offset) explains it.
        assert!(ledger.came_back(J, 1, false, 1 << 40, 0).is_err());
        ledger.came_back(J, 1, false, 1 << 40, 1).unwrap();
        // Past the maximum: the DLQ, at once.
        ledger.back_asked(K, 3, 200);
        ledger.back_acked(K, 3, 1);
        assert!(ledger.came_back(K, 3, false, 1 << 40, 1).is_err());
        assert_eq!(ledger.back_pending(1), 1);
        // A cut after the acknowledgement forgives it.
        ledger.final_check(2).unwrap();
        ledger.came_back(K, 3, true, 200, 1).unwrap();
        assert_eq!((ledger.back_pending(1), ledger.dead), (0, 1));
    }
}
