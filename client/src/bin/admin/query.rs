//! One message by id, key or position: `queryMsgById`, `queryMsgByKey`,
//! `queryMsgByUniqueKey`, `queryMsgByOffset`, and the field-per-line
//! layout they print a message in.

use std::fmt::Write as _;

use bolide_client::admin::{format_timestamp_ms, render_table, Admin, TOOLS_CONSUMER_GROUP};
use bolide_client::error::ClientError;
use bolide_client::message::MessageExt;
use bolide_client::route::MessageQueue;
use bolide_proto::ids::QueueId;

use crate::cli::Invocation;
use crate::Failure;

/// `queryMsgById -i ID [-t TOPIC]`: the offset message id or the UNIQ_KEY
/// a producer printed ([`Admin::find_message`]).
pub async fn by_id(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let id = inv.required('i', "MSG_ID")?;
    let found = admin.find_message(&id, inv.get('t')).await?;
    Ok(describe_all(&found))
}

pub async fn by_unique_key(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let topic = inv.required('t', "TOPIC")?;
    let id = inv.required('i', "MSG_ID")?;
    let found: Vec<MessageExt> = admin
        .query_by_key(&topic, &id)
        .await?
        .into_iter()
        .filter(|m| m.msg_id == id)
        .collect();
    if found.is_empty() {
        return Err(Failure::Client(ClientError::Invalid {
            what: "message id",
            detail: format!("no message with id {id} in topic {topic}"),
        }));
    }
    Ok(describe_all(&found))
}

/// `queryMsgByOffset -t TOPIC -b BROKER_NAME -i QUEUE_ID -o OFFSET`.
pub async fn by_offset(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let queue = MessageQueue {
        topic: inv.required('t', "TOPIC")?,
        broker_name: inv.required('b', "BROKER_NAME")?,
        queue_id: QueueId(inv.required_number('i', "QUEUE_ID")?),
    };
    let offset = inv.required_number('o', "OFFSET")?;
    let message = admin
        .message_at(TOOLS_CONSUMER_GROUP, &queue, offset)
        .await?;
    Ok(describe_message(&message))
}

pub async fn by_key(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let topic = inv.required('t', "TOPIC")?;
    let key = inv.required('k', "KEY")?;
    let rows: Vec<Vec<String>> = admin
        .query_by_key(&topic, &key)
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
pub fn describe_message(m: &MessageExt) -> String {
    let body = body_text(m);
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

/// A body as text; a compressed one (not inflated here) by its size.
pub fn body_text(m: &MessageExt) -> String {
    if m.compressed {
        format!("<{} compressed bytes>", m.body.len())
    } else {
        String::from_utf8_lossy(&m.body).into_owned()
    }
}

/// Messages one after another, a blank line between them.
fn describe_all(messages: &[MessageExt]) -> String {
    let described: Vec<String> = messages.iter().map(describe_message).collect();
    described.join("\n")
}
