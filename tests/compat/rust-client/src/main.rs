//! `rmq-rust-client`: a thin command-line driver over the published
//! `rocketmq-client-rust` crate, so the bolide-compat tests can exercise an
//! unmodified third-party Rust client against a real broker process.
//!
//! Output is one JSON object per line on stdout (client logs go to stderr):
//!
//! ```text
//! rmq-rust-client produce --namesrv A --topic T --group G --count N
//!     [--mode sync|oneway|async|batch|orderly] [--tags TagA,TagB] [--prefix P]
//!     [--shard-keys K]
//!   → {"event":"sent","i":0,"msg_id":…,"offset_msg_id":…,"queue_id":…,"queue_offset":…,"status":…}
//!   → {"event":"done","count":N}
//! rmq-rust-client consume --namesrv A --topic T --group G [--expr '*' | --sql EXPR] [--orderly]
//!     [--instance NAME] [--max-run-ms MS] [--consume-delay-ms D] [--max-cache M]
//!   → {"event":"started"} then {"event":"msg",…} per message; stops (shutting the
//!     consumer down, which commits offsets) when stdin closes or after MS.
//! rmq-rust-client transact --namesrv A --topic T --group G --plan commit,rollback,unknown
//!     [--prefix P] [--max-run-ms MS]
//!   → {"event":"sent","i":0,"local":"commit",…} per message, {"event":"done"}, then
//!     {"event":"checked","body":…,"answer":"commit"} per check-back; stops when
//!     stdin closes or after MS.
//! ```
//!
//! `--sql` subscribes with `MessageSelector::by_sql` (an SQL92 filter the
//! broker evaluates) instead of the tag expression `--expr`.
//!
//! A transact run sends message `i` (body `P-i`, user property `plan=plan[i]`)
//! with `TransactionMQProducer::send_message_in_transaction`; its local
//! transaction answers COMMIT, ROLLBACK or UNKNOWN as the plan says, and the
//! broker's check-back of an `unknown` message is answered COMMIT (of any
//! other, with its plan).
//!
//! With `--consume-delay-ms` the consumer runs one consume thread that spends
//! D ms on each message (after printing it), pulling 32 messages at a time;
//! `--max-cache M` lets it hold at most M unconsumed messages per queue
//! before it pulls that queue again (`pull_threshold_for_queue`).
//!
//! Message `i` of a run carries body `P-i`, tag `tags[i % len]`, key `P-key-i`
//! and the user properties `seq=i`, `origin=rust` and, with `--shard-keys K`,
//! `shard=P-shard-(i % K)` (also the ordering key of `--mode orderly`).

use std::any::Any;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use rocketmq_client_rust::{
    ClientConfig, ClientResult, ClientRuntime, ClientRuntimeConfig, ConsumeConcurrentlyContext,
    ConsumeConcurrentlyStatus, ConsumeOrderlyContext, ConsumeOrderlyStatus, DefaultMQProducer,
    DefaultMQPushConsumer, LocalTransactionState, MQPushConsumer, MessageListenerConcurrently,
    MessageListenerOrderly, MessageSelector, SendResult, TransactionListener,
    TransactionMQProducer,
};
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_queue::MessageQueue;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::common::message::MessageTrait;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};
use serde_json::{json, Value};

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Command-line options: `--flag value` pairs plus boolean `--orderly`.
struct Opts(BTreeMap<String, String>);

impl Opts {
    fn parse(args: impl Iterator<Item = String>) -> AnyResult<Self> {
        let mut map = BTreeMap::new();
        let mut args = args.peekable();
        while let Some(flag) = args.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
            let value = match args.peek() {
                Some(v) if !v.starts_with("--") => args.next().unwrap_or_default(),
                _ => "true".to_owned(),
            };
            map.insert(name.to_owned(), value);
        }
        Ok(Self(map))
    }

    fn req(&self, name: &str) -> AnyResult<String> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| format!("--{name} is required").into())
    }

    fn get(&self, name: &str, default: &str) -> String {
        self.0
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    fn num(&self, name: &str, default: u64) -> AnyResult<u64> {
        match self.0.get(name) {
            Some(v) => Ok(v.parse().map_err(|e| format!("--{name} {v:?}: {e}"))?),
            None => Ok(default),
        }
    }
}

