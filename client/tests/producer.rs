//! The producer end to end over loopback: a NameServer and a 2-shard broker,
//! a [`BlockingProducer`] sending sync / async / oneway / batch / by-key,
//! checked by pulling the raw queues; retries past a dead broker; topic
//! auto-creation through TBW102. Bounded in time; only 127.0.0.1.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::rc::Rc;

use bolide_client::error::ClientError;
use bolide_client::message::{Message, MessageExt, SendStatus};
use bolide_client::producer::{BlockingProducer, ProducerConfig};
use bolide_client::remoting::{Connection, NoInbound};
use bolide_client::runtime::{ClientRuntime, LocalHandle};
use bolide_proto::body::{
    DataVersion, JsonBody, RegisterBrokerBody, TopicConfig, TopicConfigSerializeWrapper,
};
use bolide_proto::codes::{pull_sys_flag, request_code as req, response_code as rsp};
use bolide_proto::header::admin::CreateTopicRequestHeader;
use bolide_proto::header::namesrv::RegisterBrokerRequestHeader;
use bolide_proto::header::pull::PullMessageRequestHeader;
use bolide_proto::ids::QueueOffset;
use bolide_proto::msgid::OffsetMsgId;
use bolide_proto::RemotingCommand;
use support::{run, wait_for_route, Cluster, TIMEOUT};

/// Every message stored in `topic` (queues `0..queues`), pulled raw.
fn pull_all(broker: SocketAddr, topic: &str, queues: u32) -> Vec<MessageExt> {
    let topic = topic.to_owned();
    run(move || async move {
        let conn = connect(broker).await;
        let mut all = Vec::new();
        for queue in 0..queues {
            let mut offset = 0;
            loop {
                let header = PullMessageRequestHeader {
                    consumer_group: "raw-reader".into(),
                    topic: topic.clone(),
                    queue_id: queue as i32,
                    queue_offset: offset,
                    max_msg_nums: 32,
                    sys_flag: pull_sys_flag::SUBSCRIPTION,
                    subscription: Some("*".into()),
                    ..PullMessageRequestHeader::default()
                };
                let request = RemotingCommand::request(req::PULL_MESSAGE).with_header(&header);
                let response = conn.invoke(request, TIMEOUT).await.expect("pull");
                match response.code {
                    rsp::SUCCESS => {
                        all.extend(MessageExt::decode_all(&response.body).expect("records"))
                    }
                    rsp::PULL_NOT_FOUND | rsp::PULL_OFFSET_MOVED => break,
                    rsp::PULL_RETRY_IMMEDIATELY => {}
                    code => panic!("pull answered {code}: {:?}", response.remark),
                }
                offset = response
                    .ext_fields
                    .get("nextBeginOffset")
                    .expect("next")
                    .parse()
                    .expect("n");
            }
        }
        conn.close();
        all
    })
}

async fn connect(addr: SocketAddr) -> Connection {
    Connection::connect(addr, Rc::new(NoInbound), 16 << 20, TIMEOUT)
        .await
        .expect("connect")
}

fn start_producer(cluster: &Cluster) -> BlockingProducer {
    let config = ProducerConfig::new("PG", cluster.namesrv_addr().to_string());
    BlockingProducer::start(config).expect("producer")
}

/// Creates `topic` with `queues` queues on the broker (UPDATE_AND_CREATE_TOPIC).
fn create_topic(broker: SocketAddr, topic: &str, queues: i32) {
    let header = CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        ..CreateTopicRequestHeader::default()
    };
    run(move || async move {
        let conn = connect(broker).await;
        let request = RemotingCommand::request(req::UPDATE_AND_CREATE_TOPIC).with_header(&header);
        let response = conn.invoke(request, TIMEOUT).await.expect("create");
        assert_eq!(response.code, rsp::SUCCESS, "{:?}", response.remark);
    });
}

