use super::*;
use bolide_proto::body::{DataVersion, TopicConfig, TopicConfigSerializeWrapper};
use bolide_proto::ExtFields;

fn core() -> NamesrvCore {
    NamesrvCore::new(NamesrvConfig::default())
}

fn request(code: i32, ext: &[(&str, &str)]) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(code);
    cmd.ext_fields = ext.iter().copied().collect::<ExtFields>();
    cmd
}

fn register(name: &str, addr: &str, id: &str, topics: &[&str]) -> RemotingCommand {
    let table = topics
        .iter()
        .map(|t| {
            let config = TopicConfig {
                topic_name: t.to_string(),
                read_queue_nums: 4,
                write_queue_nums: 4,
                ..TopicConfig::default()
            };
            (t.to_string(), config)
        })
        .collect();
    let body = RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            data_version: DataVersion::default(),
            topic_config_table: table,
        },
    };
    let ext = [
        ("brokerName", name),
        ("brokerAddr", addr),
        ("clusterName", "DefaultCluster"),
        ("haServerAddr", "127.0.0.1:10912"),
        ("brokerId", id),
    ];
    request(req::REGISTER_BROKER, &ext).with_body(body.encode())
}

fn route_request(topic: &str, version: i32) -> RemotingCommand {
    let mut cmd = request(req::GET_ROUTEINFO_BY_TOPIC, &[("topic", topic)]);
    cmd.version = version;
    cmd
}

