//! Tag filtering of pulls (remoting.md §6.5): a subscription expression
//! (`*`, or tags joined by `||`) becomes a set of tag hash codes matched
//! against consume-queue units, so filtering never reads the commit log.
//! Hash collisions pass the filter; clients drop them after decoding, as
//! they do with the Java broker.

use std::collections::BTreeSet;

use bolide_proto::tags::java_string_hash;

/// A parsed tag subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// `*` or empty: everything.
    All,
    /// Only these tags (and their hash codes).
    Tags {
        tags: BTreeSet<String>,
        codes: BTreeSet<i64>,
    },
}

impl TagFilter {
    /// Parses a tag expression (`*`, empty, or tags joined by `||`).
    pub fn parse(expression: &str) -> Self {
        let expression = expression.trim();
        if expression.is_empty() || expression == "*" {
            return TagFilter::All;
        }
        let tags: BTreeSet<String> = expression
            .split("||")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        if tags.is_empty() {
            return TagFilter::All;
        }
        let codes = tags.iter().map(|t| java_string_hash(t) as i64).collect();
        TagFilter::Tags { tags, codes }
    }

    /// Whether a consume-queue unit with `tags_code` passes.
    pub fn matches(&self, tags_code: i64) -> bool {
        match self {
            TagFilter::All => true,
            // Java compares the int-narrowed code (`codeSet.contains((int) tagsCode)`).
            TagFilter::Tags { codes, .. } => codes.contains(&(tags_code as i32 as i64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolide_proto::tags::tags_code;

    #[test]
    fn star_and_empty_match_everything() {
        for e in ["", "*", "  *  ", "||"] {
            let f = TagFilter::parse(e);
            assert!(f.matches(0) && f.matches(12345), "{e:?}");
        }
    }

    #[test]
    fn tag_lists_match_only_their_tags() {
        let f = TagFilter::parse("TagA || TagB");
        assert!(f.matches(tags_code(Some("TagA"))));
        assert!(f.matches(tags_code(Some("TagB"))));
        assert!(!f.matches(tags_code(Some("TagC"))));
        assert!(!f.matches(0), "untagged messages do not match a tag list");
    }
}
