//! The operations one shard asks of another, one struct each, with the
//! reply it gets back (see [`ShardRequest`]); and the typed methods the
//! handlers use, which find the owner and make the call.
//!
//! | request | runs on | reply |
//! |---|---|---|
//! | [`Append`] | queue owner | `Result<Vec<AppendResult>, StoreError>` |
//! | [`SendMessages`] | queue owner | `Result<Sent, StoreError>` |
//! | [`Get`] | queue owner (may park there) | `Result<GetResult, StoreError>` |
//! | [`Bounds`] | queue owner | `(min, max)`, `(0, 0)` when none |
//! | [`SearchByTime`] | queue owner | `Result<u64, StoreError>` |
//! | [`EarliestTime`] | queue owner | `Result<Option<i64>, StoreError>` |
//! | [`ReadRecord`] | shard of the offset | `Result<Vec<u8>, StoreError>` |
//! | [`QueryByKey`] | every shard in turn | `Result<Vec<Vec<u8>>, StoreError>` |
//! | [`Notify`] | shard of the connection | `()` |
//! | [`Invoke`] | shard of the connection | `Result<RemotingCommand, ClientCallError>` |

use std::rc::Rc;
use std::time::Duration;

use bolide_proto::ids::{PhysicalOffset, ShardId};
use bolide_proto::message::NewMessage;
use bolide_proto::RemotingCommand;
use bolide_store::io::Storage;
use bolide_store::store::{AppendResult, GetResult};
use bolide_store::StoreError;

use super::call::ShardRequest;
use super::{ClientCallError, Sent, Shard};
use crate::filter::MessageFilter;

/// Appends records as they are (no replication wait).
#[derive(Debug)]
pub struct Append(pub Vec<NewMessage>);

/// A client's send: an append that a sync master answers once a slave
/// holds it too.
#[derive(Debug)]
pub struct SendMessages(pub Vec<NewMessage>);

/// A pull, long-polled on the owner when `hold_ms` > 0.
#[derive(Debug, Clone)]
pub struct Get {
    pub topic: String,
    pub queue: u32,
    pub offset: u64,
    pub max_count: u32,
    pub max_bytes: u32,
    pub filter: MessageFilter,
    /// Long-poll hold time; 0 answers at once.
    pub hold_ms: u64,
}

/// A queue's `(min, max)` offsets.
#[derive(Debug)]
pub struct Bounds {
    pub topic: String,
    pub queue: u32,
}

/// The offset of a queue's first (or, `upper`, last) message stored at or
/// after `timestamp_ms`.
#[derive(Debug)]
pub struct SearchByTime {
    pub topic: String,
    pub queue: u32,
    pub timestamp_ms: i64,
    pub upper: bool,
}

/// The store time of a queue's first message.
#[derive(Debug)]
pub struct EarliestTime {
    pub topic: String,
    pub queue: u32,
}

/// One record's bytes, by its physical offset in the owner's log.
#[derive(Debug)]
pub struct ReadRecord(pub PhysicalOffset);

/// Records with `key` stored between `begin_ms` and `end_ms`, at most `max`.
#[derive(Debug)]
pub struct QueryByKey {
    pub topic: String,
    pub key: String,
    pub begin_ms: i64,
    pub end_ms: i64,
    pub max: usize,
}

/// A oneway request to a client connection the shard holds.
#[derive(Debug)]
pub struct Notify {
    pub conn_id: u64,
    pub command: RemotingCommand,
}

/// A request to a client connection the shard holds, answered within
/// `timeout`.
#[derive(Debug)]
pub struct Invoke {
    pub conn_id: u64,
    pub command: RemotingCommand,
    pub timeout: Duration,
}

impl ShardRequest for Append {
    type Reply = Result<Vec<AppendResult>, StoreError>;
    async fn execute<S: Storage>(self, shard: &Rc<Shard<S>>) -> Self::Reply {
        shard.store().append_batch(&self.0).await
    }
    fn unreachable(why: String) -> Self::Reply {
        Err(StoreError::Unavailable(why))
    }
}

impl ShardRequest for SendMessages {
    type Reply = Result<Sent, StoreError>;
    async fn execute<S: Storage>(self, shard: &Rc<Shard<S>>) -> Self::Reply {
        shard.send_here(&self.0).await
    }
    fn unreachable(why: String) -> Self::Reply {
        Err(StoreError::Unavailable(why))
    }
}

impl ShardRequest for Get {
    type Reply = Result<GetResult, StoreError>;
    async fn execute<S: Storage>(self, shard: &Rc<Shard<S>>) -> Self::Reply {
        shard.get_here(self).await
    }
    fn unreachable(why: String) -> Self::Reply {
        Err(StoreError::Unavailable(why))
    }
}

impl ShardRequest for Bounds {
    type Reply = (u64, u64);
    async fn execute<S: Storage>(self, shard: &Rc<Shard<S>>) -> Self::Reply {
        let bounds = shard.store().queue_bounds(&self.topic, self.queue);
        bounds.unwrap_or((0, 0))
    }
    fn unreachable(_why: String) -> Self::Reply {
        (0, 0)
    }
}

impl ShardRequest for SearchByTime {
    type Reply = Result<u64, StoreError>;
    async fn execute<S: Storage>(self, shard: &Rc<Shard<S>>) -> Self::Reply {
        let SearchByTime {
            topic,
            queue,
            timestamp_ms,
            upper,
        } = self;
        let store = shard.store();
        store
            .search_offset_by_time(&topic, queue, timestamp_ms, upper)
            .await
    }
    fn unreachable(why: String) -> Self::Reply {
        Err(StoreError::Unavailable(why))
    }
}

