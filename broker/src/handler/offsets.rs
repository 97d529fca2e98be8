//! Offsets: the consumer offsets a group commits (QUERY/UPDATE_CONSUMER_OFFSET,
//! 14/15) and a queue's own offsets (GET_MAX/MIN_OFFSET 30/31,
//! SEARCH_OFFSET_BY_TIMESTAMP 29, GET_EARLIEST_MSG_STORETIME 32). Successful
//! answers carry the value as a string ext field, as every client reads it.
//!
//! A slave answers all of them as a master does (RocketMQ checks no role
//! here either): clients commit offsets to a slave while its master is
//! down, and the slave keeps them through its metadata syncs
//! (`crate::offsets::OffsetTable::follow` keeps the larger offset).

use std::rc::Rc;

use bolide_proto::codes::response_code as rsp;
use bolide_proto::header::offset::{
    BoundaryType, GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader, OffsetResponseHeader,
    QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use bolide_proto::RemotingCommand;
use bolide_store::io::Storage;

use super::{bad_request, error, queue_id, store_error, success};
use crate::shard::Shard;

fn offset_response(offset: u64) -> RemotingCommand {
    success().with_header(&OffsetResponseHeader {
        offset: offset as i64,
    })
}

macro_rules! header_or_reply {
    ($req:expr) => {
        match $req.decode_header() {
            Ok(h) => h,
            Err(e) => return bad_request(e),
        }
    };
}

macro_rules! queue_or_reply {
    ($raw:expr) => {
        match queue_id($raw) {
            Ok(q) => q,
            Err(rsp) => return rsp,
        }
    };
}

/// QUERY_CONSUMER_OFFSET. Without a committed offset, a queue that still
/// starts at 0 answers 0 (so a new group reads what is there, as Java does
/// while the start of the queue is still hot) unless the client asked
/// `setZeroIfNotFound=false`; otherwise QUERY_NOT_FOUND.
pub async fn query_consumer_offset<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: QueryConsumerOffsetRequestHeader = header_or_reply!(req);
    let queue = queue_or_reply!(h.queue_id);
    if let Some(offset) = shard
        .shared
        .offsets()
        .query(&h.consumer_group, &h.topic, queue)
    {
        return offset_response(offset);
    }
    if h.set_zero_if_not_found != Some(false) && shard.bounds(&h.topic, queue).await.0 == 0 {
        return offset_response(0);
    }
    error(
        rsp::QUERY_NOT_FOUND,
        "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
    )
}

/// UPDATE_CONSUMER_OFFSET.
pub fn update_consumer_offset<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: UpdateConsumerOffsetRequestHeader = header_or_reply!(req);
    let queue = queue_or_reply!(h.queue_id);
    if h.commit_offset < 0 {
        return error(
            rsp::INVALID_PARAMETER,
            format!("commitOffset {} is negative", h.commit_offset),
        );
    }
    shard
        .shared
        .commit_offset(&h.consumer_group, &h.topic, queue, h.commit_offset as u64);
    let mut response = success();
    // Java answers with an empty header object; keep the same shape.
    response.force_ext_fields = true;
    response
}

pub async fn max_offset<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: GetMaxOffsetRequestHeader = header_or_reply!(req);
    let queue = queue_or_reply!(h.queue_id);
    offset_response(shard.bounds(&h.topic, queue).await.1)
}

pub async fn min_offset<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: GetMinOffsetRequestHeader = header_or_reply!(req);
    let queue = queue_or_reply!(h.queue_id);
    offset_response(shard.bounds(&h.topic, queue).await.0)
}

pub async fn search_by_time<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: SearchOffsetRequestHeader = header_or_reply!(req);
    let queue = queue_or_reply!(h.queue_id);
    let upper = h.boundary_type == Some(BoundaryType::Upper);
    match shard
        .search_by_time(&h.topic, queue, h.timestamp, upper)
        .await
    {
        Ok(offset) => offset_response(offset),
        Err(e) => store_error(e),
    }
}

pub async fn earliest_time<S: Storage>(
    shard: &Rc<Shard<S>>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let h: GetEarliestMsgStoretimeRequestHeader = header_or_reply!(req);
    let queue = queue_or_reply!(h.queue_id);
    match shard.earliest_time(&h.topic, queue).await {
        Ok(Some(timestamp)) => {
            success().with_header(&GetEarliestMsgStoretimeResponseHeader { timestamp })
        }
        Ok(None) => error(
            rsp::SYSTEM_ERROR,
            format!("no message in queue {} of topic {}", queue, h.topic),
        ),
        Err(e) => store_error(e),
    }
}
