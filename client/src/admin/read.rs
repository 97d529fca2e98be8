//! Reading messages for `bolide-admin`: read-only pulls from a queue
//! (`consumeMessage`, `printMsg`, `queryMsgByOffset`) and the lookup of a
//! message by whichever id the producer printed (`queryMsgById`).
//!
//! The pulls carry no commit flag and no suspend flag: nothing is committed
//! for the tools' group and an empty queue answers at once.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use bolide_proto::codes::{pull_sys_flag, request_code as req, response_code as rsp};
use bolide_proto::header::pull::{PullMessageRequestHeader, PullMessageResponseHeader};
use bolide_proto::msgid::OffsetMsgId;

use super::{read_addr, refused, request, wire_queue_id, Admin};
use crate::error::ClientError;
use crate::message::{invalid, MessageExt};
use crate::route::{parse_addr, subscribe_queues, MessageQueue};

/// What one read-only pull got.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The messages found (none at the end of the queue).
    pub messages: Vec<MessageExt>,
    /// Where the next pull starts.
    pub next_offset: i64,
}

impl Admin {
    /// The readable queues of `topic` with the address each is read from.
    pub async fn read_queues(
        &self,
        topic: &str,
    ) -> Result<Vec<(MessageQueue, SocketAddr)>, ClientError> {
        let route = self.topic_route(topic).await?;
        subscribe_queues(topic, &route)
            .into_iter()
            .map(|queue| Ok((queue.clone(), read_addr(&route, &queue)?)))
            .collect()
    }

    /// `(min, max)` offsets of `queue` on `addr`.
    pub async fn queue_offsets(
        &self,
        addr: SocketAddr,
        queue: &MessageQueue,
    ) -> Result<(i64, i64), ClientError> {
        Ok((
            self.min_offset(addr, queue).await?,
            self.max_offset(addr, queue).await?,
        ))
    }

    /// Up to `max` messages of `queue` from `offset` whose tags match
    /// `expression` (`*` or `a || b`), pulled as `group`.
    pub async fn pull(
        &self,
        addr: SocketAddr,
        group: &str,
        queue: &MessageQueue,
        offset: i64,
        max: i32,
        expression: &str,
    ) -> Result<Pulled, ClientError> {
        let header = PullMessageRequestHeader {
            consumer_group: group.to_owned(),
            topic: queue.topic.clone(),
            queue_id: wire_queue_id(queue),
            queue_offset: offset,
            max_msg_nums: max,
            sys_flag: pull_sys_flag::SUBSCRIPTION,
            subscription: Some(expression.to_owned()),
            ..PullMessageRequestHeader::default()
        };
        let response = self
            .invoke(addr, request(req::PULL_MESSAGE).with_header(&header))
            .await?;
        let next = |r: &bolide_proto::RemotingCommand| {
            r.decode_header::<PullMessageResponseHeader>()
                .map(|h| h.next_begin_offset)
        };
        match response.code {
            rsp::SUCCESS => Ok(Pulled {
                next_offset: next(&response)?,
                messages: MessageExt::decode_all(&response.body)?,
            }),
            rsp::PULL_NOT_FOUND | rsp::PULL_RETRY_IMMEDIATELY | rsp::PULL_OFFSET_MOVED => {
                Ok(Pulled {
                    next_offset: next(&response)?,
                    messages: Vec::new(),
                })
            }
            code => Err(refused(addr, code, response)),
        }
    }

    /// The message at `offset` of `queue`; an error if there is none.
    pub async fn message_at(
        &self,
        group: &str,
        queue: &MessageQueue,
        offset: i64,
    ) -> Result<MessageExt, ClientError> {
        let (_, addr) = self
            .read_queues(&queue.topic)
            .await?
            .into_iter()
            .find(|(q, _)| q == queue)
            .ok_or_else(|| invalid(format!("no readable queue {queue}")))?;
        let pulled = self.pull(addr, group, queue, offset, 1, "*").await?;
        pulled
            .messages
            .into_iter()
            .find(|m| i64::try_from(m.queue_offset.0) == Ok(offset))
            .ok_or_else(|| invalid(format!("no message at offset {offset} of {queue}")))
    }

    /// The message(s) with id `id`, as mqadmin's `queryMsgById` finds them:
    /// an offset message id naming a broker of the cluster is read from
    /// that broker; anything else is taken as the producer's `UNIQ_KEY`
    /// (both ids are 32 hex digits, so the decode alone cannot tell) and
    /// looked up in `topic`, or without one in every topic.
    pub async fn find_message(
        &self,
        id: &str,
        topic: Option<&str>,
    ) -> Result<Vec<MessageExt>, ClientError> {
        let id = id.trim();
        if let Ok(offset_id) = OffsetMsgId::decode(id) {
            if self.known_brokers().await?.contains(&offset_id.store_host) {
                return Ok(vec![self.view_message(id).await?]);
            }
        }
        let topics = match topic {
            Some(t) => vec![t.to_owned()],
            None => self.topic_list().await?,
        };
        let mut found = Vec::new();
        for topic in &topics {
            match self.query_by_key(topic, id).await {
                Ok(messages) => found.extend(messages.into_iter().filter(|m| m.msg_id == id)),
                // A topic listed but without a route (being deleted, or a
                // broker-local system topic) holds nothing to find.
                Err(ClientError::Response { .. }) if topics.len() > 1 => {}
                Err(e) => return Err(e),
            }
        }
        if found.is_empty() {
            return Err(ClientError::Invalid {
                what: "message id",
                detail: format!("no message with id {id}"),
            });
        }
        Ok(found)
    }

    /// Every broker address the NameServer lists, masters and slaves.
    async fn known_brokers(&self) -> Result<BTreeSet<SocketAddr>, ClientError> {
        let info = self.cluster_info().await?;
        info.broker_addr_table
            .values()
            .flat_map(|b| b.broker_addrs.values())
            .map(|a| parse_addr(a))
            .collect()
    }
}