#[test]
fn sync_async_oneway_and_batch_sends_land_where_reported() {
    let cluster = Cluster::start();
    let topic = "ProducerTopic";
    create_topic(cluster.broker_addr(), topic, 4);
    wait_for_route(cluster.namesrv_addr(), topic, 4);
    let producer = start_producer(&cluster);

    let mut reported = BTreeMap::new();
    for i in 0..8 {
        let msg = Message::new(topic, format!("sync-{i}"))
            .with_tags(if i % 2 == 0 { "TagA" } else { "TagB" })
            .with_keys([format!("key-{i}"), "common".to_owned()])
            .with_property("idx", i.to_string());
        let result = producer.send(msg).expect("send");
        assert_eq!(result.status, SendStatus::SendOk);
        assert_eq!(result.msg_id.len(), 32);
        let id = OffsetMsgId::decode(&result.offset_msg_id).expect("offset id");
        assert_eq!(id.store_host, cluster.broker_addr());
        reported.insert(result.msg_id.clone(), result);
    }
    let queues_used: BTreeSet<u32> = reported.values().map(|r| r.queue.queue_id.0).collect();
    assert_eq!(queues_used.len(), 4, "round robin over the 4 queues");

    let pending: Vec<_> = (0..4)
        .map(|i| producer.send_async(Message::new(topic, format!("async-{i}")).with_tags("TagC")))
        .collect();
    let async_results = futures_lite::future::block_on(async {
        let mut out = Vec::new();
        for p in pending {
            out.push(p.await.expect("async send"));
        }
        out
    });
    for r in async_results {
        reported.insert(r.msg_id.clone(), r);
    }

    producer
        .send_oneway(Message::new(topic, "oneway").with_tags("TagO"))
        .expect("oneway");

    let batch: Vec<Message> = (0..3)
        .map(|i| Message::new(topic, format!("batch-{i}")).with_key(format!("bk-{i}")))
        .collect();
    let batch_result = producer.send_batch(batch).expect("batch");
    let batch_ids: Vec<&str> = batch_result.msg_id.split(',').collect();
    assert_eq!(batch_ids.len(), 3);
    assert_eq!(batch_result.offset_msg_id.split(',').count(), 3);

    let by_key = producer
        .send_by_key(Message::new(topic, "ordered"), "order-42")
        .expect("by key");
    let again = producer
        .send_by_key(Message::new(topic, "ordered-2"), "order-42")
        .expect("by key");
    assert_eq!(by_key.queue, again.queue, "one key, one queue");
    assert_eq!(again.queue_offset.0, by_key.queue_offset.0 + 1);
    let picked = producer
        .send_with_selector(Message::new(topic, "selected"), |queues, _| {
            queues.last().cloned()
        })
        .expect("selector");
    assert_eq!(picked.queue.queue_id.0, 3);

    // 8 sync + 4 async + 1 oneway + 3 batch + 2 by key + 1 selected.
    let mut stored = Vec::new();
    assert!(
        support::eventually(TIMEOUT, || {
            stored = pull_all(cluster.broker_addr(), topic, 4);
            stored.len() == 19
        }),
        "stored {} messages",
        stored.len()
    );
    for m in &stored {
        let Some(r) = reported.get(&m.msg_id) else {
            continue;
        };
        assert_eq!(r.queue.queue_id, m.queue_id, "{}", m.msg_id);
        assert_eq!(r.queue_offset, m.queue_offset);
        assert_eq!(r.offset_msg_id, m.offset_msg_id);
        if let Some(idx) = m.property("idx") {
            assert_eq!(&m.body[..], format!("sync-{idx}").as_bytes());
            assert_eq!(m.keys, [format!("key-{idx}"), "common".to_owned()]);
            let tag = if idx.parse::<u32>().unwrap() % 2 == 0 {
                "TagA"
            } else {
                "TagB"
            };
            assert_eq!(m.tags.as_deref(), Some(tag));
        }
    }
    assert_eq!(
        stored
            .iter()
            .filter(|m| reported.contains_key(&m.msg_id))
            .count(),
        12
    );
    let batch_stored: Vec<&MessageExt> = stored
        .iter()
        .filter(|m| m.body.starts_with(b"batch-"))
        .collect();
    assert_eq!(batch_stored.len(), 3);
    for (i, m) in batch_stored.iter().enumerate() {
        assert_eq!(m.msg_id, batch_ids[i]);
        assert_eq!(m.queue_id, batch_result.queue.queue_id);
        assert_eq!(
            m.queue_offset,
            QueueOffset(batch_result.queue_offset.0 + i as u64)
        );
        assert_eq!(m.keys, [format!("bk-{i}")]);
    }
    assert!(stored
        .iter()
        .any(|m| &m.body[..] == b"oneway" && m.tags.as_deref() == Some("TagO")));
    producer.shutdown();
}

#[test]
fn unknown_topic_is_auto_created_through_tbw102() {
    let cluster = Cluster::start();
    let producer = start_producer(&cluster);
    let topic = "AutoCreatedTopic";
    let first = producer.send(Message::new(topic, "first")).expect("send");
    assert_eq!(first.status, SendStatus::SendOk);
    assert!(first.queue.queue_id.0 < 4, "min(4, TBW102 queues)");
    wait_for_route(cluster.namesrv_addr(), topic, 4);
    for i in 0..4 {
        producer
            .send(Message::new(topic, format!("m{i}")))
            .expect("send");
    }
    assert!(support::eventually(TIMEOUT, || pull_all(
        cluster.broker_addr(),
        topic,
        4
    )
    .len()
        == 5));
}

