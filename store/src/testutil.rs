//! Test helpers: run a future on a fresh executor, build messages.

use std::net::SocketAddr;
use std::time::Duration;

use bolide_proto::message::NewMessage;
use bytes::Bytes;

use crate::io::time::{Clock, SystemClock};

/// Runs the future `make` builds to completion on a new executor thread.
pub(crate) use crate::io::task::run_on_new_executor as run;

/// Waits `duration` in real time, whatever clock the store under test
/// runs on: for tests that poll what a background task has done.
pub async fn sleep_real(duration: Duration) {
    SystemClock::new().sleep(duration).await
}

/// A message for `topic`/`queue_id` with `body` and optional tag and keys.
pub fn msg(
    topic: &str,
    queue_id: u32,
    body: &[u8],
    tag: Option<&str>,
    keys: Option<&str>,
) -> NewMessage {
    let mut props = bolide_proto::message::PropertiesBuilder::new();
    if let Some(t) = tag {
        props.set("TAGS", t).expect("tag");
    }
    if let Some(k) = keys {
        props.set("KEYS", k).expect("keys");
    }
    let host: SocketAddr = "127.0.0.1:10911".parse().expect("addr");
    NewMessage {
        topic: topic.to_owned(),
        queue_id,
        flag: 0,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: host,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: Bytes::copy_from_slice(body),
        properties: props.build(),
    }
}
