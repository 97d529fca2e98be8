//! The `bolide-namesrv` command line, with the real binary: help and
//! version on stdout (exit 0), unknown options refused with a suggestion
//! (exit 2), and `--listen localhost:PORT` resolved and served.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bound on the start of the served NameServer.
const TIMEOUT: Duration = Duration::from_secs(20);

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bolide-namesrv"))
        .args(args)
        .output()
        .expect("run bolide-namesrv");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn help_version_and_unknown_options() {
    for help in ["--help", "-h"] {
        let (code, stdout, _) = run(&[help]);
        assert_eq!(code, Some(0), "{help}");
        assert!(
            stdout.contains("Usage: bolide-namesrv [OPTIONS]"),
            "{stdout}"
        );
        assert!(stdout.contains("-c, --config <FILE>"), "{stdout}");
    }
    let (code, stdout, _) = run(&["--version"]);
    let want = concat!("bolide-namesrv ", env!("CARGO_PKG_VERSION"));
    assert_eq!((code, stdout.trim()), (Some(0), want));
    let (code, _, stderr) = run(&["--lisen", "127.0.0.1:1"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("a similar argument exists: '--listen'"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["-c", "/nonexistent/namesrv.toml"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read /nonexistent/namesrv.toml"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["--listen", "nosuchhost.invalid:9876"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--listen"), "{stderr}");
}

#[test]
fn a_hostname_listen_address_is_resolved() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bolide-namesrv"))
        .args(["--listen", &format!("localhost:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bolide-namesrv");
    let started = Instant::now();
    let served = loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break true;
        }
        if child.try_wait().expect("poll").is_some() || started.elapsed() > TIMEOUT {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        served,
        "bolide-namesrv --listen localhost:{port} never served"
    );
}
