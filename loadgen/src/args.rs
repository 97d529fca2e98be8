//! Command-line options of `bolide-loadgen`, parsed without a framework
//! (pure, table-tested).

use std::time::Duration;

/// What the run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Produce,
    Consume,
}

/// How producers send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    /// One request at a time per producer, waiting for the answer.
    Sync,
    /// Up to `inflight` unanswered requests per producer.
    Async,
    /// Fire and forget.
    Oneway,
}

/// Durability of the embedded broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    Async,
    Sync,
    Memory,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub mode: Mode,
    pub namesrv: String,
    pub topic: String,
    pub message_bytes: usize,
    pub producers: usize,
    pub threads: usize,
    pub send_mode: SendMode,
    pub inflight: usize,
    pub batch: usize,
    /// Messages per second over all producers; 0 = unlimited.
    pub rate: u64,
    pub duration: Duration,
    /// Stop after this many messages (0 = use duration).
    pub count: u64,
    /// Start a NameServer + broker in this process.
    pub embedded: bool,
    pub embedded_flush: Flush,
    pub embedded_shards: usize,
    pub queues: u32,
    /// Consume from the earliest offset instead of the newest.
    pub from_start: bool,
    /// Executor spin before parking, us (client threads and embedded broker).
    pub spin_us: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Produce,
            namesrv: "127.0.0.1:9876".into(),
            topic: "BenchmarkTest".into(),
            message_bytes: 1024,
            producers: 64,
            threads: 1,
            send_mode: SendMode::Sync,
            inflight: 16,
            batch: 1,
            rate: 0,
            duration: Duration::from_secs(10),
            count: 0,
            embedded: false,
            embedded_flush: Flush::Async,
            embedded_shards: 1,
            queues: 8,
            from_start: false,
            spin_us: 100,
        }
    }
}

pub const USAGE: &str = "\
usage: bolide-loadgen produce|consume [options]
  -n, --namesrv ADDR      NameServer (default 127.0.0.1:9876)
  -t, --topic NAME        topic (default BenchmarkTest)
  -s, --size BYTES        message body size (default 1024)
  -p, --producers N       concurrent producers (default 64)
      --threads N         client executor threads (default 1)
      --send sync|async|oneway   (default sync)
      --inflight N        unanswered requests per async producer (default 16)
  -b, --batch N           messages per send request (default 1)
      --rate N            messages per second, all producers (default unlimited)
  -d, --duration SECS     run time (default 10)
  -c, --count N           stop after N messages instead
  -q, --queues N          queues of the topic (default 8)
      --from-start        consume from the earliest offset
      --embedded          start a NameServer + broker in this process
      --flush async|sync|memory  embedded broker flush mode (default async)
      --shards N          embedded broker shards (default 1)
      --spin-us N         executor spin before sleeping, us (default 100)";

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not a valid number"))
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    o.mode = match it.next().map(String::as_str) {
        Some("produce") => Mode::Produce,
        Some("consume") => Mode::Consume,
        other => return Err(format!("expected produce or consume, got {other:?}")),
    };
    while let Some(flag) = it.next() {
        if flag == "--embedded" {
            o.embedded = true;
            continue;
        }
        if flag == "--from-start" {
            o.from_start = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        apply(&mut o, flag, value)?;
    }
    validate(&o)?;
    Ok(o)
}

fn apply(o: &mut Options, flag: &str, v: &str) -> Result<(), String> {
    match flag {
        "-n" | "--namesrv" => o.namesrv = v.to_owned(),
        "-t" | "--topic" => o.topic = v.to_owned(),
        "-s" | "--size" => o.message_bytes = number(flag, v)?,
        "-p" | "--producers" => o.producers = number(flag, v)?,
        "--threads" => o.threads = number(flag, v)?,
        "--inflight" => o.inflight = number(flag, v)?,
        "-b" | "--batch" => o.batch = number(flag, v)?,
        "--rate" => o.rate = number(flag, v)?,
        "-d" | "--duration" => o.duration = Duration::from_secs_f64(number(flag, v)?),
        "-c" | "--count" => o.count = number(flag, v)?,
        "-q" | "--queues" => o.queues = number(flag, v)?,
        "--shards" => o.embedded_shards = number(flag, v)?,
        "--spin-us" => o.spin_us = number(flag, v)?,
        "--send" => {
            o.send_mode = match v {
                "sync" => SendMode::Sync,
                "async" => SendMode::Async,
                "oneway" => SendMode::Oneway,
                _ => return Err(format!("--send: {v:?} is not sync, async or oneway")),
            }
        }
        "--flush" => {
            o.embedded_flush = match v {
                "async" => Flush::Async,
                "sync" => Flush::Sync,
                "memory" => Flush::Memory,
                _ => return Err(format!("--flush: {v:?} is not async, sync or memory")),
            }
        }
        _ => return Err(format!("unknown option {flag}\n{USAGE}")),
    }
    Ok(())
}

fn validate(o: &Options) -> Result<(), String> {
    if o.producers == 0 || o.threads == 0 || o.batch == 0 || o.inflight == 0 || o.queues == 0 {
        return Err("--producers, --threads, --batch, --inflight and --queues must be > 0".into());
    }
    if o.threads > o.producers {
        return Err("--threads must not exceed --producers".into());
    }
    if o.message_bytes > 4 << 20 {
        return Err("--size must be at most 4 MiB".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let o = parse(&args("produce")).unwrap();
        assert_eq!(o, Options::default());
        let o = parse(&args("consume -t T -s 10 -p 4 --threads 2 --send async -b 8 --rate 100 -d 2.5 --embedded --flush sync --from-start")).unwrap();
        assert_eq!(o.mode, Mode::Consume);
        assert_eq!(
            (o.topic.as_str(), o.message_bytes, o.producers, o.threads),
            ("T", 10, 4, 2)
        );
        assert_eq!((o.send_mode, o.batch, o.rate), (SendMode::Async, 8, 100));
        assert_eq!(o.duration, Duration::from_millis(2500));
        assert!(o.embedded && o.from_start);
        assert_eq!(o.embedded_flush, Flush::Sync);
    }

    #[test]
    fn bad_arguments_are_explained() {
        for (line, needle) in [
            ("", "produce or consume"),
            ("produce -s", "needs a value"),
            ("produce -s x", "not a valid number"),
            ("produce --send maybe", "--send"),
            ("produce --bogus 1", "unknown option"),
            ("produce -p 0", "must be > 0"),
            ("produce -p 1 --threads 2", "--threads"),
        ] {
            let err = parse(&args(line)).unwrap_err();
            assert!(err.contains(needle), "{line:?} -> {err}");
        }
    }
}
