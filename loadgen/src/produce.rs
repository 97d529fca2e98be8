//! `produce`: producers spread over executor threads, each sending to the
//! topic's queues round-robin with SEND_MESSAGE_V2 (or SEND_BATCH_MESSAGE),
//! sync / async (bounded in-flight) / oneway, optionally rate limited.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bolide_client::route::MessageQueue;
use bolide_proto::codes::{request_code, response_code};
use bolide_proto::header::send::SendMessageRequestHeader;
use bolide_proto::message::encode_batch_item;
use bolide_proto::{ExtFields, RemotingCommand};
use bolide_transport::remoting::Connection;
use bolide_transport::rt;
use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;

use crate::args::{Options, SendMode};
use crate::cluster;
use crate::stats::{new_histogram, record, Counters};

/// Everything one send repeats: the body and the header fields.
#[derive(Clone)]
struct Template {
    code: i32,
    ext: ExtFields,
    body: Bytes,
    messages: u64,
}

fn template(o: &Options) -> Template {
    let payload = vec![b'x'; o.message_bytes];
    let (code, body) = if o.batch > 1 {
        let mut b = BytesMut::new();
        for _ in 0..o.batch {
            encode_batch_item(0, &payload, "", &mut b);
        }
        (request_code::SEND_BATCH_MESSAGE, b.freeze())
    } else {
        (request_code::SEND_MESSAGE_V2, Bytes::from(payload))
    };
    let header = SendMessageRequestHeader {
        producer_group: "BENCHMARK_PRODUCER".into(),
        topic: o.topic.clone(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: o.queues as i32,
        batch: Some(o.batch > 1),
        ..SendMessageRequestHeader::default()
    };
    let mut ext = ExtFields::new();
    header.to_v2(&mut ext);
    Template {
        code,
        ext,
        body,
        messages: o.batch as u64,
    }
}

impl Template {
    fn request(&self, queue: u32) -> RemotingCommand {
        let mut cmd = RemotingCommand::request(self.code).with_body(self.body.clone());
        cmd.ext_fields = self.ext.clone();
        cmd.ext_fields.insert("e", queue.to_string());
        cmd.ext_fields.insert("g", crate::now_ms().to_string());
        cmd
    }
}

/// Shared by every producer of a run.
pub struct Shared {
    pub counters: Arc<Counters>,
    pub stop: Arc<AtomicBool>,
    /// Messages still to send when `--count` is used; negative = unlimited.
    pub remaining: Arc<AtomicI64>,
}

impl Shared {
    /// Counts `n` consumed messages against `--count`; false once reached.
    pub fn take_consumed(&self, n: u64) -> bool {
        if self.remaining.load(Ordering::Relaxed) < 0 {
            return true;
        }
        let left = self.remaining.fetch_sub(n as i64, Ordering::Relaxed) - n as i64;
        if left <= 0 {
            self.stop.store(true, Ordering::Relaxed);
        }
        left > 0
    }

    fn take(&self, n: u64) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        if self.remaining.load(Ordering::Relaxed) < 0 {
            return true;
        }
        let before = self.remaining.fetch_sub(n as i64, Ordering::Relaxed);
        if before <= 0 {
            self.stop.store(true, Ordering::Relaxed);
        }
        before > 0
    }
}

/// Runs this thread's share of producers until stopped; returns its latencies.
pub async fn run_thread(
    o: Options,
    producers: usize,
    shared: Arc<Shared>,
) -> Result<Histogram<u64>, String> {
    let route = cluster::ensure_topic(&o.namesrv, &o.topic, o.queues).await?;
    let queues = Rc::new(cluster::queue_connections(&o.topic, &route).await?);
    let histogram = Rc::new(RefCell::new(new_histogram()));
    let template = Rc::new(template(&o));
    let per_producer_rate = (o.rate as f64 / o.producers as f64).max(0.0);
    let tasks: Vec<_> = (0..producers)
        .map(|p| {
            let ctx = Producer {
                queues: queues.clone(),
                template: template.clone(),
                histogram: histogram.clone(),
                shared: shared.clone(),
                mode: o.send_mode,
                inflight: o.inflight,
                interval: (per_producer_rate > 0.0)
                    .then(|| Duration::from_secs_f64(1.0 / per_producer_rate)),
                bytes_per_send: template.body.len() as u64,
            };
            rt::spawn_local(ctx.run(p))
        })
        .collect();
    for t in tasks {
        t.await;
    }
    let h = histogram.borrow().clone();
    Ok(h)
}

struct Producer {
    queues: Rc<Vec<(MessageQueue, Connection)>>,
    template: Rc<Template>,
    histogram: Rc<RefCell<Histogram<u64>>>,
    shared: Arc<Shared>,
    mode: SendMode,
    inflight: usize,
    interval: Option<Duration>,
    bytes_per_send: u64,
}

impl Producer {
    async fn run(self, index: usize) {
        let this = Rc::new(self);
        let permits = Rc::new(rt::Semaphore::new(this.inflight as u64));
        let started = Instant::now();
        let mut next = index;
        let mut sent: u32 = 0;
        while this.shared.take(this.template.messages) {
            if let Some(interval) = this.interval {
                let due = interval * sent;
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    rt::sleep(wait).await;
                }
            }
            let (mq, conn) = &this.queues[next % this.queues.len()];
            let request = this.template.request(mq.queue_id.0);
            next += 1;
            sent = sent.wrapping_add(1);
            match this.mode {
                SendMode::Sync => this.send(conn, request).await,
                SendMode::Oneway => this.oneway(conn, request).await,
                SendMode::Async => {
                    let Ok(permit) = permits.acquire_static_permit(1).await else {
                        break;
                    };
                    let (me, conn) = (this.clone(), conn.clone());
                    rt::spawn_local(async move {
                        me.send(&conn, request).await;
                        drop(permit);
                    })
                    .detach();
                }
            }
        }
        // Wait for this producer's in-flight async sends.
        let _ = permits.acquire(this.inflight as u64).await;
    }

    async fn send(&self, conn: &Connection, request: RemotingCommand) {
        let t0 = Instant::now();
        match conn.invoke(request, cluster::TIMEOUT).await {
            Ok(rsp) if rsp.code == response_code::SUCCESS => {
                record(&mut self.histogram.borrow_mut(), t0.elapsed());
                self.shared
                    .counters
                    .add(self.template.messages, self.bytes_per_send);
            }
            Ok(rsp) => self.shared.counters.error(format!(
                "code {} ({})",
                rsp.code,
                rsp.remark.as_deref().unwrap_or("")
            )),
            Err(e) => self.shared.counters.error(format!("transport: {e}")),
        }
    }

    async fn oneway(&self, conn: &Connection, request: RemotingCommand) {
        match conn.invoke_oneway(request).await {
            Ok(()) => self
                .shared
                .counters
                .add(self.template.messages, self.bytes_per_send),
            Err(e) => self.shared.counters.error(format!("transport: {e}")),
        }
    }
}
