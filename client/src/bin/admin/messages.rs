//! Sending and reading messages: `sendMessage`, `consumeMessage`,
//! `printMsg`. Reads are read-only pulls ([`Admin::pull`]): nothing is
//! committed, so they never move a consumer group.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bolide_client::admin::{format_timestamp_ms, render_table, Admin, TOOLS_CONSUMER_GROUP};
use bolide_client::message::{Message, MessageExt, SendStatus};
use bolide_client::producer::{Producer, ProducerConfig};
use bolide_client::route::MessageQueue;
use bolide_proto::ids::QueueId;

use crate::cli::Invocation;
use crate::query::{body_text, describe_message};
use crate::Failure;

/// Producer group of `sendMessage`: its own, so its heartbeats are told
/// apart from applications'.
const TOOLS_PRODUCER_GROUP: &str = "TOOLS_PRODUCER";
/// Messages asked for per pull.
const PULL_BATCH: i32 = 32;

/// mqadmin's `sendMessage`: one message, to `-b`/`-i`'s queue or wherever
/// the producer picks; prints mqadmin's four columns.
pub async fn send_message(inv: &Invocation) -> Result<String, Failure> {
    let topic = inv.required('t', "TOPIC")?;
    let mut msg = Message::new(topic.clone(), inv.required('p', "BODY")?.into_bytes());
    if let Some(tags) = inv.get('c') {
        msg = msg.with_tags(tags);
    }
    if let Some(keys) = inv.get('k') {
        msg = msg.with_keys(keys.split_whitespace());
    }
    let queue = match (inv.get('b'), inv.get('i')) {
        (Some(broker), Some(_)) => Some(MessageQueue {
            topic,
            broker_name: broker.to_owned(),
            queue_id: QueueId(inv.required_number('i', "QUEUE_ID")?),
        }),
        (None, None) => None,
        _ => {
            return Err(Failure::Usage(
                "sendMessage needs both -b BROKER_NAME and -i QUEUE_ID, or neither".into(),
            ))
        }
    };
    let config = ProducerConfig::new(TOOLS_PRODUCER_GROUP, inv.namesrv.clone());
    let producer = Producer::start(config)?;
    let sent = match &queue {
        Some(q) => producer.send_to_queue(msg, q).await,
        None => producer.send(msg).await,
    };
    producer.shutdown().await;
    let sent = sent?;
    let status = match sent.status {
        SendStatus::SendOk => "SEND_OK",
        SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
        SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
        SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
    };
    let row = vec![
        sent.queue.broker_name.clone(),
        sent.queue.queue_id.0.to_string(),
        status.to_owned(),
        sent.msg_id.clone(),
    ];
    Ok(render_table(
        &["#Broker Name", "#QID", "#Send Result", "#MsgId"],
        &[row],
    ))
}

/// Store-time bounds of `-s`/`-b` .. `-e`, in ms since the epoch.
#[derive(Debug, Clone, Copy)]
struct Window {
    begin: i64,
    end: i64,
}

impl Window {
    fn from(inv: &Invocation, begin: char, end: char) -> Result<Window, Failure> {
        Ok(Window {
            begin: inv.number(begin, i64::MIN)?,
            end: inv.number(end, i64::MAX)?,
        })
    }

    fn contains(&self, m: &MessageExt) -> bool {
        (self.begin..self.end).contains(&m.store_timestamp_ms)
    }
}

/// The readable queues of `-t`, narrowed by `-b BROKER_NAME` and
/// `-i QUEUE_ID` when given.
async fn chosen_queues(
    admin: &Admin,
    inv: &Invocation,
    topic: &str,
) -> Result<Vec<(MessageQueue, SocketAddr)>, Failure> {
    let queue_id: Option<u32> = match inv.get('i') {
        Some(_) => Some(inv.required_number('i', "QUEUE_ID")?),
        None => None,
    };
    let queues: Vec<_> = admin
        .read_queues(topic)
        .await?
        .into_iter()
        .filter(|(q, _)| inv.get('b').is_none_or(|b| q.broker_name == b))
        .filter(|(q, _)| queue_id.is_none_or(|id| q.queue_id.0 == id))
        .collect();
    if queues.is_empty() {
        return Err(Failure::Usage(format!("{topic} has no such queue")));
    }
    Ok(queues)
}