#[test]
fn registered_topics_are_routed_in_the_clients_json_style() {
    let mut ns = core();
    let rsp = ns.handle(&register("broker-a", "127.0.0.1:10911", "0", &["T"]), 0, 1);
    assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);
    // C++ 2.0 (version 333): unquoted numeric brokerAddrs keys.
    let old = ns.handle(&route_request("T", 333), 0, 2);
    assert_eq!(old.code, rsp::SUCCESS);
    let text = String::from_utf8(old.body.to_vec()).unwrap();
    assert!(text.contains(r#"{0:"127.0.0.1:10911"}"#), "{text}");
    // Java >= 4.9.4 (version 401): standard JSON.
    let new = ns.handle(&route_request("T", 401), 0, 2);
    let text = String::from_utf8(new.body.to_vec()).unwrap();
    assert!(text.contains(r#"{"0":"127.0.0.1:10911"}"#), "{text}");
    let route = TopicRouteData::decode(&new.body).unwrap();
    assert_eq!(route.queue_datas[0].write_queue_nums, 4);
    assert_eq!(route.broker_datas[0].master_addr(), Some("127.0.0.1:10911"));
}

#[test]
fn unknown_topic_is_topic_not_exist() {
    let rsp = core().handle(&route_request("nope", 401), 0, 1);
    assert_eq!(rsp.code, rsp::TOPIC_NOT_EXIST);
    assert!(rsp.remark.unwrap().contains("nope"));
}

#[test]
fn slave_registration_gets_master_address() {
    let mut ns = core();
    ns.handle(&register("broker-a", "127.0.0.1:10911", "0", &["T"]), 0, 1);
    let rsp = ns.handle(&register("broker-a", "127.0.0.1:20911", "1", &["T"]), 0, 2);
    assert_eq!(rsp.ext_fields.get("masterAddr"), Some("127.0.0.1:10911"));
    assert_eq!(rsp.ext_fields.get("haServerAddr"), Some("127.0.0.1:10912"));
}

#[test]
fn bad_crc_and_compressed_bodies_are_refused() {
    let mut ns = core();
    let mut reg = register("b", "127.0.0.1:1", "0", &["T"]);
    reg.ext_fields.insert("bodyCrc32", "12345");
    assert_eq!(ns.handle(&reg, 0, 1).code, rsp::SYSTEM_ERROR);
    let mut reg = register("b", "127.0.0.1:1", "0", &["T"]);
    let crc = (crc32fast::hash(&reg.body) & 0x7FFF_FFFF).to_string();
    reg.ext_fields.insert("bodyCrc32", crc);
    assert_eq!(ns.handle(&reg, 0, 1).code, rsp::SUCCESS);
    let mut reg = register("b", "127.0.0.1:1", "0", &["T"]);
    reg.ext_fields.insert("compressed", "true");
    let rsp = ns.handle(&reg, 0, 1);
    assert_eq!(rsp.code, rsp::SYSTEM_ERROR);
    assert!(rsp.remark.unwrap().contains("compressed"));
}

#[test]
fn missing_header_fields_get_a_clear_error() {
    let rsp = core().handle(&request(req::REGISTER_BROKER, &[("brokerName", "a")]), 0, 1);
    assert_eq!(rsp.code, rsp::SYSTEM_ERROR);
    assert!(rsp.remark.unwrap().contains("brokerAddr"));
}

#[test]
fn unknown_codes_are_not_supported() {
    let rsp = core().handle(&request(999, &[]), 0, 1);
    assert_eq!(rsp.code, rsp::REQUEST_CODE_NOT_SUPPORTED);
    assert_eq!(
        rsp.remark.as_deref(),
        Some(" request type 999 not supported")
    );
}

#[test]
fn cluster_info_and_topic_lists() {
    let mut ns = core();
    ns.handle(
        &register("broker-a", "127.0.0.1:10911", "0", &["T", "U"]),
        0,
        1,
    );
    let info = ClusterInfo::decode(
        &ns.handle(&request(req::GET_BROKER_CLUSTER_INFO, &[]), 0, 1)
            .body,
    )
    .unwrap();
    assert_eq!(info.cluster_addr_table["DefaultCluster"], ["broker-a"]);
    let all = TopicList::decode(
        &ns.handle(&request(req::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, &[]), 0, 1)
            .body,
    )
    .unwrap();
    assert_eq!(all.topic_list, ["T", "U"]);
    let by_cluster = ns.handle(
        &request(req::GET_TOPICS_BY_CLUSTER, &[("cluster", "DefaultCluster")]),
        0,
        1,
    );
    assert_eq!(
        TopicList::decode(&by_cluster.body).unwrap().topic_list,
        ["T", "U"]
    );
}

#[test]
fn delete_topic_and_unregister_remove_routes() {
    let mut ns = core();
    ns.handle(
        &register("broker-a", "127.0.0.1:10911", "0", &["T", "U"]),
        0,
        1,
    );
    ns.handle(
        &request(req::DELETE_TOPIC_IN_NAMESRV, &[("topic", "T")]),
        0,
        1,
    );
    assert_eq!(
        ns.handle(&route_request("T", 401), 0, 1).code,
        rsp::TOPIC_NOT_EXIST
    );
    let unreg = [
        ("brokerName", "broker-a"),
        ("brokerAddr", "127.0.0.1:10911"),
        ("clusterName", "DefaultCluster"),
        ("brokerId", "0"),
    ];
    assert_eq!(
        ns.handle(&request(req::UNREGISTER_BROKER, &unreg), 0, 1)
            .code,
        rsp::SUCCESS
    );
    assert_eq!(
        ns.handle(&route_request("U", 401), 0, 1).code,
        rsp::TOPIC_NOT_EXIST
    );
}

#[test]
fn kv_config_round_trip_and_order_topic_conf() {
    let mut ns = core();
    ns.handle(&register("broker-a", "127.0.0.1:10911", "0", &["T"]), 0, 1);
    let put = [
        ("namespace", ORDER_TOPIC_CONFIG_NAMESPACE),
        ("key", "T"),
        ("value", "broker-a:4"),
    ];
    assert_eq!(
        ns.handle(&request(req::PUT_KV_CONFIG, &put), 0, 1).code,
        rsp::SUCCESS
    );
    let get = [("namespace", ORDER_TOPIC_CONFIG_NAMESPACE), ("key", "T")];
    let rsp = ns.handle(&request(req::GET_KV_CONFIG, &get), 0, 1);
    assert_eq!(rsp.ext_fields.get("value"), Some("broker-a:4"));
    let route = TopicRouteData::decode(&ns.handle(&route_request("T", 401), 0, 1).body).unwrap();
    assert_eq!(route.order_topic_conf.as_deref(), Some("broker-a:4"));
    let list = ns.handle(
        &request(
            req::GET_KVLIST_BY_NAMESPACE,
            &[("namespace", ORDER_TOPIC_CONFIG_NAMESPACE)],
        ),
        0,
        1,
    );
    assert_eq!(
        KvTable::decode(&list.body).unwrap().table["T"],
        "broker-a:4"
    );
    ns.handle(&request(req::DELETE_KV_CONFIG, &get), 0, 1);
    assert_eq!(
        ns.handle(&request(req::GET_KV_CONFIG, &get), 0, 1).code,
        rsp::QUERY_NOT_FOUND
    );
}
