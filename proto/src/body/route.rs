//! Route bodies, remoting.md §4.1 and §4.11: [`TopicRouteData`]
//! (GET_ROUTEINFO_BY_TOPIC) and [`ClusterInfo`] (GET_BROKER_CLUSTER_INFO).
//!
//! `brokerAddrs` maps broker id (0 = master) to `ip:port`. Java's
//! fastjson writes those numeric keys **unquoted** — `{0:"10.0.0.5:10911"}`
//! — unless the client asked for standard JSON (version ≥ 401 or
//! `acceptStandardJsonOnly`), in which case keys are quoted and non-ASCII
//! is `\uXXXX`-escaped. [`RouteJsonStyle`] selects the form; both are
//! compact (Go splits `brokerAddrs` text on `,` and `:`). Decoding accepts
//! both forms: unquoted keys are quoted first ([`crate::json::quote_numeric_keys`]).
//!
//! ```text
//! {"brokerDatas":[{"brokerAddrs":{0:"10.0.0.5:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],
//!  "filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::body::decode_json;
use crate::body::lenient;
use crate::codes::version;
use crate::error::Result;
use crate::json::{quote_numeric_keys, write_i64, write_key, write_str};

/// How route JSON spells `brokerAddrs` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RouteJsonStyle {
    /// fastjson default: unquoted numeric keys, raw UTF-8.
    #[default]
    Fastjson,
    /// Standard JSON: quoted keys, non-ASCII escaped (fastjson
    /// `BrowserCompatible`).
    Standard,
}

impl RouteJsonStyle {
    /// The style the Java NameServer picks for a GET_ROUTEINFO_BY_TOPIC
    /// request of `request_version` with `acceptStandardJsonOnly`.
    pub fn for_route_request(request_version: i32, accept_standard_json_only: bool) -> Self {
        if request_version >= version::V4_9_4 || accept_standard_json_only {
            RouteJsonStyle::Standard
        } else {
            RouteJsonStyle::Fastjson
        }
    }

    fn ascii_only(self) -> bool {
        self == RouteJsonStyle::Standard
    }
}

/// Route of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    #[serde(deserialize_with = "lenient::null_default")]
    pub broker_datas: Vec<BrokerData>,
    /// brokerAddr → filter-server addresses (always empty in Bolide).
    #[serde(deserialize_with = "lenient::null_default")]
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    /// `brokerA:4;brokerB:4`; replaces `queue_datas` for publishing.
    pub order_topic_conf: Option<String>,
    #[serde(deserialize_with = "lenient::null_default")]
    pub queue_datas: Vec<QueueData>,
}

/// Queues of a topic on one broker name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueData {
    pub broker_name: String,
    /// [`crate::codes::perm`] bits.
    #[serde(deserialize_with = "lenient::int")]
    pub perm: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub read_queue_nums: i32,
    /// Named `topicSynFlag` before 2021; clients ignore it.
    #[serde(alias = "topicSynFlag", deserialize_with = "lenient::int")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub write_queue_nums: i32,
}

/// One broker name (master + slaves) and its addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    /// Broker id → `ip:port`; 0 is the master.
    #[serde(deserialize_with = "lenient::null_default")]
    pub broker_addrs: BTreeMap<i64, String>,
    pub broker_name: String,
    pub cluster: String,
    #[serde(deserialize_with = "lenient::boolean")]
    pub enable_acting_master: bool,
    /// Only emitted when set.
    pub zone_name: Option<String>,
}

/// Broker id of a master (`MixAll.MASTER_ID`).
pub const MASTER_ID: i64 = 0;

impl BrokerData {
    /// The master's address, if registered.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&MASTER_ID).map(String::as_str)
    }

    fn write_json(&self, out: &mut Vec<u8>, style: RouteJsonStyle) {
        let ascii = style.ascii_only();
        out.extend_from_slice(b"{\"brokerAddrs\":{");
        for (i, (id, addr)) in self.broker_addrs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let quoted = style == RouteJsonStyle::Standard;
            if quoted {
                out.push(b'"');
            }
            write_i64(out, *id);
            if quoted {
                out.push(b'"');
            }
            out.push(b':');
            write_str(out, addr, ascii);
        }
        out.extend_from_slice(b"},");
        write_key(out, "brokerName");
        write_str(out, &self.broker_name, ascii);
        out.extend_from_slice(b",\"cluster\":");
        write_str(out, &self.cluster, ascii);
        out.extend_from_slice(b",\"enableActingMaster\":");
        write_bool(out, self.enable_acting_master);
        if let Some(zone) = &self.zone_name {
            out.extend_from_slice(b",\"zoneName\":");
            write_str(out, zone, ascii);
        }
        out.push(b'}');
    }
}

impl QueueData {
    fn write_json(&self, out: &mut Vec<u8>, style: RouteJsonStyle) {
        out.extend_from_slice(b"{\"brokerName\":");
        write_str(out, &self.broker_name, style.ascii_only());
        let ints = [
            ("perm", self.perm),
            ("readQueueNums", self.read_queue_nums),
            ("topicSysFlag", self.topic_sys_flag),
            ("writeQueueNums", self.write_queue_nums),
        ];
        for (key, value) in ints {
            out.push(b',');
            write_key(out, key);
            write_i64(out, i64::from(value));
        }
        out.push(b'}');
    }
}

