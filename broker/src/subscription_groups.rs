//! Subscription groups: each consumer group's settings on this broker
//! (whether it may consume, how many retries before the DLQ, …). Created on
//! first use when `auto_create_subscription_group` is on, or by an admin
//! (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP); persisted as a
//! `SubscriptionGroupWrapper` in `<data>/config/subscription_groups.json`.
//!
//! Invariant: at most `broker.max_subscription_groups` groups are created
//! (default [`MAX_SUBSCRIPTION_GROUPS`]; a file written under a higher limit
//! still loads whole, and only creation is refused). Each group costs
//! memory, a retry topic registered with every NameServer, and bytes in a
//! file rewritten when groups change; without a bound one client could grow
//! all three without end.

use std::collections::BTreeMap;

use bolide_proto::body::{
    DataVersion, JsonBody, SubscriptionGroupConfig, SubscriptionGroupWrapper,
};

/// Default of `broker.max_subscription_groups`: most subscription groups
/// one broker keeps.
pub const MAX_SUBSCRIPTION_GROUPS: usize = 10_000;

/// Why a group's settings cannot be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRefusal {
    /// Unknown, and auto-creation is off (or the name is empty).
    NotExist(String),
    /// Creating it would pass the group limit.
    TooMany(String),
}

impl GroupRefusal {
    /// The remark a client gets.
    pub fn why(&self) -> &str {
        match self {
            GroupRefusal::NotExist(why) | GroupRefusal::TooMany(why) => why,
        }
    }
}

/// Every subscription group of the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionGroups {
    groups: BTreeMap<String, SubscriptionGroupConfig>,
    data_version: DataVersion,
    /// Most groups creation may reach (`broker.max_subscription_groups`).
    max_groups: usize,
}

impl Default for SubscriptionGroups {
    fn default() -> Self {
        SubscriptionGroups::new(MAX_SUBSCRIPTION_GROUPS)
    }
}

impl SubscriptionGroups {
    /// No groups; creation stops at `max_groups`.
    pub fn new(max_groups: usize) -> Self {
        SubscriptionGroups {
            groups: BTreeMap::new(),
            data_version: DataVersion::default(),
            max_groups,
        }
    }

    fn too_many(&self, group: &str, adding: usize) -> GroupRefusal {
        let (have, max) = (self.groups.len(), self.max_groups);
        GroupRefusal::TooMany(format!(
            "subscription group [{group}] cannot be created: this broker has {have} groups, \
             adding {adding} would pass the limit of {max} (broker.max_subscription_groups); \
             delete unused groups"
        ))
    }

    pub fn get(&self, group: &str) -> Option<&SubscriptionGroupConfig> {
        self.groups.get(group)
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The group's config, created with defaults when `auto_create`.
    /// Returns the config and whether it was just created.
    pub fn find_or_create(
        &mut self,
        group: &str,
        auto_create: bool,
        now_ms: i64,
    ) -> Result<(SubscriptionGroupConfig, bool), GroupRefusal> {
        if let Some(config) = self.groups.get(group) {
            return Ok((config.clone(), false));
        }
        if !auto_create || group.is_empty() {
            return Err(GroupRefusal::NotExist(format!(
                "subscription group [{group}] does not exist"
            )));
        }
        self.create_all([group], now_ms)?;
        let config = self.groups.get(group).cloned().unwrap_or_default();
        Ok((config, true))
    }

    /// Creates every missing group of `names` with defaults, or none of
    /// them when that would pass the limit. Returns how many were created.
    pub fn create_all<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a str>,
        now_ms: i64,
    ) -> Result<usize, GroupRefusal> {
        let mut missing: Vec<&str> = names
            .into_iter()
            .filter(|g| !g.is_empty() && !self.groups.contains_key(*g))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if let Some(first) = missing.first() {
            if self.groups.len() + missing.len() > self.max_groups {
                return Err(self.too_many(first, missing.len()));
            }
            for group in &missing {
                let config = SubscriptionGroupConfig {
                    group_name: (*group).to_owned(),
                    ..SubscriptionGroupConfig::default()
                };
                self.groups.insert(config.group_name.clone(), config);
            }
            self.data_version = self.data_version.next(now_ms);
        }
        Ok(missing.len())
    }

    /// Creates or replaces a group (admin); a new group counts against the limit.
    pub fn upsert(
        &mut self,
        config: SubscriptionGroupConfig,
        now_ms: i64,
    ) -> Result<(), GroupRefusal> {
        let name = &config.group_name;
        if !self.groups.contains_key(name) && self.groups.len() >= self.max_groups {
            return Err(self.too_many(name, 1));
        }
        self.groups.insert(name.clone(), config);
        self.data_version = self.data_version.next(now_ms);
        Ok(())
    }

