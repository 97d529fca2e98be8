//! Tag subscriptions: the expression a consumer subscribes a topic with
//! (`*`, or tags joined by `||`), its wire form, and the client-side tag
//! filter (remoting.md §6.5).
//!
//! The broker filters by the tag's 32-bit hash code, so two tags that
//! collide both pass; like the Java and C++ clients, a consumer drops a
//! pulled message whose `TAGS` is not in its tag set after decoding.
//!
//! Invariants: an expression that is empty or `*` (after trimming)
//! subscribes everything and has no tags; otherwise the tags are the
//! trimmed, non-empty `||`-separated parts, de-duplicated and in order of
//! first appearance, and `codes[i]` is the Java `String.hashCode` of
//! `tags[i]`.

use bolide_proto::body::{SubscriptionData, EXPRESSION_TYPE_TAG, SUB_ALL};
use bolide_proto::tags::java_string_hash;

/// Prefix of a group's retry topic (`%RETRY%<group>`).
pub const RETRY_TOPIC_PREFIX: &str = "%RETRY%";

/// The retry topic of `group`.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_TOPIC_PREFIX}{group}")
}

/// Whether `topic` is a retry topic.
pub fn is_retry_topic(topic: &str) -> bool {
    topic.starts_with(RETRY_TOPIC_PREFIX)
}

/// One topic's tag subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topic: String,
    /// The expression as given (`*` when empty).
    pub expression: String,
    /// Empty = everything.
    pub tags: Vec<String>,
    pub codes: Vec<i32>,
    /// Creation time (ms), RocketMQ's `subVersion`.
    pub sub_version: i64,
}

impl Subscription {
    /// Parses `expression` for `topic`.
    pub fn new(topic: &str, expression: &str, sub_version: i64) -> Self {
        let trimmed = expression.trim();
        let mut tags: Vec<String> = Vec::new();
        if !trimmed.is_empty() && trimmed != SUB_ALL {
            for tag in trimmed.split("||").map(str::trim).filter(|t| !t.is_empty()) {
                if !tags.iter().any(|t| t == tag) {
                    tags.push(tag.to_owned());
                }
            }
        }
        let codes = tags.iter().map(|t| java_string_hash(t)).collect();
        let expression = if tags.is_empty() { SUB_ALL } else { trimmed };
        Subscription {
            topic: topic.to_owned(),
            expression: expression.to_owned(),
            tags,
            codes,
            sub_version,
        }
    }

    /// Whether every message matches.
    pub fn is_all(&self) -> bool {
        self.tags.is_empty()
    }

    /// The client-side filter: does a message with `tags` pass?
    pub fn matches(&self, tags: Option<&str>) -> bool {
        self.is_all() || tags.is_some_and(|t| self.tags.iter().any(|s| s == t))
    }

    /// The heartbeat form.
    pub fn to_wire(&self) -> SubscriptionData {
        SubscriptionData {
            class_filter_mode: false,
            code_set: self.codes.clone(),
            expression_type: EXPRESSION_TYPE_TAG.to_owned(),
            sub_string: self.expression.clone(),
            sub_version: self.sub_version,
            tags_set: self.tags.clone(),
            topic: self.topic.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_expressions() {
        let cases: [(&str, &str, &[&str]); 7] = [
            ("*", "*", &[]),
            ("", "*", &[]),
            ("  * ", "*", &[]),
            ("TagA", "TagA", &["TagA"]),
            ("TagA || TagB", "TagA || TagB", &["TagA", "TagB"]),
            (" a||b ||a|| ", "a||b ||a||", &["a", "b"]),
            ("||", "*", &[]),
        ];
        for (expr, want_expr, want_tags) in cases {
            let s = Subscription::new("T", expr, 7);
            assert_eq!(s.expression, want_expr, "{expr:?}");
            assert_eq!(s.tags, want_tags, "{expr:?}");
            assert_eq!(s.codes.len(), s.tags.len());
            assert_eq!(s.is_all(), want_tags.is_empty());
        }
        let s = Subscription::new("T", "TagA||TagB", 1);
        assert_eq!(s.codes, [2_598_919, 2_598_920]);
    }

    #[test]
    fn filters_by_tag() {
        let cases = [
            ("*", None, true),
            ("*", Some("x"), true),
            ("TagA || TagB", Some("TagA"), true),
            ("TagA || TagB", Some("TagB"), true),
            ("TagA || TagB", Some("TagC"), false),
            ("TagA || TagB", None, false),
            ("TagA", Some("taga"), false),
        ];
        for (expr, tags, want) in cases {
            assert_eq!(
                Subscription::new("T", expr, 0).matches(tags),
                want,
                "{expr} {tags:?}"
            );
        }
    }

    #[test]
    fn wire_form_and_retry_names() {
        let w = Subscription::new("T", "TagA", 5).to_wire();
        assert_eq!(
            (w.topic.as_str(), w.sub_string.as_str(), w.sub_version),
            ("T", "TagA", 5)
        );
        assert_eq!(w.code_set, [2_598_919]);
        assert!(!w.is_sub_all());
        assert!(Subscription::new("T", "*", 0).to_wire().is_sub_all());
        assert_eq!(retry_topic("g"), "%RETRY%g");
        assert!(is_retry_topic("%RETRY%g") && !is_retry_topic("T"));
    }
}
