//! `bolide-sim`: runs seeds of the whole-system simulation.
//!
//! ```text
//! bolide-sim [--seeds N] [--from S] [--seed S] [--steps K] [--trace]
//! ```
//! `--seeds N` runs seeds S..S+N (S from `--from`, default 0); `--seed S`
//! runs one. Prints a line per seed; exits 1 at the first failing seed,
//! naming it so it can be replayed alone.

use std::process::ExitCode;

use bolide_sim::Options;

struct Args {
    first: u64,
    count: u64,
    steps: Option<u64>,
    trace: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        first: 0,
        count: 16,
        steps: None,
        trace: false,
    };
    while let Some(flag) = args.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = args.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("{name}: not a number: {v}"))
        };
        match flag.as_str() {
            "--seeds" => parsed.count = value("--seeds")?,
            "--from" => parsed.first = value("--from")?,
            "--seed" => (parsed.first, parsed.count) = (value("--seed")?, 1),
            "--steps" => parsed.steps = Some(value("--steps")?),
            "--trace" => parsed.trace = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(parsed)
}

const USAGE: &str = "usage: bolide-sim [--seeds N] [--from S] [--seed S] [--steps K] [--trace]";

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    for seed in args.first..args.first + args.count {
        let mut opts = Options::for_seed(seed);
        opts.steps = args.steps.unwrap_or(opts.steps);
        opts.trace = args.trace;
        match bolide_sim::run(opts) {
            Ok(summary) => println!("ok   {summary}"),
            Err(e) => {
                println!("FAIL seed {seed}: {e}\nreplay: bolide-sim --seed {seed}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
