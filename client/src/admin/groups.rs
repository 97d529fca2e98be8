//! Subscription groups and broker configs for `bolide-admin`:
//! UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200), DELETE_SUBSCRIPTIONGROUP (207),
//! GET_SUBSCRIPTIONGROUP_CONFIG (352), GET_BROKER_CONFIG (26), and the topics
//! a group consumes, read from GET_ALL_CONSUMER_OFFSET (43) — what mqadmin's
//! `consumerProgress` lists when no topic is given.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use bolide_proto::body::{
    parse_properties, ConsumerOffsetWrapper, JsonBody, SubscriptionGroupConfig,
};
use bolide_proto::codes::{request_code as req, response_code as rsp};

use super::{refused, request, Admin};
use crate::error::ClientError;
use crate::route::parse_addr;

impl Admin {
    /// Creates or updates `config` on the broker at `broker`.
    pub async fn update_subscription_group(
        &self,
        broker: SocketAddr,
        config: &SubscriptionGroupConfig,
    ) -> Result<(), ClientError> {
        let cmd = request(req::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).with_body(config.encode());
        self.broker_success(broker, cmd).await.map(drop)
    }

    /// Deletes `group` from the broker at `broker` (a group it does not
    /// know is no error, as in RocketMQ).
    pub async fn delete_subscription_group(
        &self,
        broker: SocketAddr,
        group: &str,
    ) -> Result<(), ClientError> {
        let cmd = request(req::DELETE_SUBSCRIPTIONGROUP).with_ext("groupName", group);
        self.broker_success(broker, cmd).await.map(drop)
    }

    /// `group`'s config on `broker`; `None` if the broker does not know it.
    pub async fn subscription_group(
        &self,
        broker: SocketAddr,
        group: &str,
    ) -> Result<Option<SubscriptionGroupConfig>, ClientError> {
        let cmd = request(req::GET_SUBSCRIPTIONGROUP_CONFIG).with_ext("group", group);
        let response = self.invoke(broker, cmd).await?;
        match response.code {
            rsp::SUCCESS => Ok(Some(SubscriptionGroupConfig::decode(&response.body)?)),
            rsp::SUBSCRIPTION_GROUP_NOT_EXIST => Ok(None),
            code => Err(refused(broker, code, response)),
        }
    }

    /// A broker's configuration as `key=value` pairs, in the broker's order.
    pub async fn broker_config(
        &self,
        broker: SocketAddr,
    ) -> Result<Vec<(String, String)>, ClientError> {
        let response = self
            .broker_success(broker, request(req::GET_BROKER_CONFIG))
            .await?;
        Ok(parse_properties(&String::from_utf8_lossy(&response.body)))
    }

    /// The master of every broker group of every cluster.
    pub async fn all_masters(&self) -> Result<Vec<SocketAddr>, ClientError> {
        let info = self.cluster_info().await?;
        let mut masters: Vec<SocketAddr> = info
            .broker_addr_table
            .values()
            .filter_map(|broker| broker.master_addr())
            .map(parse_addr)
            .collect::<Result<_, _>>()?;
        masters.sort();
        Ok(masters)
    }

    /// The topics `group` committed offsets for on any master; `None` when
    /// no master knows the group at all (no config, no offsets), which
    /// `consumerProgress` reports as an error as mqadmin does.
    pub async fn group_topics(&self, group: &str) -> Result<Option<BTreeSet<String>>, ClientError> {
        let mut topics = BTreeSet::new();
        let mut known = false;
        for master in self.all_masters().await? {
            let response = self
                .broker_success(master, request(req::GET_ALL_CONSUMER_OFFSET))
                .await?;
            let offsets = ConsumerOffsetWrapper::decode(&response.body)?;
            topics.extend(offsets.offset_table.keys().filter_map(|key| {
                let (topic, owner) = key.rsplit_once('@')?;
                (owner == group).then(|| topic.to_owned())
            }));
            known = known || self.subscription_group(master, group).await?.is_some();
        }
        Ok((known || !topics.is_empty()).then_some(topics))
    }
}
