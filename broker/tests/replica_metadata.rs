//! A slave follows its master's metadata over loopback: a NameServer, a
//! master and a slave of the same broker group (the slave's log stream
//! points nowhere, so only the metadata path is under test). What is
//! created on the master — a topic, a subscription group, a consumer
//! offset, delay progress — appears on the slave; an offset committed on
//! the slave is not undone by an older one from the master; a slave reads
//! like RocketMQ's (no offset corrections) and says it is one. Every wait
//! polls against a deadline; nothing asserts on speed.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bolide_broker::config::{BrokerConfig, FlushModeName, Role};
use bolide_proto::body::{
    DelayOffsetWrapper, JsonBody, KvTable, SubscriptionGroupConfig, SubscriptionGroupWrapper,
    TopicConfigSerializeWrapper, TopicRouteData,
};
use bolide_proto::codes::{pull_sys_flag, request_code as req, response_code as rsp};
use bolide_proto::header::offset::{
    QueryConsumerOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use bolide_proto::header::pull::PullMessageRequestHeader;
use bolide_proto::header::send::SendMessageRequestHeader;
use bolide_proto::message::PropertiesBuilder;
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::Connection;
use support::*;

/// Longest wait for the slave to show a change.
const DEADLINE: Duration = Duration::from_secs(30);
const GROUP: &str = "MetaGroup";
const TOPIC: &str = "MetaTopic";

fn slave_config(data: &std::path::Path, namesrv: SocketAddr) -> BrokerConfig {
    let mut c = broker_config(data, namesrv, FlushModeName::Async);
    c.broker.broker_id = 1;
    c.replication.role = Role::Slave;
    c.replication.listen_port = free_ports(2);
    // The log stream's master: a port nobody listens on.
    c.replication.master_addr = format!("127.0.0.1:{}", free_port());
    c.replication.metadata_sync_interval_ms = 200;
    c
}

async fn call(conn: &Connection, request: RemotingCommand) -> RemotingCommand {
    conn.invoke(request, TIMEOUT).await.expect("answer")
}

async fn call_ok(conn: &Connection, request: RemotingCommand) -> RemotingCommand {
    let answer = call(conn, request).await;
    assert_eq!(answer.code, rsp::SUCCESS, "{:?}", answer.remark);
    answer
}

fn commit(queue: i32, offset: i64) -> RemotingCommand {
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id: queue,
        commit_offset: offset,
    };
    RemotingCommand::request(req::UPDATE_CONSUMER_OFFSET).with_header(&header)
}

/// The group's committed offset of `TOPIC` queue `queue` on a broker.
async fn committed(conn: &Connection, queue: i32) -> Option<i64> {
    let header = QueryConsumerOffsetRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id: queue,
        set_zero_if_not_found: Some(false),
    };
    let request = RemotingCommand::request(req::QUERY_CONSUMER_OFFSET).with_header(&header);
    let answer = call(conn, request).await;
    (answer.code == rsp::SUCCESS).then(|| ext_i64(&answer, "offset"))
}

async fn topic_queues(conn: &Connection, topic: &str) -> Option<i32> {
    let answer = call_ok(conn, RemotingCommand::request(req::GET_ALL_TOPIC_CONFIG)).await;
    let topics = TopicConfigSerializeWrapper::decode(&answer.body).expect("topics body");
    topics
        .topic_config_table
        .get(topic)
        .map(|t| t.read_queue_nums)
}

async fn group_retries(conn: &Connection) -> Option<i32> {
    let request = RemotingCommand::request(req::GET_ALL_SUBSCRIPTIONGROUP_CONFIG);
    let answer = call_ok(conn, request).await;
    let groups = SubscriptionGroupWrapper::decode(&answer.body).expect("groups body");
    groups
        .subscription_group_table
        .get(GROUP)
        .map(|g| g.retry_max_times)
}

/// Delay level 1's delivery progress on a broker.
async fn delay_progress(conn: &Connection) -> Option<i64> {
    let answer = call_ok(conn, RemotingCommand::request(req::GET_ALL_DELAY_OFFSET)).await;
    let table = DelayOffsetWrapper::decode(&answer.body).expect("delay body");
    table.offset_table.get(&1).copied()
}

async fn runtime_info(conn: &Connection) -> KvTable {
    let answer = call_ok(conn, RemotingCommand::request(req::GET_BROKER_RUNTIME_INFO)).await;
    KvTable::decode(&answer.body).expect("runtime info body")
}

/// A message into `TOPIC` delayed by level 1 (1 s).
fn delayed_send() -> RemotingCommand {
    let mut props = PropertiesBuilder::new();
    props.set("DELAY", "1").expect("delay");
    let header = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: TOPIC.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 0,
        born_timestamp: 1,
        properties: Some(props.build()),
        ..SendMessageRequestHeader::default()
    };
    let mut cmd = RemotingCommand::request(req::SEND_MESSAGE_V2).with_body(b"later".to_vec());
    header.to_v2(&mut cmd.ext_fields);
    cmd
}

/// A pull of `TOPIC` queue 2 (empty: the delayed message went to 0) at
/// `offset` committing `commit`.
fn pull_committing(offset: i64, commit: i64) -> RemotingCommand {
    let header = PullMessageRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id: 2,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: pull_sys_flag::SUBSCRIPTION | pull_sys_flag::COMMIT_OFFSET,
        commit_offset: commit,
        subscription: Some("*".into()),
        ..PullMessageRequestHeader::default()
    };
    RemotingCommand::request(req::PULL_MESSAGE).with_header(&header)
}