fn emit(line: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Owns the runtime objects the client crate requires.
struct Runtime {
    owner: RuntimeOwner,
    client: Arc<ClientRuntime>,
    _telemetry: rocketmq_observability::TelemetryRuntimeGuard,
}

impl Runtime {
    fn new() -> AnyResult<Self> {
        let owner = RuntimeOwner::plan(RuntimeConfig {
            thread_name: "rmq-compat".to_owned(),
            ..Default::default()
        })
        .map_err(|e| format!("runtime plan: {e:?}"))?
        .build()
        .map_err(|e| format!("runtime build: {e:?}"))?;
        let telemetry = rocketmq_observability::TelemetryRuntimeGuard::noop();
        let client = ClientRuntime::try_new(
            owner.root_context().component("client"),
            ClientRuntimeConfig::default(),
            telemetry.handle(),
        )?;
        Ok(Self {
            owner,
            client,
            _telemetry: telemetry,
        })
    }

    async fn shutdown(self) {
        let _ = self.client.shutdown().await;
        let _ = self.owner.shutdown_tasks().await;
        let _ = self.owner.shutdown_background();
    }
}

fn client_config(namesrv: &str, instance: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set_instance_name(instance.into());
    config.namesrv_addr = Some(namesrv.into());
    config
}

/// Message `i` of a produce run (see the module docs).
fn message(
    topic: &str,
    prefix: &str,
    tags: &[String],
    shard_keys: u64,
    i: u64,
) -> AnyResult<(Message, String)> {
    let tag = &tags[(i as usize) % tags.len()];
    let shard = if shard_keys > 0 {
        format!("{prefix}-shard-{}", i % shard_keys)
    } else {
        String::new()
    };
    let mut builder = Message::builder()
        .topic(topic)
        .tags(tag.as_str())
        .key(format!("{prefix}-key-{i}"))
        .body_slice(format!("{prefix}-{i}").as_bytes())
        .raw_property("seq", i.to_string())?
        .raw_property("origin", "rust")?;
    if !shard.is_empty() {
        builder = builder.raw_property("shard", shard.as_str())?;
    }
    Ok((builder.build()?, shard))
}

fn sent_line(i: u64, r: &SendResult, msg_id: Option<&str>, queue_offset: u64) -> Value {
    json!({
        "event": "sent",
        "i": i,
        "status": format!("{:?}", r.send_status),
        "msg_id": msg_id.map(str::to_owned).or_else(|| r.msg_id.as_ref().map(|m| m.to_string())),
        "offset_msg_id": r.offset_msg_id,
        "queue_id": r.message_queue.as_ref().map(MessageQueue::queue_id),
        "queue_offset": queue_offset,
    })
}

/// Java `String.hashCode`, so the queue a key maps to is stable and
/// independent of this process.
fn key_hash(key: &str) -> usize {
    let h = key
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    h.unsigned_abs() as usize
}

async fn produce(opts: &Opts, rt: &Runtime) -> AnyResult<()> {
    let (topic, prefix) = (opts.req("topic")?, opts.get("prefix", "m"));
    let tags: Vec<String> = opts
        .get("tags", "TagA")
        .split(',')
        .map(str::to_owned)
        .collect();
    let (count, shard_keys) = (opts.num("count", 1)?, opts.num("shard-keys", 0)?);
    let mode = opts.get("mode", "sync");
    let instance = format!("rust-producer-{}", std::process::id());
    let mut producer = DefaultMQProducer::builder(rt.client.clone())
        .client_config(client_config(&opts.req("namesrv")?, &instance))
        .producer_group(opts.req("group")?)
        .send_msg_timeout(5_000)
        .build();
    producer.start().await?;
    match mode.as_str() {
        "batch" => {
            let msgs = (0..count)
                .map(|i| message(&topic, &prefix, &tags, shard_keys, i).map(|m| m.0))
                .collect::<AnyResult<Vec<_>>>()?;
            let r = producer.send_batch(msgs).await?;
            let ids: Vec<String> = r
                .msg_id
                .as_ref()
                .map(|m| m.as_str().split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            if ids.len() as u64 != count {
                return Err(format!(
                    "batch result carries {} ids for {count} messages: {r:?}",
                    ids.len()
                )
                .into());
            }
            for (i, id) in ids.iter().enumerate() {
                emit(sent_line(i as u64, &r, Some(id), r.queue_offset + i as u64));
            }
        }
        "async" => {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for i in 0..count {
                let (msg, _) = message(&topic, &prefix, &tags, shard_keys, i)?;
                let tx = tx.clone();
                producer
                    .send_with_callback(msg, move |r, e| {
                        let line = match (r, e) {
                            (Some(r), _) => sent_line(i, r, None, r.queue_offset),
                            (None, e) => {
                                json!({"event": "error", "i": i, "error": format!("{e:?}")})
                            }
                        };
                        let _ = tx.send(line);
                    })
                    .await?;
            }
            drop(tx);
            for _ in 0..count {
                let line = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                    .await
                    .map_err(|_| "async send callbacks did not all arrive within 30 s")?
                    .ok_or("async send callback channel closed early")?;
                emit(line);
            }
        }
        _ => {
            for i in 0..count {
                let (msg, shard) = message(&topic, &prefix, &tags, shard_keys, i)?;
                let result = match mode.as_str() {
                    "sync" => producer.send(msg).await?,
                    "oneway" => {
                        producer.send_oneway(msg).await?;
                        emit(json!({"event": "sent", "i": i}));
                        continue;
                    }
                    "orderly" => {
                        let pick = |mqs: &[MessageQueue], _: &Message, key: &String| {
                            (!mqs.is_empty()).then(|| mqs[key_hash(key) % mqs.len()].clone())
                        };
                        producer.send_with_selector(msg, pick, shard).await?
                    }
                    other => return Err(format!("unknown --mode {other}").into()),
                };
                let r = result.ok_or("synchronous send returned no result")?;
                emit(sent_line(i, &r, None, r.queue_offset));
            }
        }
    }
    emit(json!({"event": "done", "count": count}));
    producer.shutdown().await;
    Ok(())
}

/// The `plan` user property of a message.
fn plan_of(m: &dyn MessageTrait) -> Option<String> {
    m.get_properties()
        .iter()
        .find(|(k, _)| k.to_string() == "plan")
        .map(|(_, v)| v.to_string())
}

fn verdict(plan: Option<&str>) -> LocalTransactionState {
    match plan {
        Some("commit") => LocalTransactionState::CommitMessage,
        Some("rollback") => LocalTransactionState::RollbackMessage,
        _ => LocalTransactionState::Unknown,
    }
}

/// Answers as each message's plan says (see the module docs).
struct Planned;

impl TransactionListener for Planned {
    fn execute_local_transaction(
        &self,
        msg: &dyn MessageTrait,
        _: Option<&(dyn Any + Send + Sync)>,
    ) -> LocalTransactionState {
        verdict(plan_of(msg).as_deref())
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        let plan = plan_of(msg);
        let answer = match plan.as_deref() {
            Some("unknown") => "commit",
            other => other.unwrap_or("unknown"),
        };
        emit(json!({
            "event": "checked",
            "body": msg.body().map(|b| String::from_utf8_lossy(&b).into_owned()),
            "plan": plan,
            "answer": answer,
            "msg_id": msg.msg_id().to_string(),
        }));
        verdict(Some(answer))
    }
}

async fn transact(opts: &Opts, rt: &Runtime) -> AnyResult<()> {
    let (topic, prefix) = (opts.req("topic")?, opts.get("prefix", "m"));
    let instance = format!("rust-transactor-{}", std::process::id());
    let mut producer = TransactionMQProducer::builder(rt.client.clone())
        .client_config(client_config(&opts.req("namesrv")?, &instance))
        .producer_group(opts.req("group")?)
        .send_msg_timeout(5_000)
        .transaction_listener(Planned)
        .build();
    producer.start().await?;
    let plan = opts.get("plan", "commit");
    let plan: Vec<&str> = plan.split(',').collect();
    for (i, local) in plan.iter().enumerate() {
        let msg = Message::builder()
            .topic(topic.as_str())
            .tags("TagA")
            .key(format!("{prefix}-key-{i}"))
            .body_slice(format!("{prefix}-{i}").as_bytes())
            .raw_property("seq", i.to_string())?
            .raw_property("origin", "rust")?
            .raw_property("plan", *local)?
            .build()?;
        let result = producer
            .send_message_in_transaction::<(), _>(msg, None)
            .await?;
        let r = result
            .send_result
            .ok_or("transactional send returned no result")?;
        let mut line = sent_line(i as u64, &r, None, r.queue_offset);
        line["local"] = json!(local);
        emit(line);
    }
    emit(json!({"event": "done", "count": plan.len()}));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::stdin().lock().lines().count();
        let _ = tx.send(());
    });
    let max_run = Duration::from_millis(opts.num("max-run-ms", 120_000)?);
    let _ = tokio::time::timeout(max_run, rx).await;
    let _ = tokio::time::timeout(Duration::from_secs(15), producer.shutdown()).await;
    emit(json!({"event": "stopped"}));
    Ok(())
}

