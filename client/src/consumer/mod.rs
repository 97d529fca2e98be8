//! Consumers: a push consumer (the client pulls with long polling and calls
//! a listener) and a lite pull consumer (the application polls).
//!
//! ```text
//!  NameServer ──routes──▶ ConsumerClient ◀──NOTIFY_CONSUMER_IDS_CHANGED── broker
//!                            │ heartbeat every 30 s, rebalance every 20 s
//!                            ▼
//!          rebalance: GET_CONSUMER_LIST_BY_GROUP → allocate → diff
//!                            │ per assigned queue
//!                            ▼
//!   pull loop ──PULL_MESSAGE (long poll)──▶ ProcessQueue ──▶ consume loop ──▶ listener
//!                                              │ lowest unacknowledged offset
//!                                              ▼
//!                    Offsets ──UPDATE_CONSUMER_OFFSET every 5 s──▶ broker
//!                            (broadcasting: local file)
//! ```
//!
//! Layers:
//!
//! * pure decisions, table-tested: [`subscription`] (tag expressions and
//!   the client-side tag filter), [`process_queue`] (in-flight messages,
//!   commit-offset math, flow control), [`offset_store`] (the offset table
//!   and its file form), [`rebalance_impl`] (queue diffs, start offsets,
//!   the heartbeat body), [`config`];
//! * the executor-local core, `Rc`-based on one glommio executor:
//!   [`push::LocalPushConsumer`], [`lite_pull::LocalLitePullConsumer`], over
//!   the shared `instance` (routes, links, offsets) and [`broker_client`]
//!   (typed requests);
//! * the facade for plain threads and other runtimes, over
//!   [`crate::runtime::ClientRuntime`]: [`facade::PushConsumer`] and
//!   [`facade::LitePullConsumer`].
//!
//! Delivery is at least once: offsets only advance past acknowledged
//! messages, so a crash or a rebalance hand-off may redeliver the in-flight
//! window, never skip a message.

pub mod broker_client;
pub mod config;
pub mod facade;
mod instance;
pub mod lite_pull;
pub mod offset_store;
pub mod process_queue;
pub mod push;
pub mod rebalance_impl;
pub mod subscription;

pub use bolide_proto::body::MessageModel;
pub use config::{ConsumeFrom, ConsumerConfig, LocalOffsets};
pub use facade::{LitePullConsumer, PushConsumer, PushConsumerBuilder, PushConsumerHandle};
pub use lite_pull::LocalLitePullConsumer;
pub use push::{Listener, LocalPushConsumer};

use crate::error::ClientError;
use crate::route::MessageQueue;
use crate::runtime::Canceled;

/// What a listener reports for a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeStatus {
    /// Consumed: the offset may advance past the batch.
    Success,
    /// Not consumed: concurrently, each message goes back to the broker
    /// (`%RETRY%<group>`); orderly, the batch is retried in place.
    ReconsumeLater,
}

/// Why a consumer operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("invalid consumer config: {key}: {reason}")]
    Config { key: &'static str, reason: String },
    #[error("no route for topic {0}")]
    NoRoute(String),
    #[error("broker {0} is in no known route")]
    UnknownBroker(String),
    #[error("queue {0} is not assigned to this consumer")]
    NotAssigned(MessageQueue),
    #[error("offsets file: {0}")]
    OffsetFile(std::io::Error),
    #[error("consumer is shut down")]
    Shutdown,
}

impl From<Canceled> for ConsumerError {
    fn from(_: Canceled) -> Self {
        ConsumerError::Shutdown
    }
}
