//! One NameServer per port, with the real binary on loopback: a
//! `bolide-namesrv` on 0.0.0.0:P while another listens on 127.0.0.1:P (a
//! SO_REUSEPORT bind would share the port with it) refuses to start, and
//! its logs in a file carry no colour codes.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Bound on a start, or on a refusal (the probe's grace is 2 s).
const TIMEOUT: Duration = Duration::from_secs(20);

/// A port nobody listens on right now (bound and released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A NameServer process with stderr in a file, killed when the test ends.
struct Namesrv {
    child: Child,
    log: PathBuf,
}

impl Namesrv {
    fn spawn(listen: &str) -> Namesrv {
        static SPAWNED: AtomicUsize = AtomicUsize::new(0);
        let log = std::env::temp_dir().join(format!(
            "bolide-namesrv-ownership-{}-{}.log",
            std::process::id(),
            SPAWNED.fetch_add(1, Ordering::Relaxed)
        ));
        let child = Command::new(env!("CARGO_BIN_EXE_bolide-namesrv"))
            .args(["--listen", listen])
            .env_remove("NO_COLOR")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn namesrv");
        Namesrv { child, log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until it accepts on 127.0.0.1:`port`.
    fn wait_listening(&mut self, port: u16) {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = self.child.try_wait().unwrap().is_some();
            if exited || started.elapsed() > TIMEOUT {
                panic!("namesrv did not start: {}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for it to exit on its own.
    fn wait_exit(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > TIMEOUT {
                panic!(
                    "namesrv still running after {TIMEOUT:?}: {}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait_exit()
    }
}

impl Drop for Namesrv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

#[test]
fn namesrv_on_the_wildcard_refuses_a_port_taken_on_loopback() {
    let port = free_port();
    let mut first = Namesrv::spawn(&format!("127.0.0.1:{port}"));
    first.wait_listening(port);
    let wildcard = format!("0.0.0.0:{port}");
    let mut second = Namesrv::spawn(&wildcard);
    let status = second.wait_exit();
    let log = second.log_text();
    assert!(!status.success(), "{status:?}: {log}");
    assert!(log.contains(&wildcard), "names the address: {log}");
    assert!(log.contains("in use"), "says why: {log}");
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "first still runs"
    );
}

#[test]
fn namesrv_on_the_same_address_refuses_it() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut first = Namesrv::spawn(&listen);
    first.wait_listening(port);
    let mut second = Namesrv::spawn(&listen);
    let status = second.wait_exit();
    let log = second.log_text();
    assert!(!status.success(), "{status:?}: {log}");
    assert!(log.contains(&listen), "names the address: {log}");
}

#[test]
fn namesrv_logs_in_a_file_are_plain_text() {
    let port = free_port();
    let mut namesrv = Namesrv::spawn(&format!("127.0.0.1:{port}"));
    namesrv.wait_listening(port);
    let status = namesrv.terminate();
    assert!(status.success(), "clean stop on SIGTERM: {status:?}");
    let log = namesrv.log_text();
    assert!(log.contains("NameServer listening"), "{log}");
    assert!(!log.contains("\x1b["), "no ANSI escapes in a file: {log:?}");
}
