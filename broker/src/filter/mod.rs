//! Subscription filters of pulls and long-poll wake-ups. A subscription's
//! expression type picks one:
//!
//! * [`tag`] — `TAG` (the default): tag hash codes matched against
//!   consume-queue units, without reading the commit log;
//! * [`sql92`] — `SQL92`: an expression over the message's properties,
//!   evaluated on each record (RocketMQ's `enablePropertyFilter`, off by
//!   default: `broker.enable_property_filter`).
//!
//! Either way a message that does not pass is skipped and the next offset
//! still moves past it. A [`MessageFilter`] is compiled once per
//! subscription version (`crate::groups`) and shared by the pulls it serves.

pub mod sql92;
pub mod tag;

use std::sync::Arc;

use bolide_proto::message::Properties;

pub use sql92::Sql92;
pub use tag::TagFilter;

/// Expression type of a tag subscription (also the default).
pub const EXPRESSION_TAG: &str = "TAG";
/// Expression type of a property subscription.
pub const EXPRESSION_SQL92: &str = "SQL92";

/// Why an expression was refused (the remark of the refusal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

/// A compiled subscription expression.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageFilter {
    Tags(TagFilter),
    /// Shared: one compilation serves every pull of the subscription, on
    /// any shard.
    Sql92(Arc<Sql92>),
}

/// Whether `expression_type` names SQL92 (RocketMQ compares exactly;
/// case is ignored here as it is for `TAG`).
pub fn is_sql92(expression_type: Option<&str>) -> bool {
    expression_type.is_some_and(|t| t.trim().eq_ignore_ascii_case(EXPRESSION_SQL92))
}

impl MessageFilter {
    /// Everything passes.
    pub const ALL: MessageFilter = MessageFilter::Tags(TagFilter::All);

    /// Compiles a subscription of `expression_type` (`None` or empty = TAG).
    pub fn parse(expression: &str, expression_type: Option<&str>) -> Result<Self, FilterError> {
        match expression_type.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(Self::Tags(TagFilter::parse(expression))),
            Some(t) if t.eq_ignore_ascii_case(EXPRESSION_TAG) => {
                Ok(Self::Tags(TagFilter::parse(expression)))
            }
            Some(t) if t.eq_ignore_ascii_case(EXPRESSION_SQL92) => Sql92::compile(expression)
                .map(|sql| Self::Sql92(Arc::new(sql)))
                .map_err(|e| FilterError(e.to_string())),
            Some(other) => Err(FilterError(format!(
                "expression type {other} is not supported; use TAG or SQL92"
            ))),
        }
    }

    pub fn is_sql92(&self) -> bool {
        matches!(self, Self::Sql92(_))
    }

    /// The tag codes a consume-queue unit must carry; `None`: any.
    pub fn tag_codes(&self) -> Option<Vec<i64>> {
        match self {
            Self::Tags(TagFilter::Tags { codes, .. }) => Some(codes.iter().copied().collect()),
            Self::Tags(TagFilter::All) | Self::Sql92(_) => None,
        }
    }

    /// Whether a message passes: its consume-queue unit's tags code and
    /// its properties (the properties matter only to SQL92).
    pub fn matches(&self, tags_code: i64, properties: &str) -> bool {
        match self {
            Self::Tags(tags) => tags.matches(tags_code),
            Self::Sql92(_) => self.matches_properties(properties),
        }
    }

    /// Whether a message's properties pass (always, for a tag filter).
    pub fn matches_properties(&self, properties: &str) -> bool {
        match self {
            Self::Tags(_) => true,
            Self::Sql92(sql) => sql.matches(&Properties(properties)),
        }
    }

    /// Whether a pull must read each record to decide (SQL92 only).
    pub fn reads_records(&self) -> bool {
        self.is_sql92()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolide_proto::message::PropertiesBuilder;
    use bolide_proto::tags::tags_code;

    #[test]
    fn expression_types_pick_the_filter() {
        let tags = MessageFilter::parse("TagA", Some("tag")).unwrap();
        assert_eq!(tags.tag_codes(), Some(vec![tags_code(Some("TagA"))]));
        assert!(!tags.reads_records());
        assert_eq!(MessageFilter::parse("*", None).unwrap(), MessageFilter::ALL);
        let sql = MessageFilter::parse("a > 1", Some("SQL92")).unwrap();
        assert!(sql.reads_records() && sql.tag_codes().is_none());
        let why = MessageFilter::parse("a >", Some("SQL92")).unwrap_err();
        assert!(why.0.contains("column 4"), "{why:?}");
        let why = MessageFilter::parse("a", Some("CLASS")).unwrap_err();
        assert!(why.0.contains("CLASS"), "{why:?}");
        assert!(is_sql92(Some("sql92")) && !is_sql92(Some("TAG")) && !is_sql92(None));
    }

    #[test]
    fn sql92_reads_properties_and_tags() {
        let mut props = PropertiesBuilder::new();
        props.set("TAGS", "TagA").unwrap();
        props.set("a", "5").unwrap();
        let props = props.build();
        let sql = |e: &str| MessageFilter::parse(e, Some("SQL92")).unwrap();
        assert!(sql("a > 1 AND TAGS = 'TagA'").matches(0, &props));
        assert!(!sql("a > 5").matches(0, &props));
        assert!(
            !sql("b > 1").matches(0, &props),
            "missing: unknown, no match"
        );
        let tag = MessageFilter::parse("TagA", None).unwrap();
        assert!(tag.matches(tags_code(Some("TagA")), ""));
    }
}