#[test]
fn invalid_messages_are_refused_locally() {
    let cluster = Cluster::start();
    let producer = start_producer(&cluster);
    let cases = [
        Message::new("bad topic", "x"),
        Message::new("T", ""),
        Message::new("T", "x").with_key("a b"),
    ];
    for msg in cases {
        assert!(producer.send(msg.clone()).is_err(), "{msg:?}");
    }
    let mixed = vec![Message::new("A", "x"), Message::new("B", "y")];
    assert!(producer.send_batch(mixed).is_err());
}

/// Registers a broker named `name` at `addr` (nobody listens there) for
/// `topic` with the NameServer, over a connection parked on `rt` (the
/// NameServer forgets brokers whose connection closes).
fn register_dead_broker(
    rt: &ClientRuntime,
    namesrv: SocketAddr,
    name: &str,
    addr: SocketAddr,
    topic: &str,
) -> LocalHandle<Connection> {
    let mut wrapper = TopicConfigSerializeWrapper {
        data_version: DataVersion::default(),
        ..TopicConfigSerializeWrapper::default()
    };
    wrapper.topic_config_table.insert(
        topic.to_owned(),
        TopicConfig {
            topic_name: topic.to_owned(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm: 6,
            ..TopicConfig::default()
        },
    );
    let body = RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: wrapper,
    }
    .encode();
    let header = RegisterBrokerRequestHeader {
        broker_name: name.into(),
        broker_addr: addr.to_string(),
        cluster_name: "DefaultCluster".into(),
        ha_server_addr: addr.to_string(),
        broker_id: 0,
        ..RegisterBrokerRequestHeader::default()
    };
    let request = RemotingCommand::request(req::REGISTER_BROKER)
        .with_header(&header)
        .with_body(body);
    rt.install(move || async move {
        let conn = connect(namesrv).await;
        let response = conn.invoke(request, TIMEOUT).await.expect("register");
        assert_eq!(response.code, rsp::SUCCESS, "{:?}", response.remark);
        Ok::<_, ClientError>(Rc::new(conn))
    })
    .wait()
    .expect("registered")
}

#[test]
fn sync_sends_retry_past_a_dead_broker() {
    let cluster = Cluster::start();
    let topic = "RetryTopic";
    create_topic(cluster.broker_addr(), topic, 4);
    wait_for_route(cluster.namesrv_addr(), topic, 4);
    let rt = ClientRuntime::start("dead-broker").expect("runtime");
    let dead: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _registration =
        register_dead_broker(&rt, cluster.namesrv_addr(), "dead-broker", dead, topic);
    wait_for_route(cluster.namesrv_addr(), topic, 8);

    // Without fault avoidance the round robin keeps reaching the dead
    // broker first; only retries get those sends through.
    let mut config = ProducerConfig::new("PG", cluster.namesrv_addr().to_string());
    config.fault_avoidance = false;
    let producer = BlockingProducer::start(config.clone()).expect("producer");
    for i in 0..8 {
        let r = producer
            .send(Message::new(topic, format!("r{i}")))
            .expect("retried send");
        assert_ne!(r.queue.broker_name, "dead-broker");
    }

    config.retries = 0;
    let no_retry = BlockingProducer::start(config).expect("producer");
    let failures = (0..8)
        .filter(|i| no_retry.send(Message::new(topic, format!("n{i}"))).is_err())
        .count();
    assert!(failures > 0, "some first attempts hit the dead broker");
    assert!(failures < 8, "some reached the live broker");

    // With fault avoidance (the default) the dead broker is avoided after
    // its first failure.
    let avoiding = start_producer(&cluster);
    for i in 0..8 {
        avoiding
            .send(Message::new(topic, format!("a{i}")))
            .expect("send");
    }
}

/// A port nobody listens on (bound, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn producer_runs_inside_a_glommio_executor_too() {
    let cluster = Cluster::start();
    let namesrv = cluster.namesrv_addr();
    let result = run(move || async move {
        let config = ProducerConfig::new("PG", namesrv.to_string());
        let producer = bolide_client::producer::Producer::start(config).expect("producer");
        let r = producer.send(Message::new("LocalTopic", "x")).await;
        producer.shutdown().await;
        r.map(|r| r.status)
    });
    assert_eq!(result.expect("send"), SendStatus::SendOk);
}