fn msg_line(m: &MessageExt) -> Value {
    let props: BTreeMap<String, String> = m
        .properties()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    json!({
        "event": "msg",
        "msg_id": m.msg_id().to_string(),
        "topic": m.topic().to_string(),
        "tags": m.get_tags().map(|t| t.to_string()),
        "keys": m.message_inner().keys().map(|k| k.join(" ")),
        "body": m.body().map(|b| String::from_utf8_lossy(&b).into_owned()),
        "queue_id": m.queue_id(),
        "queue_offset": m.queue_offset(),
        "reconsume_times": m.reconsume_times(),
        "props": props,
    })
}

/// Prints each message, then spends `delay` on it.
struct Printer {
    delay: Duration,
}

impl Printer {
    fn print(&self, msgs: &[&MessageExt]) {
        for m in msgs {
            emit(msg_line(m));
            if !self.delay.is_zero() {
                std::thread::sleep(self.delay);
            }
        }
    }
}

impl MessageListenerConcurrently for Printer {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        self.print(msgs);
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

impl MessageListenerOrderly for Printer {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _: &mut ConsumeOrderlyContext,
    ) -> ClientResult<ConsumeOrderlyStatus> {
        self.print(msgs);
        Ok(ConsumeOrderlyStatus::Success)
    }
}

