//! `bolide-admin`: a first cut of RocketMQ's `mqadmin` for Bolide.
//!
//! ```text
//! bolide-admin <command> [-n ip:port;ip:port] [options]
//!
//!   updateTopic       -c CLUSTER | -b BROKER_ADDR  -t TOPIC [-r 8] [-w 8] [-p 6] [-o false]
//!   deleteTopic       -c CLUSTER -t TOPIC
//!   topicList
//!   topicRoute        -t TOPIC
//!   topicStatus       -t TOPIC
//!   clusterList
//!   brokerStatus      -b BROKER_ADDR | -c CLUSTER
//!   consumerProgress  -g GROUP -t TOPIC
//!   queryMsgById      -i OFFSET_MSG_ID
//!   queryMsgByKey     -t TOPIC -k KEY
//!   queryMsgByUniqueKey -t TOPIC -i MSG_ID
//! ```
//!
//! `-n` defaults to `$NAMESRV_ADDR`. Output is aligned text; errors go to
//! stderr with exit code 1 (2 for a usage error).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bolide_client::admin::{format_timestamp_ms, render_table, Admin, TopicSpec, DEFAULT_TIMEOUT};
use bolide_client::error::ClientError;
use bolide_client::message::MessageExt;
use bolide_client::route::parse_addr;
use bolide_client::runtime::ClientRuntime;

const USAGE: &str = "usage: bolide-admin <command> [-n ip:port;ip:port] [options]

commands:
  updateTopic       -c CLUSTER | -b BROKER_ADDR  -t TOPIC [-r N] [-w N] [-p PERM] [-o true|false]
  deleteTopic       -c CLUSTER -t TOPIC
  topicList
  topicRoute        -t TOPIC
  topicStatus       -t TOPIC
  clusterList
  brokerStatus      -b BROKER_ADDR | -c CLUSTER
  consumerProgress  -g GROUP -t TOPIC
  queryMsgById      -i OFFSET_MSG_ID
  queryMsgByKey     -t TOPIC -k KEY
  queryMsgByUniqueKey -t TOPIC -i MSG_ID   (the id the producer got)

-n defaults to $NAMESRV_ADDR.";

/// A parsed command line.
#[derive(Debug, Clone)]
struct Invocation {
    command: String,
    namesrv: String,
    options: BTreeMap<char, String>,
}

impl Invocation {
    fn parse(args: &[String]) -> Result<Invocation, String> {
        let (command, rest) = args.split_first().ok_or("no command given")?;
        let mut options = BTreeMap::new();
        let mut it = rest.iter();
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix('-')
                .filter(|n| n.chars().count() == 1)
                .and_then(|n| n.chars().next())
                .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
            let value = it
                .next()
                .ok_or_else(|| format!("option -{name} needs a value"))?;
            options.insert(name, value.clone());
        }
        let namesrv = options
            .remove(&'n')
            .or_else(|| std::env::var("NAMESRV_ADDR").ok())
            .ok_or("no NameServer: pass -n ip:port or set NAMESRV_ADDR")?;
        Ok(Invocation {
            command: command.clone(),
            namesrv,
            options,
        })
    }

    fn required(&self, name: char, what: &str) -> Result<String, Failure> {
        self.options
            .get(&name)
            .cloned()
            .ok_or_else(|| Failure::Usage(format!("{} needs -{name} {what}", self.command)))
    }

    fn number(&self, name: char, default: i32) -> Result<i32, Failure> {
        match self.options.get(&name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| Failure::Usage(format!("-{name} wants a number, got {v:?}"))),
        }
    }
}

