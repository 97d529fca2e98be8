//! Command-line options of `bolide-loadgen`: a clap command (help,
//! version, suggestions) turned into [`Options`] by a pure, table-tested
//! step.

use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};

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
            spin_us: 0,
        }
    }
}

/// The command line: the mode, then options (`-n`/`--namesrvAddr` as in
/// RocketMQ's tools; the NameServer may be `host:port`).
pub fn command() -> Command {
    let value = |long: &'static str, name: &'static str, help: &'static str| {
        Arg::new(long).long(long).value_name(name).help(help)
    };
    let flag = |long: &'static str, help: &'static str| {
        Arg::new(long)
            .long(long)
            .action(ArgAction::SetTrue)
            .help(help)
    };
    Command::new("bolide-loadgen")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Throughput and latency of a RocketMQ-compatible broker")
        .arg(
            Arg::new("mode")
                .required(true)
                .value_parser(["produce", "consume"])
                .help("send messages, or pull them"),
        )
        .arg(
            value("namesrv", "ADDR", "NameServer (default 127.0.0.1:9876)")
                .short('n')
                .visible_alias("namesrvAddr"),
        )
        .arg(value("topic", "NAME", "topic (default BenchmarkTest)").short('t'))
        .arg(value("size", "BYTES", "message body size (default 1024)").short('s'))
        .arg(value("producers", "N", "concurrent producers (default 64)").short('p'))
        .arg(value("threads", "N", "client executor threads (default 1)"))
        .arg(value(
            "send",
            "MODE",
            "sync, async or oneway (default sync)",
        ))
        .arg(value(
            "inflight",
            "N",
            "unanswered requests per async producer (default 16)",
        ))
        .arg(value("batch", "N", "messages per send request (default 1)").short('b'))
        .arg(value(
            "rate",
            "N",
            "messages per second, all producers (default unlimited)",
        ))
        .arg(value("duration", "SECS", "run time (default 10)").short('d'))
        .arg(value("count", "N", "stop after N messages instead").short('c'))
        .arg(value("queues", "N", "queues of the topic (default 8)").short('q'))
        .arg(flag("from-start", "consume from the earliest offset"))
        .arg(flag(
            "embedded",
            "start a NameServer + broker in this process",
        ))
        .arg(value(
            "flush",
            "MODE",
            "embedded broker flush: async, sync or memory (default async)",
        ))
        .arg(value("shards", "N", "embedded broker shards (default 1)"))
        .arg(value(
            "spin-us",
            "N",
            "executor spin before sleeping, us (default 0)",
        ))
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("--{flag}: {value:?} is not a valid number"))
}

/// Parses the arguments after the program name (tests; `main` lets clap
/// print help and usage errors itself).
#[cfg(test)]
pub fn parse(args: &[String]) -> Result<Options, String> {
    let argv = std::iter::once("bolide-loadgen".to_owned()).chain(args.iter().cloned());
    let matches = command()
        .try_get_matches_from(argv)
        .map_err(|e| e.to_string())?;
    from_matches(&matches)
}

/// Options from parsed arguments, validated.
pub fn from_matches(m: &ArgMatches) -> Result<Options, String> {
    let mode = match m.get_one::<String>("mode").map(String::as_str) {
        Some("consume") => Mode::Consume,
        _ => Mode::Produce,
    };
    let mut o = Options {
        mode,
        embedded: m.get_flag("embedded"),
        from_start: m.get_flag("from-start"),
        ..Options::default()
    };
    for id in m.ids() {
        let id = id.as_str();
        if let Ok(Some(v)) = m.try_get_one::<String>(id) {
            apply(&mut o, id, v)?;
        }
    }
    validate(&o)?;
    Ok(o)
}

fn apply(o: &mut Options, flag: &str, v: &str) -> Result<(), String> {
    match flag {
        "namesrv" => {
            let addr = bolide_transport::cli::resolve_addr_list(v)
                .map_err(|e| format!("--namesrv: {e}"))?;
            let text: Vec<String> = addr.iter().map(ToString::to_string).collect();
            o.namesrv = text.join(";");
        }
        "topic" => o.topic = v.to_owned(),
        "size" => o.message_bytes = number(flag, v)?,
        "producers" => o.producers = number(flag, v)?,
        "threads" => o.threads = number(flag, v)?,
        "inflight" => o.inflight = number(flag, v)?,
        "batch" => o.batch = number(flag, v)?,
        "rate" => o.rate = number(flag, v)?,
        "duration" => o.duration = Duration::from_secs_f64(number(flag, v)?),
        "count" => o.count = number(flag, v)?,
        "queues" => o.queues = number(flag, v)?,
        "shards" => o.embedded_shards = number(flag, v)?,
        "spin-us" => o.spin_us = number(flag, v)?,
        "send" => {
            o.send_mode = match v {
                "sync" => SendMode::Sync,
                "async" => SendMode::Async,
                "oneway" => SendMode::Oneway,
                _ => return Err(format!("--send: {v:?} is not sync, async or oneway")),
            }
        }
        "flush" => {
            o.embedded_flush = match v {
                "async" => Flush::Async,
                "sync" => Flush::Sync,
                "memory" => Flush::Memory,
                _ => return Err(format!("--flush: {v:?} is not async, sync or memory")),
            }
        }
        // The mode, handled by the caller.
        _ => {}
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
        let o = parse(&args("produce --namesrvAddr localhost:9876 -c 5")).unwrap();
        assert!(o.namesrv.ends_with(":9876") && !o.namesrv.starts_with("localhost"));
        assert_eq!(o.count, 5);
    }

    #[test]
    fn command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn bad_arguments_are_explained() {
        for (line, needle) in [
            ("", "<mode>"),
            ("frobnicate", "possible values: produce, consume"),
            ("produce -s", "a value is required"),
            ("produce -s x", "not a valid number"),
            ("produce --send maybe", "--send"),
            ("produce --bogus 1", "unexpected argument '--bogus'"),
            (
                "produce --dration 1",
                "similar argument exists: '--duration'",
            ),
            ("produce -p 0", "must be > 0"),
            ("produce -p 1 --threads 2", "--threads"),
        ] {
            let err = parse(&args(line)).unwrap_err();
            assert!(err.contains(needle), "{line:?} -> {err}");
        }
    }
}