async fn consume(opts: &Opts, rt: &Runtime) -> AnyResult<()> {
    let instance = opts.get("instance", &format!("rust-consumer-{}", std::process::id()));
    let delay = Duration::from_millis(opts.num("consume-delay-ms", 0)?);
    let mut builder = DefaultMQPushConsumer::builder(rt.client.clone())
        .client_config(client_config(&opts.req("namesrv")?, &instance))
        .consumer_group(opts.req("group")?);
    if !delay.is_zero() {
        builder = builder
            .consume_thread_min(1)
            .consume_thread_max(1)
            .pull_batch_size(32);
    }
    if let Some(max_cache) = opts.0.get("max-cache") {
        let max_cache = max_cache
            .parse()
            .map_err(|e| format!("--max-cache {max_cache:?}: {e}"))?;
        builder = builder.pull_threshold_for_queue(max_cache);
    }
    let mut consumer = builder.build();
    let topic = opts.req("topic")?;
    match opts.0.get("sql") {
        Some(sql) => {
            let selector = MessageSelector::by_sql(sql.as_str());
            consumer
                .subscribe_with_selector(&topic, Some(selector))
                .await?
        }
        None => consumer.subscribe(topic, opts.get("expr", "*")).await?,
    }
    if opts.0.contains_key("orderly") {
        consumer.register_message_listener_orderly(Printer { delay });
    } else {
        consumer.register_message_listener_concurrently(Printer { delay });
    }
    consumer.start().await?;
    emit(json!({"event": "started", "instance": instance}));
    // Stop when the driving test closes our stdin, or at the deadline.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::stdin().lock().lines().count();
        let _ = tx.send(());
    });
    let max_run = Duration::from_millis(opts.num("max-run-ms", 120_000)?);
    let _ = tokio::time::timeout(max_run, rx).await;
    tokio::time::timeout(Duration::from_secs(15), consumer.shutdown())
        .await
        .map_err(|_| "consumer shutdown did not finish within 15 s")?;
    emit(json!({"event": "stopped"}));
    Ok(())
}

fn main() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .try_init();
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let outcome = Opts::parse(args).and_then(|opts| {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        tokio.block_on(async {
            let rt = Runtime::new()?;
            let outcome = match command.as_str() {
                "produce" => produce(&opts, &rt).await,
                "consume" => consume(&opts, &rt).await,
                "transact" => transact(&opts, &rt).await,
                other => {
                    Err(format!("unknown command {other:?} (produce | consume | transact)").into())
                }
            };
            rt.shutdown().await;
            outcome
        })
    });
    if let Err(e) = outcome {
        emit(json!({"event": "error", "error": e.to_string()}));
        eprintln!("rmq-rust-client: {e}");
        std::process::exit(1);
    }
}
