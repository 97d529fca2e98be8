//! `bolide-broker`: runs a broker (and, with `--standalone`, a NameServer in
//! the same process) until Ctrl-C / SIGTERM.
//!
//! ```text
//! bolide-broker [--standalone] [--config broker.toml] [--data-dir DIR]
//!               [--listen-port PORT] [--namesrv IP:PORT] [--shards N]
//! ```

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

fn main() {
    bolide_namesrv::signal::block_termination_signals();
    bolide_namesrv::logging::init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bolide-broker: {e}");
            std::process::exit(2);
        }
    };
    let namesrv = if args.standalone {
        let listen = args
            .config
            .broker
            .namesrv_addrs
            .first()
            .cloned()
            .unwrap_or_default();
        let config = NamesrvConfig {
            listen_addr: listen,
            ..NamesrvConfig::default()
        };
        match bolide_namesrv::server::spawn(config) {
            Ok(ns) => {
                println!("bolide NameServer listening on {}", ns.addr());
                Some(ns)
            }
            Err(e) => {
                eprintln!("bolide-broker: cannot start the NameServer: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let data_dir = args.config.store.data_dir.clone();
    let broker = match bolide_broker::runtime::start(args.config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bolide-broker: cannot start: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "bolide broker listening on {} (data in {})",
        broker.addr(),
        data_dir.display()
    );
    bolide_namesrv::signal::wait_for_termination();
    println!("bolide-broker: shutting down");
    broker.shutdown();
    if let Some(ns) = namesrv {
        ns.shutdown();
    }
    println!("bolide-broker: stopped cleanly");
}
