//! Queue-set bodies, remoting.md §4.9: [`MessageQueue`] and the orderly
//! consumer's LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42) request and
//! response bodies.

use serde::{Deserialize, Serialize};

use crate::body::lenient;
use crate::body::JsonBody;

/// One queue of a topic on a broker: `{"brokerName":…,"queueId":N,"topic":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    pub broker_name: String,
    #[serde(deserialize_with = "lenient::int")]
    pub queue_id: i32,
    pub topic: String,
}

/// LOCK_BATCH_MQ request (C++ omits `onlyThisBroker`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    pub client_id: String,
    pub consumer_group: String,
    #[serde(deserialize_with = "lenient::null_default")]
    pub mq_set: Vec<MessageQueue>,
    #[serde(deserialize_with = "lenient::boolean")]
    pub only_this_broker: bool,
}

impl JsonBody for LockBatchRequestBody {
    const WHAT: &'static str = "lock batch body";
}

/// LOCK_BATCH_MQ response: the queues now locked by the requester.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet", deserialize_with = "lenient::null_default")]
    pub lock_ok_mq_set: Vec<MessageQueue>,
}

impl JsonBody for LockBatchResponseBody {
    const WHAT: &'static str = "lock batch response body";
}

/// UNLOCK_BATCH_MQ request (same shape as the lock request).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnlockBatchRequestBody {
    pub client_id: String,
    pub consumer_group: String,
    #[serde(deserialize_with = "lenient::null_default")]
    pub mq_set: Vec<MessageQueue>,
    #[serde(deserialize_with = "lenient::boolean")]
    pub only_this_broker: bool,
}

impl JsonBody for UnlockBatchRequestBody {
    const WHAT: &'static str = "unlock batch body";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_request_shapes() {
        let java = r#"{"clientId":"c","consumerGroup":"g","mqSet":[{"brokerName":"b","queueId":0,"topic":"T"}],"onlyThisBroker":false}"#;
        let cpp = "{\"clientId\":\"c\",\"consumerGroup\":\"g\",\"mqSet\":[{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}]}\n";
        let a = LockBatchRequestBody::decode(java.as_bytes()).unwrap();
        let b = LockBatchRequestBody::decode(cpp.as_bytes()).unwrap();
        assert_eq!(a, b);
        assert_eq!(String::from_utf8(a.encode()).unwrap(), java);
        let unlock = UnlockBatchRequestBody::decode(java.as_bytes()).unwrap();
        assert_eq!(unlock.mq_set, a.mq_set);
    }

    #[test]
    fn lock_response_name() {
        let body = LockBatchResponseBody {
            lock_ok_mq_set: vec![MessageQueue {
                broker_name: "b".into(),
                queue_id: 3,
                topic: "T".into(),
            }],
        };
        let text = String::from_utf8(body.encode()).unwrap();
        assert_eq!(
            text,
            r#"{"lockOKMQSet":[{"brokerName":"b","queueId":3,"topic":"T"}]}"#
        );
        assert_eq!(
            LockBatchResponseBody::decode(text.as_bytes()).unwrap(),
            body
        );
    }
}
