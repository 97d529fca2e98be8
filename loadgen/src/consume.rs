//! `consume`: pulls every queue of the topic with long polling, counting
//! messages and recording end-to-end latency (receive time minus the
//! message's born timestamp, so producer and consumer clocks must agree —
//! they do on one machine).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bolide_client::route::MessageQueue;
use bolide_proto::codes::{pull_sys_flag, request_code, response_code};
use bolide_proto::header::offset::{GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader};
use bolide_proto::header::pull::PullMessageRequestHeader;
use bolide_proto::message::records;
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::Connection;
use bolide_transport::rt;
use hdrhistogram::Histogram;

use crate::args::Options;
use crate::cluster;
use crate::produce::Shared;
use crate::stats::{new_histogram, record, Counters};

/// Long-poll hold of each pull.
const HOLD_MS: i64 = 1_000;

fn ext_i64(rsp: &RemotingCommand, key: &str) -> Option<i64> {
    rsp.ext_fields.get(key)?.parse().ok()
}

async fn start_offset(
    conn: &Connection,
    mq: &MessageQueue,
    from_start: bool,
) -> Result<i64, String> {
    let request = if from_start {
        let h = GetMinOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: mq.queue_id.0 as i32,
        };
        RemotingCommand::request(request_code::GET_MIN_OFFSET).with_header(&h)
    } else {
        let h = GetMaxOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: mq.queue_id.0 as i32,
            committed: None,
        };
        RemotingCommand::request(request_code::GET_MAX_OFFSET).with_header(&h)
    };
    let rsp = conn
        .invoke(request, cluster::TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    ext_i64(&rsp, "offset").ok_or_else(|| format!("no offset for {mq}: code {}", rsp.code))
}

fn pull_request(mq: &MessageQueue, offset: i64) -> RemotingCommand {
    let h = PullMessageRequestHeader {
        consumer_group: "BENCHMARK_CONSUMER".into(),
        topic: mq.topic.clone(),
        queue_id: mq.queue_id.0 as i32,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: pull_sys_flag::SUSPEND | pull_sys_flag::SUBSCRIPTION,
        suspend_timeout_millis: HOLD_MS,
        subscription: Some("*".into()),
        ..PullMessageRequestHeader::default()
    };
    RemotingCommand::request(request_code::PULL_MESSAGE).with_header(&h)
}

/// Pulls this thread's share of queues (`index`-th of `threads`).
pub async fn run_thread(
    o: Options,
    index: usize,
    threads: usize,
    shared: Arc<Shared>,
) -> Result<Histogram<u64>, String> {
    let route = cluster::ensure_topic(&o.namesrv, &o.topic, o.queues).await?;
    let queues = cluster::queue_connections(&o.topic, &route).await?;
    let histogram = Rc::new(RefCell::new(new_histogram()));
    let mut tasks = Vec::new();
    for (mq, conn) in queues.into_iter().skip(index).step_by(threads) {
        let offset = start_offset(&conn, &mq, o.from_start).await?;
        let (histogram, shared) = (histogram.clone(), shared.clone());
        tasks.push(rt::spawn_local(pull_loop(
            mq, conn, offset, histogram, shared,
        )));
    }
    for t in tasks {
        t.await;
    }
    let h = histogram.borrow().clone();
    Ok(h)
}

async fn pull_loop(
    mq: MessageQueue,
    conn: Connection,
    mut offset: i64,
    histogram: Rc<RefCell<Histogram<u64>>>,
    shared: Arc<Shared>,
) {
    let counters: &Counters = &shared.counters;
    while !shared.stop.load(std::sync::atomic::Ordering::Relaxed) {
        let rsp = match conn
            .invoke(pull_request(&mq, offset), cluster::TIMEOUT)
            .await
        {
            Ok(rsp) => rsp,
            Err(e) => {
                counters.error(format!("transport: {e}"));
                rt::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if rsp.code == response_code::SUCCESS {
            let now = crate::now_ms();
            let (mut n, mut bytes) = (0u64, 0u64);
            for r in records(&rsp.body).flatten() {
                record(
                    &mut histogram.borrow_mut(),
                    Duration::from_millis((now - r.born_timestamp()).max(0) as u64),
                );
                n += 1;
                bytes += r.body().len() as u64;
            }
            if !shared.take_consumed(n) {
                counters.add(n, bytes);
                return;
            }
            counters.add(n, bytes);
        } else if rsp.code != response_code::PULL_NOT_FOUND
            && rsp.code != response_code::PULL_RETRY_IMMEDIATELY
        {
            counters.error(format!("pull code {}", rsp.code));
        }
        offset = ext_i64(&rsp, "nextBeginOffset").unwrap_or(offset);
    }
}
