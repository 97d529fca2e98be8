//! `bolide-namesrv`: runs a NameServer until Ctrl-C / SIGTERM.
//!
//! ```text
//! bolide-namesrv [-c|--config namesrv.toml] [--listen 0.0.0.0:9876]
//! ```
//!
//! `-c` is `mqnamesrv`'s spelling of the config file; `--listen` takes a
//! hostname too (resolved once, at start).

use bolide_namesrv::config::{NamesrvConfig, DEFAULT_CONFIG_TOML};
use clap::{Arg, ArgMatches, Command};

fn command() -> Command {
    Command::new("bolide-namesrv")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Bolide NameServer: broker registration, liveness and topic routes")
        .arg(
            Arg::new("config")
                .short('c')
                .long("config")
                .visible_alias("configFile")
                .value_name("FILE")
                .help("TOML config (defaults built in)"),
        )
        .arg(
            Arg::new("listen")
                .long("listen")
                .value_name("IP:PORT")
                .help("address to listen on, overriding the config's listen_addr"),
        )
}

fn load_config(matches: &ArgMatches) -> Result<NamesrvConfig, String> {
    let text = match matches.get_one::<String>("config") {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
        }
        None => DEFAULT_CONFIG_TOML.to_owned(),
    };
    let mut config = NamesrvConfig::from_toml(&text)?;
    if let Some(listen) = matches.get_one::<String>("listen") {
        let addr =
            bolide_transport::cli::resolve_addr(listen).map_err(|e| format!("--listen: {e}"))?;
        config.listen_addr = addr.to_string();
        config.validate()?;
    }
    Ok(config)
}

fn main() {
    // Parsed first: `--help` and usage errors must not wait on signal or
    // log set-up (clap exits 0 for help and version, 2 for a usage error).
    let matches = command().get_matches();
    bolide_transport::signal::block_termination_signals();
    bolide_transport::logging::init();
    let config = match load_config(&matches) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bolide-namesrv: {e}");
            std::process::exit(2);
        }
    };
    let handle = match bolide_namesrv::server::spawn(config) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("bolide-namesrv: cannot start: {e}");
            std::process::exit(1);
        }
    };
    println!("bolide-namesrv listening on {}", handle.addr());
    bolide_transport::signal::wait_for_termination();
    handle.shutdown();
    println!("bolide-namesrv stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_consistent() {
        command().debug_assert();
    }
}