impl ShardRequest for EarliestTime {
    type Reply = Result<Option<i64>, StoreError>;
    async fn execute<S: Storage>(self, shard: &Rc<Shard<S>>) -> Self::Reply {
        let store = shard.store();
        store.earliest_store_time(&self.topic, self.queue).await
    }
    fn unreachable(why: String) -> Self::Reply {
        Err(StoreError::Unavailable(why))
    }
}

impl ShardRequest for ReadRecord {
    type Reply = Result<Vec<u8>, StoreError>;
    async fn execute<S: Storage>(self, shard: &Rc<Shard<S>>) -> Self::Reply {
        shard.store().read_record(self.0).await
    }
    fn unreachable(why: String) -> Self::Reply {
        Err(StoreError::Unavailable(why))
    }
}

impl ShardRequest for QueryByKey {
    type Reply = Result<Vec<Vec<u8>>, StoreError>;
    async fn execute<S: Storage>(self, shard: &Rc<Shard<S>>) -> Self::Reply {
        let QueryByKey {
            topic,
            key,
            begin_ms,
            end_ms,
            max,
        } = self;
        let store = shard.store();
        store
            .query_by_key(&topic, &key, begin_ms, end_ms, max)
            .await
    }
    fn unreachable(why: String) -> Self::Reply {
        Err(StoreError::Unavailable(why))
    }
}

impl ShardRequest for Notify {
    type Reply = ();
    async fn execute<S: Storage>(self, shard: &Rc<Shard<S>>) -> Self::Reply {
        let conn = shard.connection(self.conn_id);
        if let Some(conn) = conn {
            let _ = conn.invoke_oneway(self.command).await;
        }
    }
    fn unreachable(_why: String) -> Self::Reply {}
}

impl ShardRequest for Invoke {
    type Reply = Result<RemotingCommand, ClientCallError>;
    async fn execute<S: Storage>(self, shard: &Rc<Shard<S>>) -> Self::Reply {
        shard
            .invoke_here(self.conn_id, self.command, self.timeout)
            .await
    }
    fn unreachable(why: String) -> Self::Reply {
        Err(ClientCallError::Failed(why))
    }
}

// The typed calls the handlers make: each finds the owner and calls it.
impl<S: Storage> Shard<S> {
    /// A client's send, stored on `owner` (see [`SendMessages`]).
    pub async fn send(
        self: &Rc<Self>,
        owner: ShardId,
        msgs: Vec<NewMessage>,
    ) -> Result<Sent, StoreError> {
        self.call(owner, SendMessages(msgs)).await
    }

    pub async fn append(
        self: &Rc<Self>,
        owner: ShardId,
        msgs: Vec<NewMessage>,
    ) -> Result<Vec<AppendResult>, StoreError> {
        self.call(owner, Append(msgs)).await
    }

    pub async fn get_messages(self: &Rc<Self>, get: Get) -> Result<GetResult, StoreError> {
        self.call(self.owner(&get.topic, get.queue), get).await
    }

    /// `(min, max)` offsets of a queue; `(0, 0)` when it has none.
    pub async fn bounds(self: &Rc<Self>, topic: &str, queue: u32) -> (u64, u64) {
        let topic = topic.to_owned();
        self.call(self.owner(&topic, queue), Bounds { topic, queue })
            .await
    }

    pub async fn search_by_time(
        self: &Rc<Self>,
        topic: &str,
        queue: u32,
        timestamp_ms: i64,
        upper: bool,
    ) -> Result<u64, StoreError> {
        let search = SearchByTime {
            topic: topic.to_owned(),
            queue,
            timestamp_ms,
            upper,
        };
        self.call(self.owner(topic, queue), search).await
    }

    pub async fn earliest_time(
        self: &Rc<Self>,
        topic: &str,
        queue: u32,
    ) -> Result<Option<i64>, StoreError> {
        let topic = topic.to_owned();
        self.call(self.owner(&topic, queue), EarliestTime { topic, queue })
            .await
    }

    /// The record at `offset` in shard `shard`'s log.
    pub async fn read_record(
        self: &Rc<Self>,
        shard: ShardId,
        offset: PhysicalOffset,
    ) -> Result<Vec<u8>, StoreError> {
        self.call(shard, ReadRecord(offset)).await
    }

    /// Messages with `key` from every shard, newest first per shard.
    pub async fn query_by_key(
        self: &Rc<Self>,
        topic: &str,
        key: &str,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut all = Vec::new();
        for shard in 0..self.shard_count {
            let query = QueryByKey {
                topic: topic.to_owned(),
                key: key.to_owned(),
                begin_ms,
                end_ms,
                max,
            };
            all.extend(self.call(ShardId(shard), query).await?);
            if all.len() >= max {
                break;
            }
        }
        all.truncate(max);
        Ok(all)
    }

    /// Sends a request to a client connection on any shard and waits (at
    /// most `timeout`) for the client's answer.
    pub async fn invoke_client(
        self: &Rc<Self>,
        conn: crate::groups::ConnRef,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientCallError> {
        let invoke = Invoke {
            conn_id: conn.conn_id,
            command,
            timeout,
        };
        self.call(ShardId(conn.shard), invoke).await
    }

    /// Sends a oneway request to a client connection on any shard.
    pub async fn notify(self: &Rc<Self>, shard: u16, conn_id: u64, command: RemotingCommand) {
        self.call(ShardId(shard), Notify { conn_id, command }).await
    }
}