impl TopicRouteData {
    /// Parses either form (quoted or unquoted `brokerAddrs` keys).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        decode_json("topic route body", &quote_numeric_keys(bytes))
    }

    /// Compact JSON in `style`, members in fastjson order.
    pub fn encode(&self, style: RouteJsonStyle) -> Vec<u8> {
        let ascii = style.ascii_only();
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"brokerDatas\":[");
        for (i, broker) in self.broker_datas.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            broker.write_json(&mut out, style);
        }
        out.extend_from_slice(b"],\"filterServerTable\":");
        write_string_list_map(&mut out, &self.filter_server_table, ascii);
        if let Some(conf) = &self.order_topic_conf {
            out.extend_from_slice(b",\"orderTopicConf\":");
            write_str(&mut out, conf, ascii);
        }
        out.extend_from_slice(b",\"queueDatas\":[");
        for (i, queue) in self.queue_datas.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            queue.write_json(&mut out, style);
        }
        out.extend_from_slice(b"]}");
        out
    }
}

/// Cluster layout (GET_BROKER_CLUSTER_INFO).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    /// Broker name → its data.
    #[serde(deserialize_with = "lenient::null_default")]
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name → broker names.
    #[serde(deserialize_with = "lenient::null_default")]
    pub cluster_addr_table: BTreeMap<String, Vec<String>>,
}

impl ClusterInfo {
    /// Parses either form.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        decode_json("cluster info body", &quote_numeric_keys(bytes))
    }

    /// Compact JSON in `style` (Java always uses `Fastjson` here).
    pub fn encode(&self, style: RouteJsonStyle) -> Vec<u8> {
        let ascii = style.ascii_only();
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"brokerAddrTable\":{");
        for (i, (name, broker)) in self.broker_addr_table.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(&mut out, name, ascii);
            out.push(b':');
            broker.write_json(&mut out, style);
        }
        out.extend_from_slice(b"},\"clusterAddrTable\":");
        write_string_list_map(&mut out, &self.cluster_addr_table, ascii);
        out.push(b'}');
        out
    }
}

fn write_bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

fn write_string_list_map(out: &mut Vec<u8>, map: &BTreeMap<String, Vec<String>>, ascii: bool) {
    out.push(b'{');
    for (i, (key, values)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key, ascii);
        out.extend_from_slice(b":[");
        for (j, value) in values.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            write_str(out, value, ascii);
        }
        out.push(b']');
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// remoting.md §4.1 example, compacted.
    const FASTJSON: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;

    fn sample() -> TopicRouteData {
        TopicRouteData {
            broker_datas: vec![BrokerData {
                broker_addrs: [
                    (0, "10.0.0.5:10911".to_owned()),
                    (1, "10.0.0.6:10911".to_owned()),
                ]
                .into(),
                broker_name: "broker-a".into(),
                cluster: "DefaultCluster".into(),
                enable_acting_master: false,
                zone_name: None,
            }],
            queue_datas: vec![QueueData {
                broker_name: "broker-a".into(),
                perm: 6,
                read_queue_nums: 4,
                topic_sys_flag: 0,
                write_queue_nums: 4,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn fastjson_form_matches_java_and_decodes() {
        let route = sample();
        assert_eq!(
            String::from_utf8(route.encode(RouteJsonStyle::Fastjson)).unwrap(),
            FASTJSON
        );
        let back = TopicRouteData::decode(FASTJSON.as_bytes()).unwrap();
        assert_eq!(back, route);
        assert_eq!(back.broker_datas[0].master_addr(), Some("10.0.0.5:10911"));
    }

    #[test]
    fn standard_form_is_plain_json() {
        let mut route = sample();
        route.order_topic_conf = Some("broker-a:4".into());
        route.broker_datas[0].zone_name = Some("区".into());
        let text = route.encode(RouteJsonStyle::Standard);
        let value: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(
            value["brokerDatas"][0]["brokerAddrs"]["1"],
            "10.0.0.6:10911"
        );
        assert!(text.is_ascii());
        assert!(String::from_utf8_lossy(&text).contains(r#""zoneName":"\u533A""#));
        assert_eq!(TopicRouteData::decode(&text).unwrap(), route);
    }

    #[test]
    fn decodes_tolerantly() {
        let cases = [
            "{\"brokerDatas\":[{\"brokerAddrs\":{ 0 : \"a:1\" },\"brokerName\":\"b\"}],\"queueDatas\":[{\"brokerName\":\"b\",\"perm\":6,\"readQueueNums\":1,\"writeQueueNums\":1,\"topicSynFlag\":0}]}\n",
            r#"{"brokerDatas":[{"brokerAddrs":{"0":"a:1"},"brokerName":"b","extra":1}],"queueDatas":[{"brokerName":"b","perm":"6","readQueueNums":1,"writeQueueNums":1}],"filterServerTable":null}"#,
        ];
        for text in cases {
            let route = TopicRouteData::decode(text.as_bytes()).unwrap();
            assert_eq!(route.broker_datas[0].master_addr(), Some("a:1"), "{text}");
            assert_eq!(route.queue_datas[0].perm, 6);
        }
    }

    #[test]
    fn style_selection() {
        let cases = [
            (333, false, RouteJsonStyle::Fastjson),
            (317, false, RouteJsonStyle::Fastjson),
            (400, true, RouteJsonStyle::Standard),
            (401, false, RouteJsonStyle::Standard),
            (479, false, RouteJsonStyle::Standard),
        ];
        for (v, accept, want) in cases {
            assert_eq!(RouteJsonStyle::for_route_request(v, accept), want);
        }
    }

    #[test]
    fn cluster_info_round_trip() {
        let info = ClusterInfo {
            broker_addr_table: [("broker-a".to_owned(), sample().broker_datas[0].clone())].into(),
            cluster_addr_table: [("DefaultCluster".to_owned(), vec!["broker-a".to_owned()])].into(),
        };
        let text = info.encode(RouteJsonStyle::Fastjson);
        let want = r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;
        assert_eq!(String::from_utf8(text.clone()).unwrap(), want);
        assert_eq!(ClusterInfo::decode(&text).unwrap(), info);
    }
}
