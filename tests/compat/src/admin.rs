//! `bolide-admin` (the workspace's mqadmin-like CLI) as the compat tests use
//! it: to read what the broker knows about messages and groups that the
//! third-party clients produced and consumed.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use crate::broker::workspace_bin;
use crate::proc::Proc;

const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `bolide-admin <command> -n <namesrv> <args>`; panics (printing its
/// output) unless it exits successfully. Returns its stdout.
pub fn run(namesrv: &str, command: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(workspace_bin("bolide-admin"));
    cmd.arg(command).args(["-n", namesrv]).args(args);
    let mut proc = Proc::spawn(format!("bolide-admin {command}"), cmd);
    let status = proc.wait_exit(ADMIN_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.success()),
        "bolide-admin {command} failed: {status:?}\n{}",
        proc.dump()
    );
    proc.stdout()
}

/// `consumerProgress`: the "Diff Total: N" line.
pub fn consumer_lag(namesrv: &str, group: &str, topic: &str) -> i64 {
    let out = run(namesrv, "consumerProgress", &["-g", group, "-t", topic]);
    out.lines()
        .find_map(|l| l.strip_prefix("Diff Total:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no \"Diff Total\" in consumerProgress output:\n{out}"))
}

/// `brokerStatus -b ADDR`: the broker's runtime info, one `key: value`
/// line per entry.
pub fn broker_status(namesrv: &str, broker: &str) -> BTreeMap<String, String> {
    run(namesrv, "brokerStatus", &["-b", broker])
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once(':')?;
            Some((key.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// One row of `queryMsgByKey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHit {
    pub msg_id: String,
    pub offset_msg_id: String,
    pub queue_id: i64,
    pub queue_offset: i64,
}

/// `queryMsgByKey`: the rows of its table (`#Message ID #Offset Message ID
/// #QID #Offset #Store Time`).
pub fn query_by_key(namesrv: &str, topic: &str, key: &str) -> Vec<KeyHit> {
    let out = run(namesrv, "queryMsgByKey", &["-t", topic, "-k", key]);
    out.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let num = |i: usize| cols.get(i).and_then(|c| c.parse().ok());
            match (cols.first(), cols.get(1), num(2), num(3)) {
                (Some(id), Some(offset_id), Some(queue_id), Some(queue_offset)) => KeyHit {
                    msg_id: id.to_string(),
                    offset_msg_id: offset_id.to_string(),
                    queue_id,
                    queue_offset,
                },
                _ => panic!("unexpected queryMsgByKey row {l:?} in:\n{out}"),
            }
        })
        .collect()
}

/// `queryMsgById`: its `Label   value` lines as a map.
pub fn query_by_id(namesrv: &str, offset_msg_id: &str) -> BTreeMap<String, String> {
    let out = run(namesrv, "queryMsgById", &["-i", offset_msg_id]);
    out.lines()
        .filter_map(|l| {
            // Labels may contain one space ("Queue ID"); values start after a run of two or more.
            let split = l.find("  ")?;
            Some((l[..split].trim().to_owned(), l[split..].trim().to_owned()))
        })
        .collect()
}
