//! The broker binary as a child process, for the `kill -9` tests.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `bolide-broker --config <config>` (its log next to the config)
/// and waits until it accepts connections on `port`; panics with the log if
/// it exits or takes more than 20 s.
pub fn spawn_broker(config: &Path, port: u16) -> Child {
    let log_path = config.with_extension("log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bolide-broker"))
        .args(["--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn broker");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = child.try_wait().unwrap().is_some();
        if exited || started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("broker did not start: {log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}
