//! Client connection and offset commands: `consumerConnection`,
//! `producerConnection`, `resetOffsetByTime`.

use std::fmt::Write as _;

use bolide_client::admin::Admin;
use bolide_proto::body::consumer_admin::Connection;

use crate::cli::Invocation;
use crate::Failure;

/// mqadmin's `consumerConnection`: each online member of `-g` (client id,
/// address, language, version), the group's subscriptions, then its
/// consume type, message model and start point. A group with no online
/// member is the broker's CONSUMER_NOT_ONLINE refusal.
pub async fn consumer_connection(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let group = inv.required('g', "GROUP")?;
    let cc = admin.consumer_connection(&group).await?;
    let mut out = connection_lines(&cc.connection_set, 3);
    out.push_str("\nBelow is subscription:\n");
    for (i, sd) in cc.subscription_table.values().enumerate() {
        let _ = writeln!(
            out,
            "{:03}  Topic: {:<40} SubExpression: {}",
            i + 1,
            sd.topic,
            sd.sub_string
        );
    }
    let _ = writeln!(out, "\nConsumeType: {}", cc.consume_type);
    let _ = writeln!(out, "MessageModel: {}", cc.message_model);
    let _ = writeln!(out, "ConsumeFromWhere: {}", cc.consume_from_where);
    Ok(out)
}

/// mqadmin's `producerConnection`: each online producer of `-g`, asked of
/// the masters of `-t`.
pub async fn producer_connection(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let group = inv.required('g', "PRODUCER_GROUP")?;
    let topic = inv.required('t', "TOPIC")?;
    let pc = admin.producer_connection(&group, &topic).await?;
    Ok(connection_lines(&pc.connection_set, 4))
}

/// One numbered line per connection, mqadmin's widths; `digits` is the
/// number's width (mqadmin: 3 for consumers, 4 for producers).
fn connection_lines(connections: &[Connection], digits: usize) -> String {
    let mut sorted = connections.to_vec();
    sorted.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    let mut out = String::new();
    for (i, c) in sorted.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:0digits$}  {:<32} {:<22} {:<8} {}",
            i + 1,
            c.client_id,
            c.client_addr,
            c.language,
            version_desc(c.version)
        );
    }
    out
}

/// The name of RocketMQ's `MQVersion.Version` with ordinal `ordinal`, as
/// `MQVersion.getVersionDesc` gives it (`HIGHER_VERSION` past the end).
pub fn version_desc(ordinal: i32) -> String {
    const PRE_RELEASES: [&str; 16] = [
        "V3_0_0_SNAPSHOT",
        "V3_0_0_ALPHA1",
        "V3_0_0_BETA1",
        "V3_0_0_BETA2",
        "V3_0_0_BETA3",
        "V3_0_0_BETA4",
        "V3_0_0_BETA5",
        "V3_0_0_BETA6_SNAPSHOT",
        "V3_0_0_BETA6",
        "V3_0_0_BETA7_SNAPSHOT",
        "V3_0_0_BETA7",
        "V3_0_0_BETA8_SNAPSHOT",
        "V3_0_0_BETA8",
        "V3_0_0_BETA9_SNAPSHOT",
        "V3_0_0_BETA9",
        "V3_0_0_FINAL",
    ];
    let Ok(n) = usize::try_from(ordinal) else {
        return PRE_RELEASES[0].to_owned();
    };
    if let Some(name) = PRE_RELEASES.get(n) {
        return (*name).to_owned();
    }
    // After 3.0.0 every release has a SNAPSHOT and a release entry: 3.0.1
    // to 3.0.15, 3.1.x and 3.2.x from 0, 3.3.x to 3.9.x from 1, then 4.0.0
    // to 5.9.9.
    let mut releases = (1..=15)
        .map(|p| (3, 0, p))
        .chain((1..=2).flat_map(|m| (0..=9).map(move |p| (3, m, p))))
        .chain((3..=9).flat_map(|m| (1..=9).map(move |p| (3, m, p))))
        .chain((4..=5).flat_map(|v| (0..=9).flat_map(move |m| (0..=9).map(move |p| (v, m, p)))));
    match releases.nth((n - PRE_RELEASES.len()) / 2) {
        Some((v, m, p)) if n % 2 == 0 => format!("V{v}_{m}_{p}_SNAPSHOT"),
        Some((v, m, p)) => format!("V{v}_{m}_{p}"),
        None => "HIGHER_VERSION".to_owned(),
    }
}

/// mqadmin's `resetOffsetByTime`: moves `-g`'s offsets of `-t` on every
/// master of the topic to the first message stored at or after `-s` (ms
/// since the epoch, or `now` for each queue's end). `-f` (default true)
/// is sent as `isForce`: Java's broker then only moves an offset back,
/// Bolide's broker (INVOKE_BROKER_TO_RESET_OFFSET) resets either way. Prints the offsets set, per queue. mqadmin's `-c` (C++ clients)
/// is not needed: the broker picks the C++ form by the member's language.
pub async fn reset_offset_by_time(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let group = inv.required('g', "GROUP")?;
    let topic = inv.required('t', "TOPIC")?;
    let given = inv.required('s', "TIMESTAMP")?;
    let timestamp: i64 = match given.as_str() {
        "now" => -1,
        ms => ms.parse().map_err(|_| {
            Failure::Usage(format!("-s wants ms since the epoch or now, got {ms:?}"))
        })?,
    };
    let force = inv.boolean('f', true)?;
    let body = admin
        .reset_offset_by_time(&group, &topic, timestamp, force)
        .await?;
    let mut out = format!(
        "rollback consumer offset by specified group[{group}], topic[{topic}], \
         force[{force}], timestamp(string)[{given}], timestamp(long)[{timestamp}]\n"
    );
    let _ = writeln!(
        out,
        "{:<40}  {:<40}  {:<40}",
        "#brokerName", "#queueId", "#offset"
    );
    for (mq, offset) in &body.offset_table {
        let _ = writeln!(
            out,
            "{:<40}  {:<40}  {:<40}",
            mq.broker_name, mq.queue_id, offset
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::version_desc;

    #[test]
    fn version_names_follow_mqversion_ordinals() {
        assert_eq!(version_desc(0), "V3_0_0_SNAPSHOT");
        assert_eq!(version_desc(15), "V3_0_0_FINAL");
        assert_eq!(version_desc(37), "V3_0_11");
        assert_eq!(version_desc(121), "V3_4_9");
        assert_eq!(version_desc(232), "V4_1_0_SNAPSHOT");
        assert_eq!(version_desc(401), "V4_9_4");
        assert_eq!(version_desc(479), "V5_3_3");
        assert_eq!(version_desc(10_000), "HIGHER_VERSION");
    }
}