#[test]
fn a_slave_follows_its_masters_metadata() {
    let ns = start_namesrv();
    let (master_dir, slave_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut master_config = broker_config(master_dir.path(), ns.addr(), FlushModeName::Async);
    master_config.replication.listen_port = free_ports(2);
    let master = start_broker(master_config);
    let slave = start_broker(slave_config(slave_dir.path(), ns.addr()));
    let (master_addr, slave_addr, ns_addr) = (master.addr(), slave.addr(), ns.addr());
    run(move || async move {
        let (m, s) = (connect(master_addr).await, connect(slave_addr).await);
        changes_on_the_master_reach_the_slave(&m, &s).await;
        offsets_keep_the_larger_side(&m, &s).await;
        the_slave_reads_like_rocketmqs(&m, &s).await;
        both_are_routed_and_say_what_they_are(&m, &s, master_addr, ns_addr).await;
    });
    slave.shutdown().unwrap();
    master.shutdown().unwrap();
    ns.shutdown();
}

async fn changes_on_the_master_reach_the_slave(m: &Connection, s: &Connection) {
    call_ok(m, create_topic_request(TOPIC, 3)).await;
    let group = SubscriptionGroupConfig {
        group_name: GROUP.into(),
        retry_max_times: 5,
        ..SubscriptionGroupConfig::default()
    };
    let upsert = RemotingCommand::request(req::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
        .with_body(group.encode());
    call_ok(m, upsert).await;
    call_ok(m, commit(1, 7)).await;
    call_ok(m, delayed_send()).await;
    eventually(
        "the master delivers the delayed message",
        DEADLINE,
        || async { delay_progress(m).await.filter(|o| *o >= 1) },
    )
    .await;

    eventually("the topic on the slave", DEADLINE, || {
        topic_queues(s, TOPIC)
    })
    .await;
    assert_eq!(topic_queues(s, TOPIC).await, Some(3));
    eventually("the group on the slave", DEADLINE, || group_retries(s)).await;
    assert_eq!(group_retries(s).await, Some(5));
    eventually("the offset on the slave", DEADLINE, || async {
        committed(s, 1).await.filter(|o| *o == 7)
    })
    .await;
    eventually("the delay progress on the slave", DEADLINE, || async {
        delay_progress(s).await.filter(|o| *o >= 1)
    })
    .await;
}

/// An offset committed on the slave (its master down, say) survives syncs
/// from a master that has an older one; a newer one from the master wins.
async fn offsets_keep_the_larger_side(m: &Connection, s: &Connection) {
    call_ok(s, commit(1, 20)).await;
    // A later change reaching the slave proves later syncs ran.
    call_ok(m, create_topic_request("MetaTopic2", 1)).await;
    eventually("a later sync", DEADLINE, || topic_queues(s, "MetaTopic2")).await;
    assert_eq!(committed(s, 1).await, Some(20), "kept over the master's 7");
    assert_eq!(committed(m, 1).await, Some(7), "the master is not written");
    call_ok(m, commit(1, 30)).await;
    eventually(
        "the master's newer offset on the slave",
        DEADLINE,
        || async { committed(s, 1).await.filter(|o| *o == 30) },
    )
    .await;
}

/// The queue is empty on the slave (no log stream here): a master would
/// move the consumer to 0, the slave leaves it where it asked and stores
/// the commit offset the pull carries.
async fn the_slave_reads_like_rocketmqs(m: &Connection, s: &Connection) {
    let on_master = call(m, pull_committing(5, 1)).await;
    assert_eq!(
        on_master.code,
        rsp::PULL_OFFSET_MOVED,
        "{:?}",
        on_master.remark
    );
    assert_eq!(ext_i64(&on_master, "nextBeginOffset"), 0);
    let on_slave = call(s, pull_committing(5, 4)).await;
    assert_eq!(
        on_slave.code,
        rsp::PULL_RETRY_IMMEDIATELY,
        "{:?}",
        on_slave.remark
    );
    assert_eq!(ext_i64(&on_slave, "nextBeginOffset"), 5);
    assert_eq!(ext_i64(&on_slave, "suggestWhichBrokerId"), 0);
    // 4 exists nowhere but in the slave's pull (the master holds 1).
    assert_eq!(
        committed(s, 2).await,
        Some(4),
        "the pull's commit is stored"
    );
}

async fn both_are_routed_and_say_what_they_are(
    m: &Connection,
    s: &Connection,
    master_addr: SocketAddr,
    ns_addr: SocketAddr,
) {
    let master_info = runtime_info(m).await.table;
    assert_eq!(master_info["brokerRole"], "ASYNC_MASTER");
    assert!(!master_info.contains_key("masterAddr"));
    let slave_info = runtime_info(s).await.table;
    assert_eq!(slave_info["brokerRole"], "SLAVE");
    assert_eq!(slave_info["masterAddr"], master_addr.to_string());
    for key in ["replicaConnections", "replicaLagBytes", "replicaLagMs"] {
        let value = &slave_info[key];
        assert!(value.parse::<u64>().is_ok(), "{key} = {value:?}");
    }
    let ns = connect(ns_addr).await;
    let route = RemotingCommand::request(req::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", TOPIC);
    let route = TopicRouteData::decode(&call_ok(&ns, route).await.body).expect("route");
    let ids: Vec<i64> = route.broker_datas[0].broker_addrs.keys().copied().collect();
    assert_eq!(ids, [0, 1], "master and slave under one broker name");
}
