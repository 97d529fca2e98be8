//! The `bolide-broker` command line, with the real binary: help and
//! version on stdout (exit 0), unknown options refused with a suggestion
//! (exit 2), bad values explained (exit 2). Nothing is started: every
//! case ends before the store opens. (Hostname resolution of `-n` is
//! unit-tested in `main.rs`; `tests/standalone.rs` runs the flags.)

use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bolide-broker"))
        .args(args)
        .output()
        .expect("run bolide-broker");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn help_version_and_unknown_options() {
    for help in ["--help", "-h"] {
        let (code, stdout, _) = run(&[help]);
        assert_eq!(code, Some(0), "{help}");
        assert!(
            stdout.contains("Usage: bolide-broker [OPTIONS]"),
            "{stdout}"
        );
        for flag in [
            "--standalone",
            "-c, --config",
            "-n, --namesrv",
            "--data-dir",
        ] {
            assert!(stdout.contains(flag), "{flag}: {stdout}");
        }
    }
    let (code, stdout, _) = run(&["--version"]);
    let want = concat!("bolide-broker ", env!("CARGO_PKG_VERSION"));
    assert_eq!((code, stdout.trim()), (Some(0), want));
    let (code, _, stderr) = run(&["--standlone"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("a similar argument exists: '--standalone'"),
        "{stderr}"
    );
    let cases: [(&[&str], &str); 3] = [
        (&["--shards", "many"], "--shards \"many\": not a number"),
        (&["--namesrvAddr", "nosuchhost.invalid:9876"], "--namesrv"),
        (&["--configFile", "/nonexistent/broker.toml"], "cannot read"),
    ];
    for (args, needle) in cases {
        let (code, _, stderr) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
