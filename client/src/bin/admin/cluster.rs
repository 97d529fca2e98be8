//! Broker commands: `clusterList`, `brokerStatus`, `getBrokerConfig`, and
//! how `-b BROKER_ADDR | -c CLUSTER` pick the brokers a command talks to.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use bolide_client::admin::{render_table, Admin};
use bolide_client::error::ClientError;
use bolide_client::route::parse_addr;

use crate::cli::Invocation;
use crate::Failure;

/// Which brokers of a `-c CLUSTER` a command means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Brokers {
    /// Writes (topics, groups) go to masters; slaves copy them.
    Masters,
    /// Reads (status, config) show every broker.
    All,
}

/// The brokers of `-b BROKER_ADDR` or `-c CLUSTER`, and whether they came
/// from a cluster (outputs then name each broker).
pub async fn targets(
    admin: &Admin,
    inv: &Invocation,
    which: Brokers,
) -> Result<(Vec<SocketAddr>, bool), Failure> {
    match (inv.get('b'), inv.get('c')) {
        (Some(b), _) => Ok((vec![parse_addr(b)?], false)),
        (None, Some(c)) if which == Brokers::Masters => Ok((admin.cluster_masters(c).await?, true)),
        (None, Some(c)) => Ok((admin.cluster_brokers(c).await?, true)),
        (None, None) => Err(Failure::Usage(format!(
            "{} needs -c CLUSTER or -b BROKER_ADDR",
            inv.command
        ))),
    }
}

/// mqadmin's `brokerStatus`: a broker's runtime info, one `key: value`
/// line per entry sorted by key; with `-c`, every broker of the cluster,
/// each line led by its address. A broker that does not answer is
/// reported on stderr and the others still printed; the command fails
/// only when none answers.
pub async fn broker_status(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let (brokers, several) = targets(admin, inv, Brokers::All).await?;
    let mut out = String::new();
    let mut last_error = None;
    for broker in &brokers {
        match admin.broker_runtime_info(*broker).await {
            Ok(kv) => {
                let label = several.then(|| broker.to_string());
                out.push_str(&format_status(label.as_deref(), &kv.table));
            }
            Err(e) if several => {
                eprintln!("{broker}: {e}");
                last_error = Some(e);
            }
            Err(e) => return Err(e.into()),
        }
    }
    match (out.is_empty(), last_error) {
        (true, Some(e)) => Err(e.into()),
        _ => Ok(out),
    }
}

/// `key: value` lines sorted by key, keys padded to 32 characters and, when
/// given, led by the broker's address padded to 24 (mqadmin's layout).
fn format_status(broker: Option<&str>, table: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (key, value) in table {
        if let Some(broker) = broker {
            let _ = write!(out, "{broker:<24} ");
        }
        let _ = writeln!(out, "{key:<32}: {value}");
    }
    out
}

pub async fn cluster_list(admin: &Admin) -> Result<String, ClientError> {
    let info = admin.cluster_info().await?;
    let mut rows = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        for name in names {
            let Some(broker) = info.broker_addr_table.get(name) else {
                continue;
            };
            for (id, addr) in &broker.broker_addrs {
                let stats = runtime_stats(admin, addr).await;
                rows.push(vec![
                    cluster.clone(),
                    name.clone(),
                    id.to_string(),
                    addr.clone(),
                    stats.0,
                    stats.1,
                    stats.2,
                    stats.3,
                ]);
            }
        }
    }
    Ok(render_table(
        &[
            "#Cluster Name",
            "#Broker Name",
            "#BID",
            "#Addr",
            "#Version",
            "#InTotalToday",
            "#OutTotalToday",
            "#Role",
        ],
        &rows,
    ))
}

/// (version, puts today, gets today, role) of a broker, `-` where unknown
/// (brokers other than Bolide do not report their role).
async fn runtime_stats(admin: &Admin, addr: &str) -> (String, String, String, String) {
    let unknown = || {
        (
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
        )
    };
    let Ok(addr) = parse_addr(addr) else {
        return unknown();
    };
    match admin.broker_runtime_info(addr).await {
        Ok(kv) => {
            let get = |k: &str| kv.table.get(k).cloned().unwrap_or_else(|| "-".to_owned());
            (
                get("brokerVersionDesc"),
                get("msgPutTotalTodayNow"),
                get("msgGetTotalTodayNow"),
                get("brokerRole"),
            )
        }
        Err(_) => unknown(),
    }
}
/// mqadmin's `getBrokerConfig`: `key=value` lines, keys padded to 50 as
/// mqadmin prints them; with `-c`, one block per broker under its address.
pub async fn broker_config(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let (brokers, several) = targets(admin, inv, Brokers::All).await?;
    let mut out = String::new();
    for broker in brokers {
        let config = admin.broker_config(broker).await?;
        if several {
            let _ = writeln!(out, "============{broker}============");
        }
        for (key, value) in config {
            let _ = writeln!(out, "{key:<50}=  {value}");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_status_reads_like_mqadmin() {
        let table: BTreeMap<String, String> = [
            ("runtime", "[ 0 days, 0 hours, 0 minutes, 5 seconds ]"),
            ("brokerRole", "SLAVE"),
            ("masterAddr", "10.0.0.1:10911"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let want = concat!(
            "brokerRole                      : SLAVE\n",
            "masterAddr                      : 10.0.0.1:10911\n",
            "runtime                         : [ 0 days, 0 hours, 0 minutes, 5 seconds ]\n",
        );
        assert_eq!(format_status(None, &table), want);
        let led = format_status(Some("10.0.0.2:10911"), &table);
        let first = led.lines().next().unwrap();
        assert_eq!(
            first,
            "10.0.0.2:10911           brokerRole                      : SLAVE"
        );
        assert_eq!(format_status(None, &BTreeMap::new()), "");
    }
}
