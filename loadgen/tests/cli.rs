//! Runs the `bolide-loadgen` binary against a NameServer + broker started
//! in this test: produce a fixed count, then consume it all back.

use std::process::Command;

fn start() -> (
    bolide_namesrv::server::NamesrvHandle,
    bolide_broker::runtime::BrokerHandle,
    tempfile::TempDir,
) {
    let ns = bolide_namesrv::server::spawn(bolide_namesrv::config::NamesrvConfig {
        listen_addr: "127.0.0.1:0".into(),
        ..Default::default()
    })
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = bolide_broker::config::BrokerConfig::default();
    c.broker.listen_host = "127.0.0.1".into();
    c.broker.listen_port = port;
    c.broker.vip_port = false;
    c.broker.namesrv_addrs = vec![ns.addr().to_string()];
    c.broker.shards = 2;
    c.store.data_dir = data.path().to_path_buf();
    c.store.segment_size_bytes = 4 << 20;
    c.broker.max_message_bytes = 64 * 1024;
    let broker = bolide_broker::runtime::start(c).unwrap();
    (ns, broker, data)
}

fn loadgen(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bolide-loadgen"))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The consume half names the NameServer `localhost:PORT` with mqadmin's
/// long spelling: the hostname is resolved.
#[test]
fn produce_then_consume_a_fixed_count() {
    let (ns, broker, _data) = start();
    let namesrv = ns.addr().to_string();
    let produced = loadgen(&[
        "produce", "-n", &namesrv, "-t", "LgTopic", "-c", "400", "-p", "8", "-s", "100", "-q", "4",
    ]);
    assert!(
        produced.contains("produce (send latency): 400 messages"),
        "{produced}"
    );
    assert!(produced.contains(" 0 errors"), "{produced}");
    assert!(produced.contains("p99"), "{produced}");
    let batched = loadgen(&[
        "produce", "-n", &namesrv, "-t", "LgTopic", "-c", "100", "-p", "2", "-b", "10", "--send",
        "async",
    ]);
    assert!(batched.contains("100 messages"), "{batched}");
    let by_name = format!("localhost:{}", ns.addr().port());
    let consumed = loadgen(&[
        "consume",
        "--namesrvAddr",
        &by_name,
        "-t",
        "LgTopic",
        "-c",
        "500",
        "--from-start",
        "-d",
        "30",
    ]);
    assert!(
        consumed.contains("consume (end-to-end latency): 500 messages"),
        "{consumed}"
    );
    broker.shutdown().unwrap();
    ns.shutdown();
}

#[test]
fn bad_options_exit_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_bolide-loadgen"))
        .args(["produce", "--size", "big"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a valid number"), "{stderr}");
    assert!(stderr.contains("Usage: bolide-loadgen"), "{stderr}");
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bolide-loadgen"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn help_version_and_unknown_options() {
    for help in ["--help", "-h"] {
        let (code, stdout, _) = run(&[help]);
        assert_eq!(code, Some(0), "{help}");
        assert!(
            stdout.contains("Usage: bolide-loadgen [OPTIONS] <mode>"),
            "{stdout}"
        );
        assert!(stdout.contains("--namesrvAddr"), "{stdout}");
    }
    let (code, stdout, _) = run(&["--version"]);
    assert_eq!(
        (code, stdout.trim()),
        (
            Some(0),
            concat!("bolide-loadgen ", env!("CARGO_PKG_VERSION"))
        )
    );
    let (code, _, stderr) = run(&["produce", "--dration", "1"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("a similar argument exists: '--duration'"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["publish"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("[possible values: produce, consume]"),
        "{stderr}"
    );
}
