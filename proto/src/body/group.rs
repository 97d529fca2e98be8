//! Subscription group bodies: `SubscriptionGroupConfig` (the body of
//! UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 200, and of GET_SUBSCRIPTIONGROUP_CONFIG,
//! 352) and `SubscriptionGroupWrapper` (GET_ALL_SUBSCRIPTIONGROUP_CONFIG, 201).
//! Members and defaults as in Java's `SubscriptionGroupConfig`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::body::lenient;
use crate::body::{DataVersion, JsonBody};

/// Default retries before a message goes to the DLQ.
pub const DEFAULT_RETRY_MAX_TIMES: i32 = 16;

/// One consumer group's settings on a broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfig {
    pub group_name: String,
    #[serde(deserialize_with = "lenient::boolean")]
    pub consume_enable: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    pub consume_from_min_enable: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    pub consume_broadcast_enable: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    pub consume_message_orderly: bool,
    #[serde(deserialize_with = "lenient::int")]
    pub retry_queue_nums: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub retry_max_times: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub broker_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    pub which_broker_when_consume_slowly: i64,
    #[serde(deserialize_with = "lenient::boolean")]
    pub notify_consumer_ids_changed_enable: bool,
    #[serde(deserialize_with = "lenient::int")]
    pub group_sys_flag: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub consume_timeout_minute: i32,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        SubscriptionGroupConfig {
            group_name: String::new(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            consume_message_orderly: false,
            retry_queue_nums: 1,
            retry_max_times: DEFAULT_RETRY_MAX_TIMES,
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
            group_sys_flag: 0,
            consume_timeout_minute: 15,
        }
    }
}

impl JsonBody for SubscriptionGroupConfig {
    const WHAT: &'static str = "subscription group config";
}

/// Every group of a broker, with the version that changes with them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    #[serde(deserialize_with = "lenient::null_default")]
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
    #[serde(deserialize_with = "lenient::null_default")]
    pub data_version: DataVersion,
}

impl JsonBody for SubscriptionGroupWrapper {
    const WHAT: &'static str = "subscription group wrapper";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_admin_body_decodes_with_defaults_for_missing_members() {
        let body = br#"{"groupName":"G","consumeEnable":false,"retryMaxTimes":"3"}"#;
        let c = SubscriptionGroupConfig::decode(body).unwrap();
        assert_eq!(c.group_name, "G");
        assert!(!c.consume_enable);
        assert_eq!(c.retry_max_times, 3);
        assert_eq!(c.retry_queue_nums, 1);
        assert!(c.consume_broadcast_enable);
    }

    #[test]
    fn wrapper_round_trips() {
        let mut w = SubscriptionGroupWrapper::default();
        w.subscription_group_table.insert(
            "G".into(),
            SubscriptionGroupConfig {
                group_name: "G".into(),
                ..Default::default()
            },
        );
        let back = SubscriptionGroupWrapper::decode(&w.encode()).unwrap();
        assert_eq!(back, w);
        assert!(String::from_utf8(w.encode()).unwrap().starts_with(
            r#"{"subscriptionGroupTable":{"G":{"groupName":"G","consumeEnable":true"#
        ));
    }
}
