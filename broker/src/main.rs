//! `bolide-broker`: runs a broker (and, with `--standalone`, a NameServer in
//! the same process) until Ctrl-C / SIGTERM.
//!
//! ```text
//! bolide-broker [--standalone] [--config broker.toml] [--data-dir DIR]
//!               [--listen-port PORT] [--namesrv IP:PORT] [--shards N]
//! ```
//!
//! One process per data directory and per port: the runtime locks the data
//! directory (`bolide_broker::datadir`) and, like the NameServer, refuses an
//! address someone already listens on.

use bolide_broker::config::{BrokerConfig, DEFAULT_CONFIG_TOML};
use bolide_namesrv::config::NamesrvConfig;

const USAGE: &str = "usage: bolide-broker [--standalone] [--config FILE] [--data-dir DIR] \
[--listen-port PORT] [--namesrv IP:PORT] [--shards N]";

struct Args {
    standalone: bool,
    config: BrokerConfig,
}

fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<String, String> {
    args.next()
        .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut text = DEFAULT_CONFIG_TOML.to_owned();
    let mut overrides: Vec<(String, String)> = Vec::new();
    let mut standalone = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--standalone" => standalone = true,
            "--config" => {
                let path = value(&mut args, "--config")?;
                text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
            }
            "--data-dir" | "--listen-port" | "--namesrv" | "--shards" => {
                overrides.push((arg.clone(), value(&mut args, &arg)?));
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let mut config = BrokerConfig::from_toml(&text).map_err(|e| e.to_string())?;
    for (flag, v) in overrides {
        let bad = |e: std::num::ParseIntError| format!("{flag} {v:?}: {e}");
        match flag.as_str() {
            "--data-dir" => config.store.data_dir = v.into(),
            "--listen-port" => config.broker.listen_port = v.parse().map_err(bad)?,
            "--namesrv" => config.broker.namesrv_addrs = vec![v],
            _ => config.broker.shards = v.parse().map_err(bad)?,
        }
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(Args { standalone, config })
}

/// Starts the NameServer of `--standalone` on the broker's first
/// `namesrv_addrs` entry.
fn start_namesrv(config: &BrokerConfig) -> Result<bolide_namesrv::server::NamesrvHandle, String> {
    let listen = config
        .broker
        .namesrv_addrs
        .first()
        .cloned()
        .unwrap_or_default();
    let config = NamesrvConfig {
        listen_addr: listen,
        ..NamesrvConfig::default()
    };
    let ns = bolide_namesrv::server::spawn(config)
        .map_err(|e| format!("cannot start the NameServer: {e}"))?;
    println!("bolide NameServer listening on {}", ns.addr());
    Ok(ns)
}

/// "0.0.0.0:10911 (VIP port 10909)": where the sockets are bound, which
/// may differ from the advertised address clients are given.
fn describe_listen(config: &BrokerConfig) -> String {
    match bolide_broker::runtime::listen_addrs(config).as_deref() {
        Ok([main]) => format!("{main} (VIP port off)"),
        Ok([main, vip, ..]) => format!("{main} (VIP port {})", vip.port()),
        _ => format!("port {}", config.broker.listen_port),
    }
}

fn fail(e: String) -> ! {
    eprintln!("bolide-broker: {e}");
    std::process::exit(1);
}

/// What the main thread waits for: a termination signal, or the end of
/// startup (which runs on its own thread so a signal is honoured at once,
/// even while a large store recovers).
enum Event {
    Signal(i32),
    Started(Result<Running, String>),
}

struct Running {
    broker: bolide_broker::runtime::BrokerHandle,
    namesrv: Option<bolide_namesrv::server::NamesrvHandle>,
}

fn start(args: Args) -> Result<Running, String> {
    let data_dir = args.config.store.data_dir.clone();
    let namesrv = match args.standalone {
        true => Some(start_namesrv(&args.config)?),
        false => None,
    };
    let listen = describe_listen(&args.config);
    let broker =
        bolide_broker::runtime::start(args.config).map_err(|e| format!("cannot start: {e}"))?;
    println!(
        "bolide broker listening on {listen}, advertised as {} (data in {})",
        broker.addr(),
        data_dir.display()
    );
    Ok(Running { broker, namesrv })
}

fn main() {
    bolide_transport::signal::block_termination_signals();
    bolide_transport::logging::init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bolide-broker: {e}");
            std::process::exit(2);
        }
    };
    let (events, next) = std::sync::mpsc::channel();
    let signals = events.clone();
    std::thread::spawn(move || {
        let _ = signals.send(Event::Signal(
            bolide_transport::signal::wait_for_termination(),
        ));
    });
    std::thread::spawn(move || {
        let _ = events.send(Event::Started(start(args)));
    });
    let running = match next.recv() {
        Ok(Event::Started(Ok(running))) => running,
        Ok(Event::Started(Err(e))) => fail(e),
        Ok(Event::Signal(signal)) => {
            // Stores may be mid-recovery: stopping here is a crash they
            // recover from at the next start (the abort marker stays).
            eprintln!(
                "bolide-broker: signal {signal} during startup; exiting without a clean stop"
            );
            std::process::exit(128 + signal);
        }
        Err(_) => fail("startup thread vanished".into()),
    };
    let _ = next.recv();
    println!("bolide-broker: shutting down");
    let stopped = running.broker.shutdown();
    if let Some(ns) = running.namesrv {
        ns.shutdown();
    }
    match stopped {
        Ok(()) => println!("bolide-broker: stopped cleanly"),
        Err(e) => fail(format!("stopped, but {e}")),
    }
}
