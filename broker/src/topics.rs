//! The broker's topic table: configs, validation, auto-creation on send
//! (from the `TBW102` template), retry/DLQ topics, and the JSON form kept in
//! `<data>/config/topics.json` (a `TopicConfigSerializeWrapper`, the shape
//! the NameServer registration carries too).

use std::collections::{BTreeMap, BTreeSet};

use bolide_proto::body::{DataVersion, JsonBody, TopicConfig, TopicConfigSerializeWrapper};
use bolide_proto::codes::perm;
use bolide_proto::delay::SCHEDULE_TOPIC;

/// Template topic for auto-creation (`TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC`).
pub const AUTO_CREATE_TEMPLATE_TOPIC: &str = "TBW102";
/// Longest topic name. v1 records (which C++ consumers need) hold 127 bytes.
pub const MAX_TOPIC_NAME_BYTES: usize = 127;
/// Prefix of a consumer group's retry topic.
pub const RETRY_TOPIC_PREFIX: &str = "%RETRY%";
/// Prefix of a consumer group's dead-letter topic.
pub const DLQ_TOPIC_PREFIX: &str = "%DLQ%";
/// Topics clients may not send to directly.
pub const NOT_ALLOWED_SEND_TOPICS: &[&str] = &[
    "SCHEDULE_TOPIC_XXXX",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
];

/// Retry topic of `group`.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_TOPIC_PREFIX}{group}")
}

/// Dead-letter topic of `group`.
pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_TOPIC_PREFIX}{group}")
}

/// Longest consumer group name: its retry topic must still be a valid
/// topic name (the DLQ prefix is shorter).
pub const MAX_GROUP_NAME_BYTES: usize = MAX_TOPIC_NAME_BYTES - RETRY_TOPIC_PREFIX.len();

/// Checks a consumer group name that needs retry and dead-letter topics:
/// 1..=120 bytes of `[A-Za-z0-9%_|-]`, so `%RETRY%<group>` and
/// `%DLQ%<group>` are valid topic names (Java clients enforce the same
/// characters; the C++ client does not check).
pub fn validate_group_name(group: &str) -> Result<(), String> {
    if group.is_empty() {
        return Err("consumer group name is empty".into());
    }
    if group.len() > MAX_GROUP_NAME_BYTES {
        return Err(format!(
            "consumer group name is {} bytes; the limit is {MAX_GROUP_NAME_BYTES} \
             (its retry topic {RETRY_TOPIC_PREFIX}<group> must fit {MAX_TOPIC_NAME_BYTES})",
            group.len()
        ));
    }
    match group.chars().find(|c| !is_name_char(*c)) {
        Some(c) => Err(format!(
            "consumer group name {group:?} contains {c:?}, so its retry topic \
             {RETRY_TOPIC_PREFIX}{group} cannot exist; use [A-Za-z0-9%_|-]"
        )),
        None => Ok(()),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "%_|-".contains(c)
}

/// Checks a topic name: 1..=127 bytes of `[A-Za-z0-9%_|-]`.
pub fn validate_topic_name(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("topic name is empty".into());
    }
    if topic.len() > MAX_TOPIC_NAME_BYTES {
        return Err(format!(
            "topic name is {} bytes; the limit is {MAX_TOPIC_NAME_BYTES}",
            topic.len()
        ));
    }
    match topic.chars().find(|c| !is_name_char(*c)) {
        Some(c) => Err(format!(
            "topic name {topic:?} contains {c:?}; use [A-Za-z0-9%_|-]"
        )),
        None => Ok(()),
    }
}

/// Why a send may not create or use a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRefusal {
    /// Bad name (MESSAGE_ILLEGAL / INVALID_PARAMETER).
    InvalidName(String),
    /// Unknown and not creatable (TOPIC_NOT_EXIST).
    NotExist(String),
    /// System topic or no write permission (NO_PERMISSION).
    NoPermission(String),
}

/// All topics of this broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTable {
    topics: BTreeMap<String, TopicConfig>,
    data_version: DataVersion,
    /// Topics created or changed since the persister last took the table:
    /// a send into one waits until it is on disk, so no acknowledged
    /// message sits in a topic a crash would forget.
    unpersisted: BTreeSet<String>,
}

