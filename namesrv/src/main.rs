//! `bolide-namesrv`: runs a NameServer until Ctrl-C / SIGTERM.
//!
//! ```text
//! bolide-namesrv [--config namesrv.toml] [--listen 0.0.0.0:9876]
//! ```

use bolide_namesrv::config::{NamesrvConfig, DEFAULT_CONFIG_TOML};

fn usage() -> ! {
    eprintln!("usage: bolide-namesrv [--config FILE] [--listen IP:PORT]");
    std::process::exit(2);
}

fn load_config() -> Result<NamesrvConfig, String> {
    let mut args = std::env::args().skip(1);
    let mut text = DEFAULT_CONFIG_TOML.to_owned();
    let mut listen = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => {
                let path = args.next().unwrap_or_else(|| usage());
                text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
            }
            "--listen" => listen = Some(args.next().unwrap_or_else(|| usage())),
            "-h" | "--help" => usage(),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let mut config = NamesrvConfig::from_toml(&text)?;
    if let Some(listen) = listen {
        config.listen_addr = listen;
        config.validate()?;
    }
    Ok(config)
}

fn main() {
    bolide_transport::signal::block_termination_signals();
    bolide_transport::logging::init();
    let config = match load_config() {
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
