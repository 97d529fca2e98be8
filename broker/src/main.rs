//! `bolide-broker`: runs a broker (and, with `--standalone`, a NameServer in
//! the same process) until Ctrl-C / SIGTERM.
//!
//! ```text
//! bolide-broker [--standalone] [--config broker.toml] [--data-dir DIR]
//!               [--listen-port PORT] [--namesrv IP:PORT] [--shards N]
//! ```
//!
//! One process per data directory: before any store opens, the broker takes
//! an exclusive `flock` on `<data_dir>/lock` (which records its pid for
//! operators) and holds it until it exits; a second broker on the same
//! directory refuses to start. Ports are checked by the runtime and the
//! NameServer, which refuse addresses someone already listens on.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

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

/// The name of the lock file inside the data directory.
const LOCK_FILE: &str = "lock";

// std's `File::try_lock` needs Rust 1.89 (the workspace supports 1.85) and
// this crate does not depend on libc, so flock(2) is declared here; its
// signature and the Linux values below are part of the stable ABI.
extern "C" {
    fn flock(fd: std::os::raw::c_int, operation: std::os::raw::c_int) -> std::os::raw::c_int;
}
const LOCK_EX: std::os::raw::c_int = 2;
const LOCK_NB: std::os::raw::c_int = 4;

/// Takes `<dir>/lock` exclusively without waiting and writes our pid in it.
/// The lock lives as long as the returned file: flock locks belong to the
/// open file, so the kernel drops it when the process exits however it
/// exits (even kill -9), and a stale file never blocks a restart.
fn lock_data_dir(dir: &Path) -> Result<File, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    // No truncation on open: the holder's pid must stay readable.
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // SAFETY: flock only reads the descriptor, which `file` keeps open.
    let rc = unsafe { flock(std::os::fd::AsRawFd::as_raw_fd(&file), LOCK_EX | LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::WouldBlock {
            return Err(format!("cannot lock {}: {err}", path.display()));
        }
        return Err(format!(
            "data directory {} is in use by another broker ({}, holding {}); \
             stop it or choose another --data-dir",
            dir.display(),
            lock_holder(&mut file),
            path.display()
        ));
    }
    let pid = format!("{}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(pid.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(file)
}

/// "pid N" from a lock file another process holds, if it wrote one yet.
fn lock_holder(file: &mut File) -> String {
    let mut text = String::new();
    match file.read_to_string(&mut text) {
        Ok(_) => match text.trim().parse::<u32>() {
            Ok(pid) => format!("pid {pid}"),
            Err(_) => "pid unknown".to_owned(),
        },
        Err(_) => "pid unknown".to_owned(),
    }
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
    let data_dir = args.config.store.data_dir.clone();
    // Held, unused, until main returns: after every store has closed.
    let _lock = lock_data_dir(&data_dir).unwrap_or_else(|e| fail(e));
    let namesrv = if args.standalone {
        Some(start_namesrv(&args.config).unwrap_or_else(|e| fail(e)))
    } else {
        None
    };
    let listen = describe_listen(&args.config);
    let broker = bolide_broker::runtime::start(args.config)
        .unwrap_or_else(|e| fail(format!("cannot start: {e}")));
    println!(
        "bolide broker listening on {listen}, advertised as {} (data in {})",
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