fn config(name: &str, queues: i32, perm: i32) -> TopicConfig {
    TopicConfig {
        topic_name: name.to_owned(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm,
        ..TopicConfig::default()
    }
}

impl TopicTable {
    /// A table with the system topics a broker always has.
    pub fn new(
        cluster: &str,
        broker_name: &str,
        auto_create: bool,
        default_queue_nums: i32,
        delay_levels: i32,
    ) -> Self {
        let template_perm = if auto_create {
            perm::INHERIT | perm::READ_WRITE
        } else {
            perm::READ_WRITE
        };
        let mut topics = BTreeMap::new();
        for c in [
            config(
                AUTO_CREATE_TEMPLATE_TOPIC,
                default_queue_nums,
                template_perm,
            ),
            // Java registers these so admin tools can route by cluster/broker name.
            config(cluster, 16, perm::READ_WRITE),
            config(broker_name, 1, perm::READ_WRITE),
            config("SELF_TEST_TOPIC", 1, perm::READ_WRITE),
            config(SCHEDULE_TOPIC, delay_levels, perm::READ_WRITE),
        ] {
            topics.insert(c.topic_name.clone(), c);
        }
        TopicTable {
            topics,
            data_version: DataVersion::default(),
            unpersisted: BTreeSet::new(),
        }
    }

    pub fn get(&self, topic: &str) -> Option<&TopicConfig> {
        self.topics.get(topic)
    }

    pub fn iter(&self) -> impl Iterator<Item = &TopicConfig> {
        self.topics.values()
    }

    pub fn data_version(&self) -> DataVersion {
        self.data_version
    }

    fn bump(&mut self, now_ms: i64) {
        self.data_version = self.data_version.next(now_ms);
    }

    /// Records a topic as created or changed, and not yet on disk.
    fn changed(&mut self, topic: &str, now_ms: i64) {
        self.unpersisted.insert(topic.to_owned());
        self.bump(now_ms);
    }

    /// Whether `topic` was created or changed since the last snapshot taken
    /// for the persister.
    pub fn is_unpersisted(&self, topic: &str) -> bool {
        self.unpersisted.contains(topic)
    }

    /// For the persister, with the snapshot it writes: the topics that
    /// write makes durable.
    pub fn take_unpersisted(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.unpersisted)
    }

    /// Puts back what a failed write did not make durable.
    pub fn restore_unpersisted(&mut self, topics: BTreeSet<String>) {
        self.unpersisted.extend(topics);
    }

    /// Creates or replaces a topic (admin UPDATE_AND_CREATE_TOPIC).
    pub fn upsert(&mut self, config: TopicConfig, now_ms: i64) -> Result<(), TopicRefusal> {
        validate_topic_name(&config.topic_name).map_err(TopicRefusal::InvalidName)?;
        if config.read_queue_nums <= 0 || config.write_queue_nums <= 0 {
            return Err(TopicRefusal::InvalidName("queue counts must be > 0".into()));
        }
        let name = config.topic_name.clone();
        self.topics.insert(name.clone(), config);
        self.changed(&name, now_ms);
        Ok(())
    }

    /// Removes a topic; true if it existed.
    pub fn delete(&mut self, topic: &str, now_ms: i64) -> bool {
        let existed = self.topics.remove(topic).is_some();
        if existed {
            self.bump(now_ms);
        }
        existed
    }

    /// The topic a send may write to, creating it from `default_topic` if
    /// allowed (Java `createTopicInSendMessageMethod`) with min(`queue_nums`
    /// — the producer's `defaultTopicQueueNums` —, the template's write
    /// queues) queues, at least one. Returns the config and whether it was
    /// just created (so the broker re-registers).
    pub fn for_send(
        &mut self,
        topic: &str,
        default_topic: &str,
        queue_nums: i32,
        now_ms: i64,
    ) -> Result<(TopicConfig, bool), TopicRefusal> {
        validate_topic_name(topic).map_err(TopicRefusal::InvalidName)?;
        if topic == AUTO_CREATE_TEMPLATE_TOPIC || NOT_ALLOWED_SEND_TOPICS.contains(&topic) {
            return Err(TopicRefusal::NoPermission(format!(
                "sending to topic {topic} is forbidden"
            )));
        }
        if let Some(existing) = self.topics.get(topic) {
            return Ok((existing.clone(), false));
        }
        let template = self
            .topics
            .get(default_topic)
            .filter(|t| t.perm & perm::INHERIT != 0);
        let Some(template) = template else {
            return Err(TopicRefusal::NotExist(format!(
                "topic[{topic}] not exist, apply first please!"
            )));
        };
        let queues = queue_nums.clamp(1, template.write_queue_nums.max(1));
        let created = config(topic, queues, template.perm & !perm::INHERIT);
        self.topics.insert(topic.to_owned(), created.clone());
        self.changed(topic, now_ms);
        Ok((created, true))
    }

    /// Makes sure a one-queue, read-write system topic exists (retry, DLQ).
    /// Returns true if it was created. A bad name is refused: the store
    /// would refuse every message for it.
    pub fn ensure_single_queue(&mut self, topic: &str, now_ms: i64) -> Result<bool, TopicRefusal> {
        self.ensure_group_topic(topic, 1, now_ms)
    }

    /// [`Self::ensure_single_queue`] with `queues` queues (at least 1): a
    /// `%RETRY%` topic gets its group's `retryQueueNums`, as RocketMQ's
    /// `createTopicInSendMessageBackMethod` gives it. An existing topic
    /// keeps its queues.
    pub fn ensure_group_topic(
        &mut self,
        topic: &str,
        queues: i32,
        now_ms: i64,
    ) -> Result<bool, TopicRefusal> {
        if self.topics.contains_key(topic) {
            return Ok(false);
        }
        validate_topic_name(topic).map_err(TopicRefusal::InvalidName)?;
        let created = config(topic, queues.max(1), perm::READ_WRITE);
        self.topics.insert(topic.to_owned(), created);
        self.changed(topic, now_ms);
        Ok(true)
    }

    /// Number of topics (system topics included).
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// The persisted / registered form.
    pub fn to_wrapper(&self) -> TopicConfigSerializeWrapper {
        TopicConfigSerializeWrapper {
            data_version: self.data_version,
            topic_config_table: self.topics.clone(),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        self.to_wrapper().encode()
    }

    /// Makes this table the master's (a slave's metadata sync), as
    /// RocketMQ's slave does: the master's topics and version replace this
    /// table's, except the template and the schedule topic, which follow
    /// this broker's own config as on load. Returns the topics removed, or
    /// `None` when nothing changed (the registration and the file stay).
    pub fn follow(&mut self, master: TopicConfigSerializeWrapper) -> Option<Vec<String>> {
        let mut next = master.topic_config_table;
        for local in [AUTO_CREATE_TEMPLATE_TOPIC, SCHEDULE_TOPIC] {
            next.remove(local);
            if let Some(config) = self.topics.get(local) {
                next.insert(local.to_owned(), config.clone());
            }
        }
        if next == self.topics {
            return None;
        }
        let removed = self.topics.keys().filter(|t| !next.contains_key(*t));
        let removed: Vec<String> = removed.cloned().collect();
        let changed = next.iter().filter(|(t, c)| self.topics.get(*t) != Some(c));
        let changed: Vec<String> = changed.map(|(t, _)| t.clone()).collect();
        self.unpersisted.extend(changed);
        self.topics = next;
        self.data_version = master.data_version;
        Some(removed)
    }

    /// Loads persisted topics over the built-in ones.
    pub fn load_json(&mut self, bytes: &[u8]) -> Result<(), String> {
        let wrapper = TopicConfigSerializeWrapper::decode(bytes).map_err(|e| e.to_string())?;
        for (name, config) in wrapper.topic_config_table {
            // The template and the schedule topic follow this config.
            if name != AUTO_CREATE_TEMPLATE_TOPIC && name != SCHEDULE_TOPIC {
                self.topics.insert(name, config);
            }
        }
        self.data_version = wrapper.data_version;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(auto: bool) -> TopicTable {
        TopicTable::new("DefaultCluster", "broker-a", auto, 8, 18)
    }

    #[test]
    fn topic_names_are_validated() {
        assert!(validate_topic_name("Topic-1_a%b|c").is_ok());
        for bad in ["", "a b", "a/b", "中文", &"x".repeat(128)] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn send_auto_creates_from_the_template() {
        let mut t = table(true);
        let (c, created) = t.for_send("T", "TBW102", 4, 1).unwrap();
        assert!(created);
        assert_eq!(
            (c.read_queue_nums, c.write_queue_nums, c.perm),
            (4, 4, perm::READ_WRITE)
        );
        // Queue count is capped by the template's.
        let (c, _) = t.for_send("U", "TBW102", 100, 1).unwrap();
        assert_eq!(c.write_queue_nums, 8);
        assert!(!t.for_send("T", "TBW102", 4, 2).unwrap().1);
        assert_eq!(t.data_version().counter, 2);
    }

    #[test]
    fn send_without_auto_create_or_to_system_topics_is_refused() {
        let mut t = table(false);
        assert!(matches!(
            t.for_send("T", "TBW102", 4, 1),
            Err(TopicRefusal::NotExist(_))
        ));
        assert!(matches!(
            t.for_send("TBW102", "TBW102", 4, 1),
            Err(TopicRefusal::NoPermission(_))
        ));
        assert!(matches!(
            t.for_send("SCHEDULE_TOPIC_XXXX", "TBW102", 4, 1),
            Err(TopicRefusal::NoPermission(_))
        ));
        assert!(matches!(
            t.for_send("a b", "TBW102", 4, 1),
            Err(TopicRefusal::InvalidName(_))
        ));
    }

    #[test]
    fn retry_topics_have_one_queue() {
        let mut t = table(true);
        assert_eq!(t.ensure_single_queue(&retry_topic("g"), 1), Ok(true));
        assert_eq!(t.ensure_single_queue(&retry_topic("g"), 1), Ok(false));
        assert_eq!(t.get("%RETRY%g").unwrap().read_queue_nums, 1);
        assert_eq!(t.ensure_group_topic("%RETRY%g3", 3, 1), Ok(true));
        assert_eq!(t.ensure_group_topic("%RETRY%g3", 5, 1), Ok(false));
        let g3 = t.get("%RETRY%g3").unwrap();
        assert_eq!((g3.read_queue_nums, g3.write_queue_nums), (3, 3));
        assert_eq!(t.ensure_group_topic("%RETRY%g0", 0, 1), Ok(true));
        assert_eq!(t.get("%RETRY%g0").unwrap().write_queue_nums, 1);
        assert_eq!(dlq_topic("g"), "%DLQ%g");
        assert!(matches!(
            t.ensure_single_queue(&retry_topic("bad.group"), 1),
            Err(TopicRefusal::InvalidName(_))
        ));
        assert!(t.get("%RETRY%bad.group").is_none());
    }

    #[test]
    fn group_names_are_validated_for_their_retry_and_dlq_topics() {
        let longest = "g".repeat(MAX_GROUP_NAME_BYTES);
        for good in ["CG", "a-b_c|d%e", longest.as_str()] {
            assert!(validate_group_name(good).is_ok(), "{good:?}");
            assert!(validate_topic_name(&retry_topic(good)).is_ok());
            assert!(validate_topic_name(&dlq_topic(good)).is_ok());
        }
        let too_long = "g".repeat(MAX_GROUP_NAME_BYTES + 1);
        for bad in ["", "bad.group", "cpp.group", "a b", too_long.as_str()] {
            assert!(validate_group_name(bad).is_err(), "{bad:?}");
        }
        let why = validate_group_name("bad.group").unwrap_err();
        assert!(why.contains("bad.group") && why.contains("'.'"), "{why}");
    }

    #[test]
    fn json_round_trip_keeps_topics_and_version() {
        let mut t = table(true);
        t.for_send("T", "TBW102", 4, 1).unwrap();
        t.delete("SELF_TEST_TOPIC", 2);
        let mut back = table(true);
        back.load_json(&t.to_json()).unwrap();
        assert_eq!(back.get("T"), t.get("T"));
        assert_eq!(back.data_version(), t.data_version());
        assert!(back.load_json(b"{not json").is_err());
    }

    #[test]
    fn created_topics_are_unpersisted_until_a_snapshot_takes_them() {
        let mut t = table(true);
        assert!(!t.is_unpersisted("TBW102"), "built-in topics need no write");
        t.for_send("T", "TBW102", 4, 1).unwrap();
        t.ensure_single_queue("%RETRY%g", 2).unwrap();
        assert!(t.is_unpersisted("T") && t.is_unpersisted("%RETRY%g"));
        let taken = t.take_unpersisted();
        assert!(!t.is_unpersisted("T"));
        t.restore_unpersisted(taken);
        assert!(t.is_unpersisted("T"), "a failed write puts them back");
        let mut loaded = table(true);
        loaded.load_json(&t.to_json()).unwrap();
        assert!(!loaded.is_unpersisted("T"), "read from disk");
    }

    #[test]
    fn following_the_master_replaces_all_but_the_local_system_topics() {
        let mut master = table(true);
        master.for_send("T", "TBW102", 4, 1).unwrap();
        master.delete("SELF_TEST_TOPIC", 2);
        let mut wrapper = master.to_wrapper();
        wrapper.topic_config_table.remove("TBW102");
        let mut slave = table(false);
        slave.ensure_single_queue("%RETRY%g", 1).unwrap();
        let removed = slave.follow(wrapper.clone()).expect("changed");
        assert_eq!(removed, ["%RETRY%g", "SELF_TEST_TOPIC"]);
        assert_eq!(slave.get("T"), master.get("T"));
        assert!(slave.is_unpersisted("T"));
        assert_eq!(slave.data_version(), master.data_version());
        assert_eq!(
            slave.get("TBW102").unwrap().perm,
            6,
            "the template stays the slave's own"
        );
        assert!(slave.get(SCHEDULE_TOPIC).is_some());
        assert_eq!(slave.follow(wrapper), None, "nothing new");
    }

    #[test]
    fn template_permission_follows_auto_create() {
        assert_eq!(table(true).get("TBW102").unwrap().perm, 7);
        assert_eq!(table(false).get("TBW102").unwrap().perm, 6);
    }
}
