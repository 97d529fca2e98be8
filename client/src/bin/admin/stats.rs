//! `statsAll`: per topic and consuming group, the backlog and the rates
//! and totals of messages in and out.
//!
//! mqadmin reads its rates and 24-hour counts from the broker's minute /
//! hour / day statistics (VIEW_BROKER_STATS_DATA, 315). Bolide keeps no
//! such statistics, so this command measures what the broker does offer:
//! it reads GET_TOPIC_STATS_INFO (202) and GET_CONSUME_STATS (208) twice,
//! [`SAMPLE`] apart, and derives
//!
//! * `#InTPS`: growth of the topic's max offsets per second over the sample
//!   (mqadmin: the broker's put TPS of the last minute);
//! * `#OutTPS`: growth of the group's committed offsets per second over the
//!   sample (mqadmin: the broker's get TPS of the last minute; consumers
//!   commit every few seconds, so this one is coarse);
//! * `#InMsgTotal`: the sum of the topic's max offsets, every message ever
//!   written to it (mqadmin's `#InMsg24Hour`: puts of the last 24 hours);
//! * `#OutMsgTotal`: the sum of the group's committed offsets (mqadmin's
//!   `#OutMsg24Hour`: messages pulled in the last 24 hours);
//! * `#Accumulation`: as mqadmin, the sum over queues of max offset minus
//!   committed offset (negative totals shown as 0).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bolide_client::admin::{render_table, Admin};
use bolide_client::error::ClientError;
use bolide_transport::rt;

use crate::cli::Invocation;
use crate::Failure;

/// Time between the two readings the rates are derived from.
pub const SAMPLE: Duration = Duration::from_secs(1);

/// What `--help` says of the columns.
pub const COLUMNS_HELP: &str = "Columns: #Accumulation = sum over queues of max offset minus \
the group's committed offset; #InTPS / #OutTPS = growth per second of the topic's max offsets / \
the group's committed offsets over a 1 s sample; #InMsgTotal / #OutMsgTotal = sum of the \
topic's max offsets / of the group's committed offsets. mqadmin shows the broker's 1-minute \
TPS and 24-hour counts instead, which Bolide does not keep.";

/// One topic's figures at one moment.
#[derive(Debug, Default)]
struct Reading {
    in_total: i64,
    /// Per consuming group: (committed total, accumulation).
    groups: BTreeMap<String, (i64, i64)>,
}

/// mqadmin's `statsAll`: every topic but retry and DLQ topics (only `-t`
/// when given; only topics or groups with messages with `-a`).
pub async fn stats_all(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let active_only = inv.boolean('a', false)?;
    let topics = match inv.get('t') {
        Some(t) => vec![t.to_owned()],
        None => admin
            .topic_list()
            .await?
            .into_iter()
            .filter(|t| !t.starts_with("%RETRY%") && !t.starts_with("%DLQ%"))
            .collect(),
    };
    // A topic given with -t must be readable; in the full list one that
    // fails is skipped, as mqadmin does.
    let strict = inv.get('t').is_some();
    let first = read_all(admin, &topics, strict).await?;
    let started = Instant::now();
    rt::sleep(SAMPLE).await;
    let second = read_all(admin, &topics, strict).await?;
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    let mut rows = Vec::new();
    for (topic, now) in &second {
        let before = first.get(topic);
        let in_tps = (now.in_total - before.map_or(now.in_total, |b| b.in_total)) as f64 / seconds;
        if now.groups.is_empty() {
            if !active_only || now.in_total > 0 {
                rows.push(no_consumer_row(topic, in_tps, now.in_total));
            }
            continue;
        }
        for (group, &(out_total, accumulation)) in &now.groups {
            if active_only && now.in_total == 0 && out_total == 0 {
                continue;
            }
            let out_before = before
                .and_then(|b| b.groups.get(group))
                .map_or(out_total, |g| g.0);
            let out_tps = (out_total - out_before) as f64 / seconds;
            rows.push(vec![
                topic.clone(),
                group.clone(),
                accumulation.max(0).to_string(),
                format!("{in_tps:.2}"),
                format!("{out_tps:.2}"),
                now.in_total.to_string(),
                out_total.to_string(),
            ]);
        }
    }
    Ok(render_table(
        &[
            "#Topic",
            "#Consumer Group",
            "#Accumulation",
            "#InTPS",
            "#OutTPS",
            "#InMsgTotal",
            "#OutMsgTotal",
        ],
        &rows,
    ))
}

fn no_consumer_row(topic: &str, in_tps: f64, in_total: i64) -> Vec<String> {
    vec![
        topic.to_owned(),
        String::new(),
        "0".to_owned(),
        format!("{in_tps:.2}"),
        String::new(),
        in_total.to_string(),
        "NO_CONSUMER".to_owned(),
    ]
}

async fn read_all(
    admin: &Admin,
    topics: &[String],
    strict: bool,
) -> Result<BTreeMap<String, Reading>, ClientError> {
    let mut out = BTreeMap::new();
    for topic in topics {
        match read_topic(admin, topic).await {
            Ok(reading) => {
                out.insert(topic.clone(), reading);
            }
            Err(e) if strict => return Err(e),
            Err(e) => tracing::debug!(%topic, error = %e, "statsAll: topic skipped"),
        }
    }
    Ok(out)
}

/// The topic's max offsets (202) and each consuming group's committed
/// offsets and backlog (208), summed over the topic's masters.
async fn read_topic(admin: &Admin, topic: &str) -> Result<Reading, ClientError> {
    let masters = admin.topic_masters(topic).await?;
    let mut reading = Reading::default();
    for &broker in &masters {
        let stats = admin.topic_stats(broker, topic).await?;
        reading.in_total += stats
            .offset_table
            .iter()
            .map(|(_, o)| o.max_offset)
            .sum::<i64>();
    }
    for group in admin.groups_of_topic(&masters, topic).await? {
        let (mut committed, mut accumulation) = (0, 0);
        for &broker in &masters {
            let stats = admin.consume_stats(broker, &group, topic).await?;
            for (_, o) in &stats.offset_table {
                committed += o.consumer_offset;
                accumulation += o.broker_offset - o.consumer_offset;
            }
        }
        reading.groups.insert(group, (committed, accumulation));
    }
    Ok(reading)
}
