//! Test helpers: run a future on a fresh glommio executor, build messages.

use std::future::Future;
use std::net::SocketAddr;

use bolide_proto::message::NewMessage;
use bytes::Bytes;

/// Runs the future `make` builds to completion on a new glommio executor
/// thread. (`LocalExecutorBuilder::make().run()` on the test thread fails
/// every DMA read with EOPNOTSUPP on this kernel; a spawned executor works.)
pub fn run<G, F>(make: G) -> F::Output
where
    G: FnOnce() -> F + Send + 'static,
    F: Future + 'static,
    F::Output: Send + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(make)
        .expect("spawn executor")
        .join()
        .expect("executor thread")
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
