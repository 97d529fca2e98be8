//! Safe by default, with the real binary on loopback: a second
//! `bolide-broker` on a data directory or an address another broker holds
//! refuses to start (non-zero exit, a message naming what is taken) instead
//! of sharing it; and logs written to a file carry no colour codes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use support::free_port;

/// Bound on a start, or on a refusal (which should take milliseconds).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A broker process, killed when the test ends however it ends.
struct Broker {
    child: Child,
    log: PathBuf,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `<dir>/<name>.toml`: one shard, data in `data`, a NameServer
/// address nobody listens on (registration just fails and retries), and a
/// replication port of its own (the default, `listen_port + 1`, is a
/// neighbour nobody checked was free: a flake in CI).
fn write_config(dir: &Path, name: &str, host: &str, port: u16, vip: bool, data: &Path) -> PathBuf {
    let text = format!(
        "[broker]\nlisten_host = \"{host}\"\nlisten_port = {port}\nvip_port = {vip}\n\
         namesrv_addrs = [\"127.0.0.1:{}\"]\nshards = 1\nmax_message_bytes = 65536\n\n\
         [replication]\nlisten_port = {}\n\n\
         [store]\ndata_dir = \"{}\"\nsegment_size_bytes = 1048576\n",
        free_port(),
        free_port(),
        data.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts the binary with stderr going to `<config>.log` (not a terminal).
fn spawn(config: &Path) -> Broker {
    let log = config.with_extension("log");
    let child = Command::new(env!("CARGO_BIN_EXE_bolide-broker"))
        .args(["--config", config.to_str().unwrap()])
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn broker");
    Broker { child, log }
}

fn log_text(broker: &Broker) -> String {
    std::fs::read_to_string(&broker.log).unwrap_or_default()
}

/// Starts a broker and waits until its startup is over: it logged that it
/// listens (after every shard is ready) and accepts on `port`. A bound port
/// alone is not enough: the kernel accepts connections before the shards
/// finish starting, and a signal then ends the start without a clean stop.
fn start(config: &Path, port: u16) -> Broker {
    let mut broker = spawn(config);
    let started = Instant::now();
    let up = |broker: &Broker| {
        log_text(broker).contains("broker listening")
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    };
    while !up(&broker) {
        let exited = broker.child.try_wait().unwrap().is_some();
        if exited || started.elapsed() > START_TIMEOUT {
            panic!("broker did not start: {}", log_text(&broker));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    broker
}

/// Runs a broker that must refuse to start; returns its status and log.
fn refused(config: &Path) -> (ExitStatus, String) {
    let mut broker = spawn(config);
    let started = Instant::now();
    loop {
        if let Some(status) = broker.child.try_wait().unwrap() {
            return (status, log_text(&broker));
        }
        if started.elapsed() > START_TIMEOUT {
            panic!(
                "second broker still running after {START_TIMEOUT:?}: {}",
                log_text(&broker)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn second_broker_on_the_same_data_dir_exits_naming_the_dir_and_holder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first_port = free_port();
    let mut first = start(
        &write_config(dir.path(), "first", "127.0.0.1", first_port, false, &data),
        first_port,
    );
    let second = write_config(dir.path(), "second", "127.0.0.1", free_port(), false, &data);
    let (status, log) = refused(&second);
    assert!(!status.success(), "{status:?}: {log}");
    assert!(
        log.contains(&data.display().to_string()),
        "names the dir: {log}"
    );
    let holder = format!("pid {}", first.child.id());
    assert!(log.contains(&holder), "names the holder ({holder}): {log}");
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "first still runs"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", first_port)).is_ok());
}

#[test]
fn second_broker_on_a_taken_port_exits_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let first_data = dir.path().join("first-data");
    let _first = start(
        &write_config(dir.path(), "first", "127.0.0.1", port, false, &first_data),
        port,
    );
    let second_data = dir.path().join("second-data");
    let second = write_config(dir.path(), "second", "127.0.0.1", port, false, &second_data);
    let (status, log) = refused(&second);
    assert!(!status.success(), "{status:?}: {log}");
    assert!(
        log.contains(&format!("127.0.0.1:{port}")),
        "names the address: {log}"
    );
    assert!(log.contains("in use"), "says why: {log}");
    assert!(
        !second_data.join("shard-0").exists(),
        "refused before opening a store"
    );
}

/// A port P with P + 2 also free on every address, for a broker whose VIP
/// port (main - 2) is P.
fn port_pair() -> u16 {
    loop {
        let port = free_port();
        let above = port.checked_add(2).filter(|p| {
            std::net::TcpListener::bind(("0.0.0.0", *p)).is_ok()
                && std::net::TcpListener::bind(("0.0.0.0", port)).is_ok()
        });
        if above.is_some() {
            return port;
        }
    }
}

#[test]
fn second_broker_whose_wildcard_vip_port_overlaps_a_loopback_listener_exits() {
    let dir = tempfile::tempdir().unwrap();
    let port = port_pair();
    let first_data = dir.path().join("first-data");
    let _first = start(
        &write_config(dir.path(), "first", "127.0.0.1", port, false, &first_data),
        port,
    );
    // Main port P + 2 is free; its VIP port P on 0.0.0.0 covers 127.0.0.1:P.
    let second_data = dir.path().join("second-data");
    let second = write_config(
        dir.path(),
        "second",
        "0.0.0.0",
        port + 2,
        true,
        &second_data,
    );
    let (status, log) = refused(&second);
    assert!(!status.success(), "{status:?}: {log}");
    assert!(
        log.contains(&format!("0.0.0.0:{port}")),
        "names the VIP address: {log}"
    );
}

#[test]
fn logs_written_to_a_file_are_plain_text_with_the_bound_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let port = port_pair() + 2;
    let data = dir.path().join("data");
    let config = write_config(dir.path(), "broker", "127.0.0.1", port, true, &data);
    let mut broker = start(&config, port);
    let _ = Command::new("kill")
        .args(["-TERM", &broker.child.id().to_string()])
        .status();
    let status = broker.child.wait().unwrap();
    assert!(status.success(), "clean stop on SIGTERM: {status:?}");
    let log = log_text(&broker);
    assert!(log.contains("broker listening"), "{log}");
    assert!(!log.contains("\x1b["), "no ANSI escapes in a file: {log:?}");
    assert!(log.contains(&format!("listen=127.0.0.1:{port}")), "{log}");
    assert!(log.contains(&format!("vip_port={}", port - 2)), "{log}");
}

#[test]
fn shard_counts_beyond_the_memory_budget_are_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "big",
        "127.0.0.1",
        free_port(),
        false,
        &dir.path().join("data"),
    );
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "shards = 1\n",
        "shards = 64\nmemory_budget_bytes = 1073741824\n",
    );
    std::fs::write(&config, text).unwrap();
    let (status, log) = refused(&config);
    assert!(!status.success(), "{status:?}: {log}");
    assert!(
        log.contains("broker.shards") && log.contains("memory budget"),
        "{log}"
    );
}

#[test]
fn sigterm_right_after_start_stops_the_broker_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "b",
        "127.0.0.1",
        free_port(),
        false,
        &dir.path().join("data"),
    );
    let mut broker = spawn(&config);
    std::thread::sleep(Duration::from_millis(30));
    let pid = broker.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    while broker.child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "SIGTERM not honoured: {}",
            log_text(&broker)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True once the broker closed `peer` (end of stream or a reset).
fn closed_by_broker(peer: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match peer.read(&mut [0u8; 16]) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

#[test]
fn connections_past_the_limit_are_closed_and_idle_ones_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        "b",
        "127.0.0.1",
        port,
        false,
        &dir.path().join("data"),
    );
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "shards = 1\n",
        "shards = 1\nmax_connections = 2\nidle_timeout_ms = 1000\n",
    );
    std::fs::write(&config, text).unwrap();
    // `start` connects once to see the broker up; wait for that one to go.
    let _broker = start(&config, port);
    std::thread::sleep(Duration::from_millis(300));
    let connect = || std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (mut first, _second) = (connect(), connect());
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        closed_by_broker(&mut connect()),
        "a third connection is refused"
    );
    assert!(closed_by_broker(&mut first), "an idle connection is closed");
}
