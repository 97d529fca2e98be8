//! Consumer group commands: `consumerProgress`, `updateSubGroup`,
//! `deleteSubGroup`.

use std::fmt::Write as _;

use bolide_client::admin::{render_table, Admin, QueueProgress};
use bolide_client::error::ClientError;
use bolide_proto::body::SubscriptionGroupConfig;

use crate::cli::Invocation;
use crate::cluster::{targets, Brokers};
use crate::Failure;

/// mqadmin's `consumerProgress`: per queue of `-t TOPIC`, or without it of
/// every topic the group committed offsets for (its retry topic
/// included), the broker's offset, the group's and the lag. A group no
/// broker knows is an error.
pub async fn consumer_progress(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let group = inv.required('g', "GROUP")?;
    let Some(known) = admin.group_topics(&group).await? else {
        return Err(Failure::Client(ClientError::Invalid {
            what: "consumer group",
            detail: format!("{group} does not exist on any broker"),
        }));
    };
    let topics: Vec<String> = match inv.get('t') {
        Some(t) => vec![t.to_owned()],
        None => known.into_iter().collect(),
    };
    let mut progress = Vec::new();
    for topic in &topics {
        progress.extend(admin.consumer_progress(&group, topic).await?);
    }
    Ok(progress_table(&group, &progress))
}

fn progress_table(group: &str, progress: &[QueueProgress]) -> String {
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
    out
}

/// mqadmin's `updateSubGroup`: the group's config from the options (the
/// rest RocketMQ's defaults) on `-b` or every master of `-c`.
pub async fn update_sub_group(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let defaults = SubscriptionGroupConfig::default();
    let config = SubscriptionGroupConfig {
        group_name: inv.required('g', "GROUP")?,
        consume_enable: inv.boolean('s', defaults.consume_enable)?,
        consume_from_min_enable: inv.boolean('m', defaults.consume_from_min_enable)?,
        consume_broadcast_enable: inv.boolean('d', defaults.consume_broadcast_enable)?,
        consume_message_orderly: inv.boolean('o', defaults.consume_message_orderly)?,
        retry_queue_nums: inv.number('q', defaults.retry_queue_nums)?,
        retry_max_times: inv.number('r', defaults.retry_max_times)?,
        broker_id: inv.number('i', defaults.broker_id)?,
        which_broker_when_consume_slowly: inv
            .number('w', defaults.which_broker_when_consume_slowly)?,
        notify_consumer_ids_changed_enable: inv
            .boolean('a', defaults.notify_consumer_ids_changed_enable)?,
        ..defaults
    };
    let (brokers, _) = targets(admin, inv, Brokers::Masters).await?;
    let mut out = String::new();
    for broker in brokers {
        admin.update_subscription_group(broker, &config).await?;
        let _ = writeln!(out, "create subscription group to {broker} success.");
    }
    let _ = writeln!(out, "{}", describe_group(&config));
    Ok(out)
}

/// Java's `SubscriptionGroupConfig.toString()` layout.
fn describe_group(c: &SubscriptionGroupConfig) -> String {
    format!(
        "SubscriptionGroupConfig [groupName={}, consumeEnable={}, consumeFromMinEnable={}, \
         consumeBroadcastEnable={}, consumeMessageOrderly={}, retryQueueNums={}, \
         retryMaxTimes={}, brokerId={}, whichBrokerWhenConsumeSlowly={}, \
         notifyConsumerIdsChangedEnable={}]",
        c.group_name,
        c.consume_enable,
        c.consume_from_min_enable,
        c.consume_broadcast_enable,
        c.consume_message_orderly,
        c.retry_queue_nums,
        c.retry_max_times,
        c.broker_id,
        c.which_broker_when_consume_slowly,
        c.notify_consumer_ids_changed_enable
    )
}

/// mqadmin's `deleteSubGroup` on `-b` or every master of `-c`.
pub async fn delete_sub_group(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let group = inv.required('g', "GROUP")?;
    let (brokers, _) = targets(admin, inv, Brokers::Masters).await?;
    let mut out = String::new();
    for broker in brokers {
        admin.delete_subscription_group(broker, &group).await?;
        let _ = write!(
            out,
            "delete subscription group [{group}] from broker [{broker}]"
        );
        if let Some(cluster) = inv.get('c').filter(|_| inv.get('b').is_none()) {
            let _ = write!(out, " in cluster [{cluster}]");
        }
        out.push_str(" success.\n");
    }
    Ok(out)
}
