//! Epochs: which master start wrote which stretch of a shard's log, so a
//! slave and its master can find where their logs agree.
//!
//! Each time a master shard opens it begins a new epoch at its log end.
//! A slave adopts its master's history. When a master comes back with less
//! than it had (an unclean stop in a mode that loses the newest records),
//! its next epoch begins below what a slave already holds, and
//! [`agreed_end`] says where the slave must cut its log. Automatic failover
//! can later use the same history: a promoted slave begins its own epoch.
//!
//! Epoch numbers are wall-clock milliseconds (at least one more than the
//! last), so a master that lost its whole data directory still begins an
//! epoch no slave has seen.

/// One master start: `epoch` wrote the log from `start` to the next
/// epoch's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    pub epoch: u64,
    pub start: u64,
}

/// A shard's epoch history, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Epochs(pub Vec<Epoch>);

impl Epochs {
    /// Begins a new epoch at `start` (the log end at a master's open).
    pub fn begin(&mut self, start: u64, now_ms: u64) -> Epoch {
        let last = self.0.last().map_or(0, |e| e.epoch);
        let next = Epoch {
            epoch: now_ms.max(last + 1),
            start,
        };
        self.0.push(next);
        next
    }

    /// Parses the file form: one `epoch start` pair per line.
    pub fn parse(text: &str) -> Result<Epochs, String> {
        let mut epochs = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let mut fields = line.split_whitespace().map(str::parse::<u64>);
            let (Some(Ok(epoch)), Some(Ok(start)), None) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(format!("line {}: expected `epoch start`", n + 1));
            };
            epochs.push(Epoch { epoch, start });
        }
        let ordered = epochs
            .windows(2)
            .all(|w| w[0].epoch < w[1].epoch && w[0].start <= w[1].start);
        match ordered {
            true => Ok(Epochs(epochs)),
            false => Err("epochs out of order".into()),
        }
    }

    /// The file form.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|e| format!("{} {}\n", e.epoch, e.start))
            .collect()
    }

    /// Where epoch `i` ends: the next one's start, or `log_end`.
    fn end_of(&self, i: usize, log_end: u64) -> u64 {
        self.0.get(i + 1).map_or(log_end, |next| next.start)
    }
}

/// How much of a slave's log (history `slave`, ending at `slave_end`) the
/// master (`master`, `master_end`) also has: the offset where the stream
/// resumes. Below it the logs are the same bytes; a slave log longer than
/// that is cut there.
///
/// The newest slave epoch the master also has is where they last agreed;
/// both wrote it up to the sooner of their ends of it. A slave with no
/// history (empty, or from before epochs) trusts its bytes up to the
/// master's end; one whose history the master does not share at all keeps
/// nothing past its first epoch's start.
pub fn agreed_end(master: &Epochs, master_end: u64, slave: &Epochs, slave_end: u64) -> u64 {
    if slave.0.is_empty() {
        return slave_end.min(master_end);
    }
    for (i, s) in slave.0.iter().enumerate().rev() {
        if let Some(m) = master.0.iter().position(|m| m == s) {
            let ends = master.end_of(m, master_end).min(slave.end_of(i, slave_end));
            return ends.min(slave_end);
        }
    }
    slave.0[0].start.min(slave_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(u64, u64)]) -> Epochs {
        Epochs(
            pairs
                .iter()
                .map(|&(epoch, start)| Epoch { epoch, start })
                .collect(),
        )
    }

    #[test]
    fn where_slave_and_master_agree() {
        // (case, master history, master end, slave history, slave end, agreed)
        type Case<'a> = (&'a str, &'a [(u64, u64)], u64, &'a [(u64, u64)], u64, u64);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("fresh slave", &[(1, 0)], 900, &[], 0, 0),
            ("slave from before epochs", &[(1, 0)], 900, &[], 500, 500),
            ("same epoch, slave behind", &[(1, 0)], 900, &[(1, 0)], 400, 400),
            ("master restarted cleanly", &[(1, 0), (2, 900)], 1200, &[(1, 0)], 900, 900),
            ("slave already has the new epoch", &[(1, 0), (2, 900)], 1200, &[(1, 0), (2, 900)], 1000, 1000),
            ("master lost its newest records", &[(1, 0), (2, 700)], 800, &[(1, 0)], 900, 700),
            ("master lost everything of epoch 1", &[(1, 0), (2, 0)], 300, &[(1, 0)], 900, 0),
            ("slave's newest epoch unknown to the master", &[(1, 0), (3, 500)], 800, &[(1, 0), (2, 600)], 900, 500),
            ("no common history (master's data directory replaced)", &[(50, 0)], 800, &[(1, 100)], 900, 100),
            ("master behind a slave of the same epoch", &[(1, 0)], 300, &[(1, 0)], 900, 300),
        ];
        for (name, m, m_end, s, s_end, want) in cases {
            assert_eq!(agreed_end(&h(m), *m_end, &h(s), *s_end), *want, "{name}");
        }
    }

    #[test]
    fn epochs_grow_even_when_the_clock_does_not() {
        let mut e = Epochs::default();
        assert_eq!(e.begin(0, 1_000).epoch, 1_000);
        assert_eq!(e.begin(10, 500).epoch, 1_001, "a clock step back");
        assert_eq!(e.begin(20, 5_000).epoch, 5_000);
    }

    #[test]
    fn the_file_form_round_trips_and_refuses_nonsense() {
        let e = h(&[(1, 0), (2, 4096), (7, 4096)]);
        assert_eq!(Epochs::parse(&e.render()), Ok(e));
        assert_eq!(Epochs::parse(""), Ok(Epochs::default()));
        for bad in ["1", "1 2 3", "x 0", "2 0\n1 5", "1 50\n2 10"] {
            assert!(Epochs::parse(bad).is_err(), "{bad:?}");
        }
    }
}
