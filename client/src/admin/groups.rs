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

    /// Every broker address of every cluster, masters and slaves.
    pub async fn all_brokers(&self) -> Result<Vec<SocketAddr>, ClientError> {
        let info = self.cluster_info().await?;
        let mut brokers: Vec<SocketAddr> = info
            .broker_addr_table
            .values()
            .flat_map(|broker| broker.broker_addrs.values())
            .map(|addr| parse_addr(addr))
            .collect::<Result<_, _>>()?;
        brokers.sort();
        Ok(brokers)
    }

    /// The topics `group` committed offsets for on any broker; `None` when
    /// no broker knows the group at all (no config, no offsets), which
    /// `consumerProgress` reports as an error as mqadmin does. Slaves are
    /// asked too (they copy groups and offsets), so a group stays visible
    /// after its master is gone; a broker that does not answer is skipped
    /// unless none answers.
    pub async fn group_topics(&self, group: &str) -> Result<Option<BTreeSet<String>>, ClientError> {
        let mut topics = BTreeSet::new();
        let mut known = false;
        let mut unreachable = None;
        let mut answered = false;
        for broker in self.all_brokers().await? {
            match self.group_on(broker, group).await {
                Ok((here, known_here)) => {
                    topics.extend(here);
                    known |= known_here;
                    answered = true;
                }
                Err(e @ ClientError::Transport { .. }) => unreachable = Some(e),
                Err(e) => return Err(e),
            }
        }
        match (answered, unreachable) {
            (false, Some(e)) => Err(e),
            _ => Ok((known || !topics.is_empty()).then_some(topics)),
        }
    }

    /// What one broker knows of `group`: the topics it has offsets of, and
    /// whether it has the group's config.
    async fn group_on(
        &self,
        broker: SocketAddr,
        group: &str,
    ) -> Result<(BTreeSet<String>, bool), ClientError> {
        let response = self
            .broker_success(broker, request(req::GET_ALL_CONSUMER_OFFSET))
            .await?;
        let offsets = ConsumerOffsetWrapper::decode(&response.body)?;
        let topics = offsets
            .offset_table
            .keys()
            .filter_map(|key| {
                let (topic, owner) = key.rsplit_once('@')?;
                (owner == group).then(|| topic.to_owned())
            })
            .collect();
        let known = self.subscription_group(broker, group).await?.is_some();
        Ok((topics, known))
    }
}