    /// Removes a group; true if it existed.
    pub fn delete(&mut self, group: &str, now_ms: i64) -> bool {
        let existed = self.groups.remove(group).is_some();
        if existed {
            self.data_version = self.data_version.next(now_ms);
        }
        existed
    }

    /// Makes this table the master's (a slave's metadata sync), as
    /// RocketMQ's slave does: groups only the slave has (auto-created by
    /// consumers that came to it) go. The limit is not applied: it bounds
    /// creation, and the master already holds these. Returns true if
    /// anything changed.
    pub fn follow(&mut self, master: SubscriptionGroupWrapper) -> bool {
        if master.subscription_group_table == self.groups {
            return false;
        }
        self.groups = master.subscription_group_table;
        self.data_version = master.data_version;
        true
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

    /// Loads persisted groups; creation then stops at `max_groups`.
    pub fn from_json(bytes: &[u8], max_groups: usize) -> Result<Self, String> {
        let w = SubscriptionGroupWrapper::decode(bytes).map_err(|e| e.to_string())?;
        Ok(SubscriptionGroups {
            groups: w.subscription_group_table,
            data_version: w.data_version,
            max_groups,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_creation_upsert_delete_and_json() {
        let mut g = SubscriptionGroups::default();
        assert!(matches!(
            g.find_or_create("G", false, 1),
            Err(GroupRefusal::NotExist(_))
        ));
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
        )
        .unwrap();
        let back = SubscriptionGroups::from_json(&g.to_json(), MAX_SUBSCRIPTION_GROUPS).unwrap();
        assert_eq!(back, g);
        assert!(g.delete("G", 4));
        assert!(!g.delete("G", 5));
        assert_eq!(g.get("H").unwrap().retry_max_times, 2);
        assert!(SubscriptionGroups::from_json(b"nope", 1).is_err());
    }

    #[test]
    fn following_the_master_replaces_every_group() {
        let mut master = SubscriptionGroups::new(3);
        master.create_all(["A", "B", "C"], 1).unwrap();
        let mut slave = SubscriptionGroups::new(1);
        slave.create_all(["Z"], 1).unwrap();
        assert!(slave.follow(master.to_wrapper()));
        assert_eq!(slave.len(), 3, "over the slave's creation limit");
        assert!(slave.get("Z").is_none() && slave.get("B").is_some());
        assert_eq!(slave.data_version, master.data_version);
        assert!(!slave.follow(master.to_wrapper()));
        assert!(
            slave.create_all(["D"], 2).is_err(),
            "creation still bounded"
        );
    }

    #[test]
    fn the_limit_is_configurable_and_a_bigger_file_still_loads() {
        let mut g = SubscriptionGroups::new(2);
        assert_eq!(g.create_all(["A", "B"], 1), Ok(2));
        let refused = g.create_all(["C"], 2).unwrap_err();
        assert!(refused.why().contains("limit of 2"), "{}", refused.why());
        assert!(refused.why().contains("broker.max_subscription_groups"));
        let lowered = SubscriptionGroups::from_json(&g.to_json(), 1).unwrap();
        assert_eq!(lowered.len(), 2, "groups already kept stay");
        let mut lowered = lowered;
        assert!(lowered.find_or_create("A", true, 3).is_ok(), "known group");
        assert!(matches!(
            lowered.find_or_create("C", true, 3),
            Err(GroupRefusal::TooMany(_))
        ));
    }

    #[test]
    fn creating_many_is_all_or_nothing_within_the_limit() {
        let mut g = SubscriptionGroups::default();
        let names: Vec<String> = (0..MAX_SUBSCRIPTION_GROUPS - 2)
            .map(|i| format!("G{i}"))
            .collect();
        let created = g.create_all(names.iter().map(String::as_str), 1);
        assert_eq!(created, Ok(MAX_SUBSCRIPTION_GROUPS - 2));
        assert_eq!(g.data_version.counter, 1, "one version bump per batch");
        // Known names, duplicates and empty names cost nothing.
        assert_eq!(g.create_all(["G0", "A", "A", ""], 2), Ok(1));
        let refused = g.create_all(["B", "C"], 3).unwrap_err();
        assert!(matches!(refused, GroupRefusal::TooMany(_)));
        assert!(
            refused.why().contains("limit of 10000"),
            "{}",
            refused.why()
        );
        assert!(g.get("B").is_none(), "nothing created when refused");
        assert_eq!(g.create_all(["B"], 4), Ok(1));
        assert!(matches!(
            g.find_or_create("C", true, 5),
            Err(GroupRefusal::TooMany(_))
        ));
        let admin = SubscriptionGroupConfig {
            group_name: "C".into(),
            ..Default::default()
        };
        assert!(g.upsert(admin, 6).is_err());
        assert!(g.delete("B", 7));
        assert_eq!(g.find_or_create("C", true, 8).map(|(_, c)| c), Ok(true));
    }
}
