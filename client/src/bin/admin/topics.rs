//! Topic commands: `updateTopic`, `deleteTopic`, `topicList`, `topicRoute`,
//! `topicStatus`, `topicClusterList`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use bolide_client::admin::{format_timestamp_ms, render_table, Admin, TopicSpec};
use bolide_client::error::ClientError;

use crate::cli::Invocation;
use crate::cluster::{targets, Brokers};
use crate::Failure;

pub async fn update_topic(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let mut spec = TopicSpec::new(inv.required('t', "TOPIC")?);
    spec.read_queue_nums = inv.number('r', spec.read_queue_nums)?;
    spec.write_queue_nums = inv.number('w', spec.write_queue_nums)?;
    spec.perm = inv.number('p', spec.perm)?;
    spec.order = inv.boolean('o', false)?;
    let (brokers, _) = targets(admin, inv, Brokers::Masters).await?;
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

pub async fn delete_topic(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
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

pub async fn topic_list(admin: &Admin) -> Result<String, ClientError> {
    let mut out = String::new();
    for topic in admin.topic_list().await? {
        out.push_str(&topic);
        out.push('\n');
    }
    Ok(out)
}

pub async fn topic_route(admin: &Admin, topic: &str) -> Result<String, Failure> {
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

pub async fn topic_status(admin: &Admin, topic: &str) -> Result<String, Failure> {
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
/// mqadmin's `topicClusterList`: the clusters of the brokers that serve
/// `topic`, one per line.
pub async fn topic_clusters(admin: &Admin, topic: &str) -> Result<String, Failure> {
    let route = admin.topic_route(topic).await?;
    let clusters: BTreeSet<&str> = route
        .broker_datas
        .iter()
        .map(|b| b.cluster.as_str())
        .collect();
    Ok(clusters.into_iter().map(|c| format!("{c}\n")).collect())
}