/// Messages of `queue` in `[from, to)` matching `expression`, at most
/// `limit` of them.
async fn read_range(
    admin: &Admin,
    addr: SocketAddr,
    group: &str,
    queue: &MessageQueue,
    (from, to): (i64, i64),
    expression: &str,
    limit: usize,
) -> Result<Vec<MessageExt>, Failure> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < to && out.len() < limit {
        let pulled = admin
            .pull(addr, group, queue, offset, PULL_BATCH, expression)
            .await?;
        out.extend(pulled.messages);
        // An answer that does not move forward (a queue being truncated
        // under us) ends the read instead of asking again forever.
        if pulled.next_offset <= offset {
            break;
        }
        offset = pulled.next_offset;
    }
    out.truncate(limit);
    Ok(out)
}

/// mqadmin's `consumeMessage`: up to `-c` messages (default 128) from the
/// chosen queues, from `-o` or each queue's minimum offset, within the
/// `-s`..`-e` store-time window; each printed field by field.
pub async fn consume_message(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let topic = inv.required('t', "TOPIC")?;
    let group = inv.get('g').unwrap_or(TOOLS_CONSUMER_GROUP);
    let limit: usize = inv.number('c', 128)?;
    let window = Window::from(inv, 's', 'e')?;
    let queues = chosen_queues(admin, inv, &topic).await?;
    let start: Option<i64> = match inv.get('o') {
        Some(_) if queues.len() != 1 => {
            return Err(Failure::Usage(
                "-o OFFSET needs -b BROKER_NAME and -i QUEUE_ID".into(),
            ))
        }
        Some(_) => Some(inv.required_number('o', "OFFSET")?),
        None => None,
    };
    let mut found = Vec::new();
    for (queue, addr) in &queues {
        let (min, max) = admin.queue_offsets(*addr, queue).await?;
        let range = (start.unwrap_or(min).max(min), max);
        let left = limit - found.len();
        let read = read_range(admin, *addr, group, queue, range, "*", left).await?;
        found.extend(read.into_iter().filter(|m| window.contains(m)));
        if found.len() >= limit {
            break;
        }
    }
    found.truncate(limit);
    let described: Vec<String> = found.iter().map(describe_message).collect();
    Ok(described.join("\n"))
}

/// mqadmin's `printMsg`: every queue's offsets, then each of its messages
/// matching `-s` (tags) within the `-b`..`-e` store-time window, one line
/// each; `-d false` leaves bodies out.
pub async fn print_msg(admin: &Admin, inv: &Invocation) -> Result<String, Failure> {
    let topic = inv.required('t', "TOPIC")?;
    let expression = inv.get('s').unwrap_or("*");
    let window = Window::from(inv, 'b', 'e')?;
    let print_body = inv.boolean('d', true)?;
    let mut out = String::new();
    for (queue, addr) in admin.read_queues(&topic).await? {
        let (min, max) = admin.queue_offsets(addr, &queue).await?;
        let _ = writeln!(
            out,
            "minOffset={min}, maxOffset={max}, MessageQueue [topic={}, brokerName={}, queueId={}]",
            queue.topic, queue.broker_name, queue.queue_id.0
        );
        let group = TOOLS_CONSUMER_GROUP;
        let read = read_range(
            admin,
            addr,
            group,
            &queue,
            (min, max),
            expression,
            usize::MAX,
        )
        .await?;
        for m in read.iter().filter(|m| window.contains(m)) {
            let body = match print_body {
                true => body_text(m),
                false => "NOT PRINT BODY".to_owned(),
            };
            let _ = writeln!(
                out,
                "MSGID: {} OFFSET_MSGID: {} QUEUE_OFFSET: {} STORE_TIME: {} TAGS: {} KEYS: {} BODY: {body}",
                m.msg_id,
                m.offset_msg_id,
                m.queue_offset.0,
                format_timestamp_ms(m.store_timestamp_ms),
                m.tags.as_deref().unwrap_or("-"),
                keys_text(m),
            );
        }
    }
    Ok(out)
}

/// Keys space-joined, `-` when there are none (keeps the line splittable).
fn keys_text(m: &MessageExt) -> String {
    match m.keys.is_empty() {
        true => "-".to_owned(),
        false => m.keys.join(" "),
    }
}
