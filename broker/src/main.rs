//! `bolide-broker`: runs a broker (and, with `--standalone`, a NameServer in
//! the same process) until Ctrl-C / SIGTERM.
//!
//! ```text
//! bolide-broker [--standalone] [-c|--config broker.toml] [--data-dir DIR]
//!               [--listen-port PORT] [-n|--namesrv HOST:PORT[;HOST:PORT]] [--shards N]
//! ```
//!
//! One process per data directory and per port: the runtime locks the data
//! directory (`bolide_broker::datadir`) and, like the NameServer, refuses an
//! address someone already listens on.

use bolide_broker::config::{BrokerConfig, DEFAULT_CONFIG_TOML};
use bolide_namesrv::config::NamesrvConfig;
use clap::{Arg, ArgAction, ArgMatches, Command};

struct Args {
    standalone: bool,
    config: BrokerConfig,
}

/// The command line; `-c`/`-n` are `mqbroker`'s spellings of the config
/// file and the NameServer list.
fn command() -> Command {
    let value = |id: &'static str, name: &'static str, help: &'static str| {
        Arg::new(id).long(id).value_name(name).help(help)
    };
    Command::new("bolide-broker")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Bolide broker: thread-per-core RocketMQ-compatible message broker")
        .arg(
            Arg::new("standalone")
                .long("standalone")
                .action(ArgAction::SetTrue)
                .help("also run a NameServer in this process, on the first namesrv address"),
        )
        .arg(
            value("config", "FILE", "TOML config (defaults built in)")
                .short('c')
                .visible_alias("configFile"),
        )
        .arg(value("data-dir", "DIR", "store directory (store.data_dir)"))
        .arg(value("listen-port", "PORT", "port (broker.listen_port)"))
        .arg(
            value(
                "namesrv",
                "ADDR[;ADDR]",
                "NameServers, host:port accepted (broker.namesrv_addrs)",
            )
            .short('n')
            .visible_alias("namesrvAddr"),
        )
        .arg(value("shards", "N", "shards, one per core (broker.shards)"))
}

/// The config file (or the built-in defaults) with the flags applied.
fn parse_args(m: &ArgMatches) -> Result<Args, String> {
    let text = match m.get_one::<String>("config") {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
        }
        None => DEFAULT_CONFIG_TOML.to_owned(),
    };
    let mut config = BrokerConfig::from_toml(&text).map_err(|e| e.to_string())?;
    let number = |flag: &str, v: &String| format!("--{flag} {v:?}: not a number");
    if let Some(dir) = m.get_one::<String>("data-dir") {
        config.store.data_dir = dir.into();
    }
    if let Some(v) = m.get_one::<String>("listen-port") {
        config.broker.listen_port = v.parse().map_err(|_| number("listen-port", v))?;
    }
    if let Some(v) = m.get_one::<String>("namesrv") {
        let addrs =
            bolide_transport::cli::resolve_addr_list(v).map_err(|e| format!("--namesrv: {e}"))?;
        config.broker.namesrv_addrs = addrs.iter().map(ToString::to_string).collect();
    }
    if let Some(v) = m.get_one::<String>("shards") {
        config.broker.shards = v.parse().map_err(|_| number("shards", v))?;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(Args {
        standalone: m.get_flag("standalone"),
        config,
    })
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

/// See the workspace's `Cargo.toml` for why not the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Parsed first: `--help` and usage errors must not wait on signal or
    // log set-up (clap exits 0 for help and version, 2 for a usage error).
    let matches = command().get_matches();
    bolide_transport::signal::block_termination_signals();
    bolide_transport::logging::init();
    let args = match parse_args(&matches) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn flags_override_the_config_and_hostnames_resolve() {
        let m = command().get_matches_from([
            "bolide-broker",
            "--standalone",
            "-n",
            "localhost:9876",
            "--listen-port",
            "20911",
            "--shards",
            "2",
        ]);
        let args = parse_args(&m).unwrap();
        assert!(args.standalone);
        let b = &args.config.broker;
        assert_eq!((b.listen_port, b.shards), (20911, 2));
        assert!(
            b.namesrv_addrs[0].ends_with(":9876"),
            "{:?}",
            b.namesrv_addrs
        );
        let m = command().get_matches_from(["bolide-broker", "--shards", "x"]);
        let refused = parse_args(&m).err().expect("--shards x is refused");
        assert!(refused.contains("--shards"), "{refused}");
    }
}