/// Why a command failed.
#[derive(Debug)]
enum Failure {
    Usage(String),
    Client(ClientError),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

impl From<bolide_client::runtime::Canceled> for Failure {
    fn from(e: bolide_client::runtime::Canceled) -> Self {
        Failure::Client(e.into())
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || matches!(args[0].as_str(), "-h" | "--help" | "help") {
        println!("{USAGE}");
        return if args.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let invocation = match Invocation::parse(&args) {
        Ok(i) => i,
        Err(e) => return usage_error(&e),
    };
    match execute(invocation) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(e)) => usage_error(&e),
        Err(Failure::Client(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

/// Runs the command on a client runtime; returns what to print.
fn execute(invocation: Invocation) -> Result<String, Failure> {
    let rt = ClientRuntime::start("bolide-admin").map_err(|e| Failure::Usage(e.to_string()))?;
    let outcome = rt
        .call(move || async move {
            let admin = Admin::new(&invocation.namesrv, DEFAULT_TIMEOUT)?;
            let out = dispatch(&admin, &invocation).await;
            admin.close();
            out
        })
        .wait_timeout(Duration::from_secs(120));
    match outcome {
        Ok(result) => result,
        Err(e) => Err(Failure::Client(match e {
            bolide_client::runtime::WaitError::Canceled(c) => c.into(),
            bolide_client::runtime::WaitError::Timeout => {
                return Err(Failure::Usage("timed out".to_owned()))
            }
        })),
    }
}

async fn dispatch(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    match inv.command.as_str() {
        "updateTopic" => update_topic(admin, inv).await,
        "deleteTopic" => delete_topic(admin, inv).await,
        "topicList" => Ok(topic_list(admin).await?),
        "topicRoute" => topic_route(admin, &inv.required('t', "TOPIC")?).await,
        "topicStatus" => topic_status(admin, &inv.required('t', "TOPIC")?).await,
        "clusterList" => Ok(cluster_list(admin).await?),
        "brokerStatus" => broker_status(admin, inv).await,
        "consumerProgress" => {
            let group = inv.required('g', "GROUP")?;
            consumer_progress(admin, &group, &inv.required('t', "TOPIC")?).await
        }
        "queryMsgById" => {
            let message = admin
                .view_message(&inv.required('i', "OFFSET_MSG_ID")?)
                .await?;
            Ok(describe_message(&message))
        }
        "queryMsgByKey" => {
            let topic = inv.required('t', "TOPIC")?;
            query_by_key(admin, &topic, &inv.required('k', "KEY")?).await
        }
        "queryMsgByUniqueKey" => {
            let topic = inv.required('t', "TOPIC")?;
            let id = inv.required('i', "MSG_ID")?;
            let found = admin.query_by_key(&topic, &id).await?;
            let found: Vec<String> = found
                .iter()
                .filter(|m| m.msg_id == id)
                .map(describe_message)
                .collect();
            match found.is_empty() {
                true => Err(Failure::Client(ClientError::Invalid {
                    what: "message id",
                    detail: format!("no message with id {id} in topic {topic}"),
                })),
                false => Ok(found.join("\n")),
            }
        }
        other => Err(Failure::Usage(format!("unknown command {other:?}"))),
    }
}

async fn update_topic(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let mut spec = TopicSpec::new(inv.required('t', "TOPIC")?);
    spec.read_queue_nums = inv.number('r', spec.read_queue_nums)?;
    spec.write_queue_nums = inv.number('w', spec.write_queue_nums)?;
    spec.perm = inv.number('p', spec.perm)?;
    spec.order = match inv.options.get(&'o').map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => return Err(Failure::Usage(format!("-o wants true or false, got {v:?}"))),
    };
    let brokers: Vec<SocketAddr> = match (inv.options.get(&'b'), inv.options.get(&'c')) {
        (Some(b), _) => vec![parse_addr(b)?],
        (None, Some(c)) => admin.cluster_masters(c).await?,
        (None, None) => {
            return Err(Failure::Usage(
                "updateTopic needs -c CLUSTER or -b BROKER_ADDR".into(),
            ))
        }
    };
    let mut out = String::new();
    for broker in brokers {
        admin.create_topic(broker, &spec).await?;
        let _ = writeln!(out, "create topic to {broker} success.");
    }
    let _ = writeln!(
        out,
        "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, order={}]",
        spec.topic, spec.read_queue_nums, spec.write_queue_nums, spec.perm, spec.order
    );
    Ok(out)
}

async fn delete_topic(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let topic = inv.required('t', "TOPIC")?;
    let cluster = inv.required('c', "CLUSTER")?;
    let brokers = admin.delete_topic(&cluster, &topic).await?;
    let mut out = String::new();
    for broker in brokers {
        let _ = writeln!(out, "delete topic [{topic}] from broker {broker} success.");
    }
    let _ = writeln!(out, "delete topic [{topic}] from NameServer success.");
    Ok(out)
}

async fn topic_list(admin: &Admin) -> Result<String, ClientError> {
    let mut out = String::new();
    for topic in admin.topic_list().await? {
        out.push_str(&topic);
        out.push('\n');
    }
    Ok(out)
}

async fn topic_route(admin: &Admin, topic: &str) -> Result<String, Failure> {
    let route = admin.topic_route(topic).await?;
    let brokers: Vec<Vec<String>> = route
        .broker_datas
        .iter()
        .flat_map(|b| {
            b.broker_addrs.iter().map(move |(id, addr)| {
                vec![
                    b.cluster.clone(),
                    b.broker_name.clone(),
                    id.to_string(),
                    addr.clone(),
                ]
            })
        })
        .collect();
    let queues: Vec<Vec<String>> = route
        .queue_datas
        .iter()
        .map(|q| {
            vec![
                q.broker_name.clone(),
                q.read_queue_nums.to_string(),
                q.write_queue_nums.to_string(),
                q.perm.to_string(),
            ]
        })
        .collect();
    let mut out = render_table(&["#Cluster", "#Broker Name", "#BID", "#Addr"], &brokers);
    out.push('\n');
    out.push_str(&render_table(
        &["#Broker Name", "#Read Queues", "#Write Queues", "#Perm"],
        &queues,
    ));
    if let Some(conf) = route.order_topic_conf.as_deref().filter(|c| !c.is_empty()) {
        let _ = writeln!(out, "\norderTopicConf: {conf}");
    }
    Ok(out)
}

async fn topic_status(admin: &Admin, topic: &str) -> Result<String, Failure> {
    let rows: Vec<Vec<String>> = admin
        .topic_status(topic)
        .await?
        .into_iter()
        .map(|s| {
            vec![
                s.queue.broker_name.clone(),
                s.queue.queue_id.0.to_string(),
                s.min_offset.to_string(),
                s.max_offset.to_string(),
                s.last_update_ms
                    .map_or_else(|| "-".to_owned(), format_timestamp_ms),
            ]
        })
        .collect();
    Ok(render_table(
        &[
            "#Broker Name",
            "#QID",
            "#Min Offset",
            "#Max Offset",
            "#Last Updated",
        ],
        &rows,
    ))
}

/// mqadmin's `brokerStatus`: a broker's runtime info, one `key: value`
/// line per entry sorted by key; with `-c`, every broker of the cluster,
/// each line led by its address. A broker that does not answer is
/// reported on stderr and the others still printed; the command fails
/// only when none answers.
async fn broker_status(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let (brokers, several) = match (inv.options.get(&'b'), inv.options.get(&'c')) {
        (Some(b), _) => (vec![parse_addr(b)?], false),
        (None, Some(c)) => (admin.cluster_brokers(c).await?, true),
        (None, None) => {
            return Err(Failure::Usage(
                "brokerStatus needs -b BROKER_ADDR or -c CLUSTER".into(),
            ))
        }
    };
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

async fn cluster_list(admin: &Admin) -> Result<String, ClientError> {
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

async fn consumer_progress(admin: &Admin, group: &str, topic: &str) -> Result<String, Failure> {
    let progress = admin.consumer_progress(group, topic).await?;
    let total: i64 = progress.iter().map(|p| p.lag).sum();
    let rows: Vec<Vec<String>> = progress
        .iter()
        .map(|p| {
            vec![
                p.queue.topic.clone(),
                p.queue.broker_name.clone(),
                p.queue.queue_id.0.to_string(),
                p.broker_offset.to_string(),
                p.consumer_offset
                    .map_or_else(|| "-".to_owned(), |o| o.to_string()),
                p.lag.to_string(),
            ]
        })
        .collect();
    let mut out = render_table(
        &[
            "#Topic",
            "#Broker Name",
            "#QID",
            "#Broker Offset",
            "#Consumer Offset",
            "#Diff",
        ],
        &rows,
    );
    let _ = writeln!(out, "\nConsume Group: {group}\nDiff Total: {total}");
    Ok(out)
}

async fn query_by_key(admin: &Admin, topic: &str, key: &str) -> Result<String, Failure> {
    let rows: Vec<Vec<String>> = admin
        .query_by_key(topic, key)
        .await?
        .iter()
        .map(|m| {
            vec![
                m.msg_id.clone(),
                m.offset_msg_id.clone(),
                m.queue_id.0.to_string(),
                m.queue_offset.0.to_string(),
                format_timestamp_ms(m.store_timestamp_ms),
            ]
        })
        .collect();
    Ok(render_table(
        &[
            "#Message ID",
            "#Offset Message ID",
            "#QID",
            "#Offset",
            "#Store Time",
        ],
        &rows,
    ))
}

/// The fields of one message, one per line, labels aligned.
fn describe_message(m: &MessageExt) -> String {
    let body = if m.compressed {
        format!("<{} compressed bytes>", m.body.len())
    } else {
        String::from_utf8_lossy(&m.body).into_owned()
    };
    let properties: Vec<String> = m
        .properties
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let fields = [
        ("OffsetID", m.offset_msg_id.clone()),
        ("MsgID", m.msg_id.clone()),
        ("Topic", m.topic.clone()),
        ("Tags", m.tags.clone().unwrap_or_else(|| "-".into())),
        ("Keys", m.keys.join(" ")),
        ("Queue ID", m.queue_id.0.to_string()),
        ("Queue Offset", m.queue_offset.0.to_string()),
        ("CommitLog Offset", m.commit_log_offset.0.to_string()),
        ("Reconsume Times", m.reconsume_times.to_string()),
        ("Born Timestamp", format_timestamp_ms(m.born_timestamp_ms)),
        ("Store Timestamp", format_timestamp_ms(m.store_timestamp_ms)),
        ("Born Host", m.born_host.to_string()),
        ("Store Host", m.store_host.to_string()),
        ("System Flag", m.sys_flag.to_string()),
        ("Properties", properties.join(", ")),
        ("Message Body", body),
    ];
    let mut out = String::new();
    for (label, value) in fields {
        let _ = writeln!(out, "{label:<18}{value}");
    }
    out
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
