//! Consumer and producer connections, consume and topic statistics and
//! offset resets for `bolide-admin`: GET_CONSUMER_CONNECTION_LIST (203),
//! GET_PRODUCER_CONNECTION_LIST (204), GET_CONSUME_STATS (208),
//! GET_TOPIC_STATS_INFO (202), QUERY_TOPIC_CONSUME_BY_WHO (300) and
//! INVOKE_BROKER_TO_RESET_OFFSET (222). A broker's refusal (unknown group
//! or topic, group not online) comes back as [`ClientError::Response`]
//! with the broker's remark.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use bolide_proto::body::admin::{GroupList, TopicStatsTable};
use bolide_proto::body::consumer_admin::{
    ConsumeStats, ConsumerConnection, ProducerConnection, ResetOffsetBody,
};
use bolide_proto::body::JsonBody;
use bolide_proto::codes::request_code as req;
use bolide_proto::header::admin::{
    GetConsumeStatsRequestHeader, GetConsumerConnectionListRequestHeader,
    GetProducerConnectionListRequestHeader, ResetOffsetRequestHeader,
};
use bolide_proto::RemotingCommand;

use super::{request, Admin};
use crate::error::ClientError;
use crate::route::parse_addr;

impl Admin {
    /// The masters of `topic`'s route, in the route's order.
    pub async fn topic_masters(&self, topic: &str) -> Result<Vec<SocketAddr>, ClientError> {
        let route = self.topic_route(topic).await?;
        route
            .broker_datas
            .iter()
            .filter_map(|b| b.master_addr())
            .map(parse_addr)
            .collect()
    }

    /// Every master of every cluster.
    async fn all_masters(&self) -> Result<Vec<SocketAddr>, ClientError> {
        let info = self.cluster_info().await?;
        let mut masters: Vec<SocketAddr> = info
            .broker_addr_table
            .values()
            .filter_map(|b| b.master_addr())
            .map(parse_addr)
            .collect::<Result<_, _>>()?;
        masters.sort();
        Ok(masters)
    }

    /// Sends `cmd` to each of `brokers` until one answers SUCCESS; the
    /// last refusal (with its remark) when none does.
    async fn first_success(
        &self,
        brokers: &[SocketAddr],
        cmd: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        let mut last = ClientError::Invalid {
            what: "cluster",
            detail: "no master broker to ask".to_owned(),
        };
        for &broker in brokers {
            match self.broker_success(broker, cmd.clone()).await {
                Ok(response) => return Ok(response),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// `group`'s online consumers, from the first master that has them
    /// (consumers heartbeat to every master; mqadmin asks one broker).
    pub async fn consumer_connection(
        &self,
        group: &str,
    ) -> Result<ConsumerConnection, ClientError> {
        let header = GetConsumerConnectionListRequestHeader {
            consumer_group: group.to_owned(),
        };
        let cmd = request(req::GET_CONSUMER_CONNECTION_LIST).with_header(&header);
        let response = self.first_success(&self.all_masters().await?, cmd).await?;
        Ok(ConsumerConnection::decode(&response.body)?)
    }

    /// `group`'s online producers, from the first master of `topic` that
    /// has them (as mqadmin's `examineProducerConnectionInfo`).
    pub async fn producer_connection(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<ProducerConnection, ClientError> {
        let header = GetProducerConnectionListRequestHeader {
            producer_group: group.to_owned(),
        };
        let cmd = request(req::GET_PRODUCER_CONNECTION_LIST).with_header(&header);
        let response = self
            .first_success(&self.topic_masters(topic).await?, cmd)
            .await?;
        Ok(ProducerConnection::decode(&response.body)?)
    }

    /// `group`'s progress on `topic` at `broker` (GET_CONSUME_STATS).
    pub async fn consume_stats(
        &self,
        broker: SocketAddr,
        group: &str,
        topic: &str,
    ) -> Result<ConsumeStats, ClientError> {
        let header = GetConsumeStatsRequestHeader {
            consumer_group: group.to_owned(),
            topic: Some(topic.to_owned()),
        };
        let cmd = request(req::GET_CONSUME_STATS).with_header(&header);
        let response = self.broker_success(broker, cmd).await?;
        Ok(ConsumeStats::decode(&response.body)?)
    }

    /// Min / max offsets of `topic`'s queues at `broker` (GET_TOPIC_STATS_INFO).
    pub async fn topic_stats(
        &self,
        broker: SocketAddr,
        topic: &str,
    ) -> Result<TopicStatsTable, ClientError> {
        let cmd = request(req::GET_TOPIC_STATS_INFO).with_ext("topic", topic);
        let response = self.broker_success(broker, cmd).await?;
        Ok(TopicStatsTable::decode(&response.body)?)
    }

    /// The groups consuming `topic` (online or with committed offsets) on
    /// any of `brokers` (QUERY_TOPIC_CONSUME_BY_WHO).
    pub async fn groups_of_topic(
        &self,
        brokers: &[SocketAddr],
        topic: &str,
    ) -> Result<BTreeSet<String>, ClientError> {
        let mut groups = BTreeSet::new();
        for &broker in brokers {
            let cmd = request(req::QUERY_TOPIC_CONSUME_BY_WHO).with_ext("topic", topic);
            let response = self.broker_success(broker, cmd).await?;
            groups.extend(GroupList::decode(&response.body)?.group_list);
        }
        Ok(groups)
    }

    /// Resets `group`'s offsets of `topic` on every master of the topic to
    /// the first message stored at or after `timestamp` (negative: each
    /// queue's end); the offsets set, per queue, sorted.
    pub async fn reset_offset_by_time(
        &self,
        group: &str,
        topic: &str,
        timestamp: i64,
        force: bool,
    ) -> Result<ResetOffsetBody, ClientError> {
        let header = ResetOffsetRequestHeader {
            topic: topic.to_owned(),
            group: group.to_owned(),
            timestamp,
            is_force: Some(force),
            queue_id: None,
            offset: None,
        };
        let mut all = ResetOffsetBody::default();
        for broker in self.topic_masters(topic).await? {
            let cmd = request(req::INVOKE_BROKER_TO_RESET_OFFSET).with_header(&header);
            let response = self.broker_success(broker, cmd).await?;
            all.offset_table
                .extend(ResetOffsetBody::decode(&response.body)?.offset_table);
        }
        all.offset_table.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }
}
