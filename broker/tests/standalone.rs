//! The README's start command: `bolide-broker --standalone` with the
//! embedded default config, run from a fresh directory (so data goes to the
//! relative `./data`), takes a send and stops cleanly on SIGTERM. Only the
//! ports are moved off the defaults so tests can run side by side.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bolide_proto::codes::response_code as rsp;
use support::*;

#[test]
fn standalone_defaults_serve_a_send_from_a_relative_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (port, ns_port) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_bolide-broker"))
        .args(["--standalone", "--shards", "2"])
        .args(["--listen-port", &port.to_string()])
        .args(["--namesrv", &format!("127.0.0.1:{ns_port}")])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn broker");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if child.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "broker did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    run(move || async move {
        let conn = connect(addr).await;
        let rsp = conn
            .invoke(send_request("ReadmeTopic", 0, b"hello", "t", "k"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
    });
    assert!(dir.path().join("data/shard-0").is_dir(), "data in ./data");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "clean stop on SIGTERM: {status:?}");
}
