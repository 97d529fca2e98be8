//! Offset tables a slave copies from its master (remoting.md §4.11):
//! [`ConsumerOffsetWrapper`] answers GET_ALL_CONSUMER_OFFSET (43) and
//! [`DelayOffsetWrapper`] answers GET_ALL_DELAY_OFFSET (45), shaped as
//! Java's `ConsumerOffsetSerializeWrapper` and `DelayOffsetSerializeWrapper`
//! (the bodies Java's `ConsumerOffsetManager.encode` and
//! `ScheduleMessageService.encode` produce):
//!
//! ```text
//! {"dataVersion":{"counter":0,"stateVersion":0,"timestamp":1700000000000},
//!  "offsetTable":{"TopicTest@CG":{"0":12,"1":5}}}
//! {"dataVersion":{…},"offsetTable":{"1":123,"3":7}}     (delay level → offset)
//! ```
//!
//! Java's fastjson writes the integer keys unquoted (`{0:12}`); Bolide
//! writes them quoted, which fastjson reads back as the same `Integer`
//! keys and every standard JSON parser reads at all. Decoding accepts both
//! ([`crate::json::quote_numeric_keys`]). Members Java adds that Bolide
//! does not keep (`pullOffsetTable`, `resetOffsetTable`) are ignored, and
//! `dataVersion` may be absent (Java 4.x leaves it out of the delay body).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::body::lenient;
use crate::body::{decode_json, DataVersion, JsonBody};
use crate::error::Result;
use crate::json::quote_numeric_keys;

/// Every group's committed offsets: `topic@group` → queue id → offset.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerOffsetWrapper {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_version: Option<DataVersion>,
    #[serde(deserialize_with = "lenient::null_default")]
    pub offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

impl JsonBody for ConsumerOffsetWrapper {
    const WHAT: &'static str = "consumer offset wrapper";

    /// Either key form (module docs).
    fn decode(bytes: &[u8]) -> Result<Self> {
        decode_json(Self::WHAT, &quote_numeric_keys(bytes))
    }
}

/// Delivery progress of every delay level: level (1-based) → the next
/// offset of the level's `SCHEDULE_TOPIC_XXXX` queue to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DelayOffsetWrapper {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_version: Option<DataVersion>,
    #[serde(deserialize_with = "lenient::null_default")]
    pub offset_table: BTreeMap<i32, i64>,
}

impl JsonBody for DelayOffsetWrapper {
    const WHAT: &'static str = "delay offset wrapper";

    /// Either key form (module docs).
    fn decode(bytes: &[u8]) -> Result<Self> {
        decode_json(Self::WHAT, &quote_numeric_keys(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version() -> DataVersion {
        DataVersion {
            counter: 3,
            state_version: 0,
            timestamp: 1_700_000_000_000,
        }
    }

    #[test]
    fn consumer_offsets_golden() {
        let mut w = ConsumerOffsetWrapper {
            data_version: Some(version()),
            ..Default::default()
        };
        w.offset_table
            .insert("TopicTest@CG".into(), [(0, 12), (1, 5)].into());
        let want = concat!(
            r#"{"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1700000000000},"#,
            r#""offsetTable":{"TopicTest@CG":{"0":12,"1":5}}}"#
        );
        assert_eq!(String::from_utf8(w.encode()).unwrap(), want);
        assert_eq!(ConsumerOffsetWrapper::decode(want.as_bytes()).unwrap(), w);
    }

    /// What a Java 5.x master answers: fastjson's unquoted keys, tables
    /// Bolide does not keep, keys in any order.
    #[test]
    fn consumer_offsets_from_java() {
        let java = concat!(
            r#"{"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1700000000000},"#,
            r#""offsetTable":{"TopicTest@CG":{0:12,1:5},"%RETRY%CG@CG":{0:0}},"#,
            r#""pullOffsetTable":{"TopicTest@CG":{0:13}},"resetOffsetTable":{}}"#,
            "\n"
        );
        let w = ConsumerOffsetWrapper::decode(java.as_bytes()).unwrap();
        assert_eq!(w.data_version, Some(version()));
        assert_eq!(w.offset_table["TopicTest@CG"], [(0, 12), (1, 5)].into());
        assert_eq!(w.offset_table["%RETRY%CG@CG"], [(0, 0)].into());
        assert_eq!(w.offset_table.len(), 2);
    }

    #[test]
    fn delay_offsets_golden() {
        let w = DelayOffsetWrapper {
            data_version: None,
            offset_table: [(1, 123), (3, 7)].into(),
        };
        let want = r#"{"offsetTable":{"1":123,"3":7}}"#;
        assert_eq!(String::from_utf8(w.encode()).unwrap(), want);
        assert_eq!(DelayOffsetWrapper::decode(want.as_bytes()).unwrap(), w);
        let java = br#"{"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1700000000000},"offsetTable":{1:123,3:7}}"#;
        let back = DelayOffsetWrapper::decode(java).unwrap();
        assert_eq!(back.offset_table, w.offset_table);
        assert_eq!(back.data_version, Some(version()));
    }

    #[test]
    fn empty_and_null_tables_decode_empty() {
        for body in [&b"{}"[..], br#"{"offsetTable":null}"#] {
            assert!(ConsumerOffsetWrapper::decode(body)
                .unwrap()
                .offset_table
                .is_empty());
            assert!(DelayOffsetWrapper::decode(body)
                .unwrap()
                .offset_table
                .is_empty());
        }
    }

    #[test]
    fn bad_bodies_are_errors_that_name_the_body() {
        let cases: [&[u8]; 6] = [
            b"",
            b"{oops",
            br#"{"offsetTable":{"T@g":{"x":1}}}"#,
            br#"{"offsetTable":{"T@g":{"0":"12"}}}"#,
            br#"{"offsetTable":{"T@g":{99999999999:1}}}"#,
            br#"{"offsetTable":[1,2]}"#,
        ];
        for body in cases {
            let err = ConsumerOffsetWrapper::decode(body).unwrap_err().to_string();
            assert!(err.contains("consumer offset wrapper"), "{err}");
        }
        let err = DelayOffsetWrapper::decode(br#"{"offsetTable":{"a":1}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("delay offset wrapper"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = ConsumerOffsetWrapper::decode(&bytes);
            let _ = DelayOffsetWrapper::decode(&bytes);
        }

        #[test]
        fn consumer_offsets_round_trip(
            table in proptest::collection::btree_map(
                "[A-Za-z%@_-]{1,12}",
                proptest::collection::btree_map(0i32..64, 0i64..i64::MAX, 0..4),
                0..4,
            )
        ) {
            let w = ConsumerOffsetWrapper { data_version: None, offset_table: table };
            proptest::prop_assert_eq!(ConsumerOffsetWrapper::decode(&w.encode()).unwrap(), w);
        }
    }
}
