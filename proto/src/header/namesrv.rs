//! NameServer headers, remoting.md §4.1, §4.11, §4.12:
//! GET_ROUTEINFO_BY_TOPIC (105), GET_KV_CONFIG (101), REGISTER_BROKER
//! (103), UNREGISTER_BROKER (104), QUERY_DATA_VERSION (322).

use crate::header::command_header;

command_header! {
    pub struct GetRouteInfoRequestHeader {
        topic: String = "topic",
        /// Forces standard (quoted-key) route JSON.
        accept_standard_json_only: Option<bool> = "acceptStandardJsonOnly",
    }
}

command_header! {
    pub struct GetKvConfigRequestHeader {
        namespace: String = "namespace",
        key: String = "key",
    }
}

command_header! {
    pub struct GetKvConfigResponseHeader {
        value: Option<String> = "value",
    }
}

command_header! {
    /// Body: [`crate::body::RegisterBrokerBody`] (uncompressed only).
    pub struct RegisterBrokerRequestHeader {
        broker_name: String = "brokerName",
        /// `ip:port` clients should use.
        broker_addr: String = "brokerAddr",
        cluster_name: String = "clusterName",
        /// `ip:haPort`.
        ha_server_addr: String = "haServerAddr",
        /// 0 = master.
        broker_id: i64 = "brokerId",
        /// Expiry, default 120 000 ms.
        heartbeat_timeout_millis: Option<i64> = "heartbeatTimeoutMillis",
        enable_acting_master: Option<bool> = "enableActingMaster",
        /// `true` = zlib body, which Bolide rejects.
        compressed: Option<bool> = "compressed",
        /// If ≠ 0: CRC32 of the body & 0x7FFFFFFF.
        body_crc32: Option<i32> = "bodyCrc32",
    }
}

command_header! {
    pub struct RegisterBrokerResponseHeader {
        ha_server_addr: Option<String> = "haServerAddr",
        master_addr: Option<String> = "masterAddr",
    }
}

command_header! {
    pub struct UnregisterBrokerRequestHeader {
        broker_name: String = "brokerName",
        broker_addr: String = "brokerAddr",
        cluster_name: String = "clusterName",
        broker_id: i64 = "brokerId",
    }
}

command_header! {
    /// Body: the broker's [`crate::body::DataVersion`].
    pub struct QueryDataVersionRequestHeader {
        broker_name: String = "brokerName",
        broker_addr: String = "brokerAddr",
        cluster_name: String = "clusterName",
        broker_id: i64 = "brokerId",
    }
}

command_header! {
    pub struct QueryDataVersionResponseHeader {
        changed: Option<bool> = "changed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::test_util::{assert_round_trip, ext};
    use crate::header::CommandHeader;

    #[test]
    fn route_request_flag() {
        let cases = [
            (None, None),
            (Some("true"), Some(true)),
            (Some("false"), Some(false)),
        ];
        for (raw, want) in cases {
            let mut e = ext(&[("topic", "T")]);
            if let Some(raw) = raw {
                e.insert("acceptStandardJsonOnly", raw);
            }
            let h = GetRouteInfoRequestHeader::from_ext(&e).unwrap();
            assert_eq!(h.accept_standard_json_only, want);
        }
    }

    #[test]
    fn round_trips() {
        assert_round_trip(&RegisterBrokerRequestHeader {
            broker_name: "broker-a".into(),
            broker_addr: "10.0.0.5:10911".into(),
            cluster_name: "DefaultCluster".into(),
            ha_server_addr: "10.0.0.5:10912".into(),
            broker_id: 0,
            heartbeat_timeout_millis: Some(120_000),
            enable_acting_master: Some(false),
            compressed: Some(false),
            body_crc32: Some(12345),
        });
        assert_round_trip(&RegisterBrokerResponseHeader {
            ha_server_addr: Some("h".into()),
            master_addr: None,
        });
        assert_round_trip(&UnregisterBrokerRequestHeader {
            broker_name: "b".into(),
            broker_addr: "a".into(),
            cluster_name: "c".into(),
            broker_id: 1,
        });
        assert_round_trip(&GetKvConfigRequestHeader {
            namespace: "ns".into(),
            key: "k".into(),
        });
        assert_round_trip(&GetKvConfigResponseHeader {
            value: Some("v".into()),
        });
        assert_round_trip(&QueryDataVersionResponseHeader {
            changed: Some(true),
        });
    }
}
