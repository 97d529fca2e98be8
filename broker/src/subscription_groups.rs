//! Subscription groups: each consumer group's settings on this broker
//! (whether it may consume, how many retries before the DLQ, …). Created on
//! first use when `auto_create_subscription_group` is on, or by an admin
//! (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP); persisted as a
//! `SubscriptionGroupWrapper` in `<data>/config/subscription_groups.json`.

use std::collections::BTreeMap;

use bolide_proto::body::{
    DataVersion, JsonBody, SubscriptionGroupConfig, SubscriptionGroupWrapper,
};

/// Every subscription group of the broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionGroups {
    groups: BTreeMap<String, SubscriptionGroupConfig>,
    data_version: DataVersion,
}

impl SubscriptionGroups {
    pub fn get(&self, group: &str) -> Option<&SubscriptionGroupConfig> {
        self.groups.get(group)
    }

    /// The group's config, created with defaults when `auto_create`.
    /// Returns the config and whether it was just created.
    pub fn find_or_create(
        &mut self,
        group: &str,
        auto_create: bool,
        now_ms: i64,
    ) -> Option<(SubscriptionGroupConfig, bool)> {
        if let Some(config) = self.groups.get(group) {
            return Some((config.clone(), false));
        }
        if !auto_create || group.is_empty() {
            return None;
        }
        let config = SubscriptionGroupConfig {
            group_name: group.to_owned(),
            ..SubscriptionGroupConfig::default()
        };
        self.upsert(config.clone(), now_ms);
        Some((config, true))
    }

    pub fn upsert(&mut self, config: SubscriptionGroupConfig, now_ms: i64) {
        self.groups.insert(config.group_name.clone(), config);
        self.data_version = self.data_version.next(now_ms);
    }

    /// Removes a group; true if it existed.
    pub fn delete(&mut self, group: &str, now_ms: i64) -> bool {
        let existed = self.groups.remove(group).is_some();
        if existed {
            self.data_version = self.data_version.next(now_ms);
        }
        existed
    }

    pub fn to_wrapper(&self) -> SubscriptionGroupWrapper {
        SubscriptionGroupWrapper {
            subscription_group_table: self.groups.clone(),
            data_version: self.data_version,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        self.to_wrapper().encode()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let w = SubscriptionGroupWrapper::decode(bytes).map_err(|e| e.to_string())?;
        Ok(SubscriptionGroups {
            groups: w.subscription_group_table,
            data_version: w.data_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_creation_upsert_delete_and_json() {
        let mut g = SubscriptionGroups::default();
        assert!(g.find_or_create("G", false, 1).is_none());
        let (c, created) = g.find_or_create("G", true, 1).unwrap();
        assert!(created && c.consume_enable && c.retry_max_times == 16);
        assert!(!g.find_or_create("G", true, 2).unwrap().1);
        g.upsert(
            SubscriptionGroupConfig {
                group_name: "H".into(),
                retry_max_times: 2,
                ..Default::default()
            },
            3,
        );
        let back = SubscriptionGroups::from_json(&g.to_json()).unwrap();
        assert_eq!(back, g);
        assert!(g.delete("G", 4));
        assert!(!g.delete("G", 5));
        assert_eq!(g.get("H").unwrap().retry_max_times, 2);
        assert!(SubscriptionGroups::from_json(b"nope").is_err());
    }
}
