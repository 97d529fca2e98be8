//! Request handling of the NameServer as a pure function of its state:
//! `(state, request, now, connection) -> response`. The server module only
//! moves frames; everything observable is decided and tested here.

use bolide_proto::body::{
    BrokerData, ClusterInfo, JsonBody, KvTable, QueueData, RegisterBrokerBody, RouteJsonStyle,
    TopicList, TopicRouteData,
};
use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::header::namesrv::{
    GetKvConfigRequestHeader, GetKvConfigResponseHeader, GetRouteInfoRequestHeader,
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
};
use bolide_proto::{ProtoError, RemotingCommand};

use crate::config::NamesrvConfig;
use crate::kv::KvConfig;
use crate::routes::{ConnId, QueueInfo, Registration, Route, RouteTable};

/// KV namespace whose entries become a route's `orderTopicConf`.
pub const ORDER_TOPIC_CONFIG_NAMESPACE: &str = "ORDER_TOPIC_CONFIG";

/// All NameServer state.
#[derive(Debug)]
pub struct NamesrvCore {
    pub routes: RouteTable,
    pub kv: KvConfig,
    config: NamesrvConfig,
}

fn error(code: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response(code, Some(remark.into()))
}

fn bad_request(e: ProtoError) -> RemotingCommand {
    error(rsp::SYSTEM_ERROR, format!("bad request: {e}"))
}

fn success() -> RemotingCommand {
    RemotingCommand::response(rsp::SUCCESS, None)
}

impl NamesrvCore {
    pub fn new(config: NamesrvConfig) -> Self {
        NamesrvCore {
            routes: RouteTable::new(),
            kv: KvConfig::default(),
            config,
        }
    }

    /// Answers one request.
    pub fn handle(
        &mut self,
        request: &RemotingCommand,
        now_ms: u64,
        conn: ConnId,
    ) -> RemotingCommand {
        let outcome = match request.code {
            req::REGISTER_BROKER => self.register_broker(request, now_ms, conn),
            req::UNREGISTER_BROKER => self.unregister_broker(request),
            req::GET_ROUTEINFO_BY_TOPIC => self.route_by_topic(request),
            req::GET_BROKER_CLUSTER_INFO => Ok(self.cluster_info()),
            req::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => Ok(self.all_topics()),
            req::GET_TOPICS_BY_CLUSTER => self.topics_by_cluster(request),
            req::DELETE_TOPIC_IN_NAMESRV => self.delete_topic(request),
            req::PUT_KV_CONFIG => self.put_kv(request),
            req::GET_KV_CONFIG => self.get_kv(request),
            req::DELETE_KV_CONFIG => self.delete_kv(request),
            req::GET_KVLIST_BY_NAMESPACE => self.kv_list(request),
            code => Ok(error(
                rsp::REQUEST_CODE_NOT_SUPPORTED,
                format!(" request type {code} not supported"),
            )),
        };
        outcome.unwrap_or_else(bad_request)
    }

    fn register_broker(
        &mut self,
        request: &RemotingCommand,
        now_ms: u64,
        conn: ConnId,
    ) -> Result<RemotingCommand, ProtoError> {
        let h: RegisterBrokerRequestHeader = request.decode_header()?;
        if let Some(crc) = h.body_crc32.filter(|c| *c != 0) {
            let actual = (crc32fast::hash(&request.body) & 0x7FFF_FFFF) as i32;
            if actual != crc {
                return Ok(error(
                    rsp::SYSTEM_ERROR,
                    format!("register body crc32 {actual} does not match header {crc}"),
                ));
            }
        }
        let body = if request.body.is_empty() {
            RegisterBrokerBody::default()
        } else {
            RegisterBrokerBody::decode_request(&request.body, h.compressed.unwrap_or(false))?
        };
        let topics = body
            .topic_config_serialize_wrapper
            .topic_config_table
            .into_iter()
            .map(|(name, c)| {
                let info = QueueInfo {
                    read_queue_nums: c.read_queue_nums.max(0) as u32,
                    write_queue_nums: c.write_queue_nums.max(0) as u32,
                    perm: c.perm,
                    topic_sys_flag: c.topic_sys_flag,
                    order: c.order,
                };
                (name, info)
            })
            .collect();
        let timeout_ms = h.heartbeat_timeout_millis.unwrap_or(0).max(0) as u64;
        let registration = Registration {
            cluster: h.cluster_name,
            broker_name: h.broker_name,
            broker_addr: h.broker_addr,
            broker_id: h.broker_id.max(0) as u64,
            ha_server_addr: h.ha_server_addr,
            timeout_ms: if timeout_ms == 0 {
                self.config.broker_timeout_ms
            } else {
                timeout_ms
            },
            topics,
        };
        let outcome = self.routes.register(registration, now_ms, conn);
        let header = RegisterBrokerResponseHeader {
            ha_server_addr: Some(outcome.ha_server_addr),
            master_addr: Some(outcome.master_addr),
        };
        Ok(success().with_header(&header))
    }

    fn unregister_broker(
        &mut self,
        request: &RemotingCommand,
    ) -> Result<RemotingCommand, ProtoError> {
        let h: UnregisterBrokerRequestHeader = request.decode_header()?;
        self.routes.unregister(&h.broker_name, &h.broker_addr);
        Ok(success())
    }

    fn route_by_topic(&self, request: &RemotingCommand) -> Result<RemotingCommand, ProtoError> {
        let h: GetRouteInfoRequestHeader = request.decode_header()?;
        let Some(route) = self.routes.route(&h.topic) else {
            return Ok(error(
                rsp::TOPIC_NOT_EXIST,
                format!(
                    "No topic route info in name server for the topic: {}",
                    h.topic
                ),
            ));
        };
        let mut data = route_data(route);
        data.order_topic_conf = self
            .kv
            .get(ORDER_TOPIC_CONFIG_NAMESPACE, &h.topic)
            .map(str::to_owned);
        let style = RouteJsonStyle::for_route_request(
            request.version,
            h.accept_standard_json_only.unwrap_or(false),
        );
        Ok(success().with_body(data.encode(style)))
    }

    fn cluster_info(&self) -> RemotingCommand {
        let (brokers, clusters) = self.routes.cluster_info();
        let info = ClusterInfo {
            broker_addr_table: brokers
                .iter()
                .map(|(name, g)| (name.clone(), broker_data(g)))
                .collect(),
            cluster_addr_table: clusters
                .iter()
                .map(|(c, names)| (c.clone(), names.iter().cloned().collect()))
                .collect(),
        };
        success().with_body(info.encode(RouteJsonStyle::Fastjson))
    }

    fn all_topics(&self) -> RemotingCommand {
        if !self.config.enable_all_topic_list {
            return error(rsp::SYSTEM_ERROR, "disable");
        }
        let list = TopicList {
            broker_addr: None,
            topic_list: self.routes.topics().map(str::to_owned).collect(),
        };
        success().with_body(list.encode())
    }

    fn topics_by_cluster(&self, request: &RemotingCommand) -> Result<RemotingCommand, ProtoError> {
        let cluster: String = request.ext_fields.read("cluster")?;
        let list = TopicList {
            broker_addr: None,
            topic_list: self.routes.topics_of_cluster(&cluster),
        };
        Ok(success().with_body(list.encode()))
    }

    fn delete_topic(&mut self, request: &RemotingCommand) -> Result<RemotingCommand, ProtoError> {
        let topic: String = request.ext_fields.read("topic")?;
        let cluster: Option<String> = request.ext_fields.read("clusterName")?;
        self.routes
            .delete_topic(&topic, cluster.as_deref().filter(|c| !c.is_empty()));
        Ok(success())
    }

    fn put_kv(&mut self, request: &RemotingCommand) -> Result<RemotingCommand, ProtoError> {
        let namespace: String = request.ext_fields.read("namespace")?;
        let key: String = request.ext_fields.read("key")?;
        let value: String = request.ext_fields.read("value")?;
        Ok(match self.kv.put(&namespace, &key, &value) {
            Ok(()) => success(),
            Err(why) => error(rsp::INVALID_PARAMETER, why),
        })
    }

    fn get_kv(&self, request: &RemotingCommand) -> Result<RemotingCommand, ProtoError> {
        let h: GetKvConfigRequestHeader = request.decode_header()?;
        Ok(match self.kv.get(&h.namespace, &h.key) {
            Some(value) => success().with_header(&GetKvConfigResponseHeader {
                value: Some(value.to_owned()),
            }),
            None => error(
                rsp::QUERY_NOT_FOUND,
                format!("No config item, Namespace: {} Key: {}", h.namespace, h.key),
            ),
        })
    }

    fn delete_kv(&mut self, request: &RemotingCommand) -> Result<RemotingCommand, ProtoError> {
        let namespace: String = request.ext_fields.read("namespace")?;
        let key: String = request.ext_fields.read("key")?;
        self.kv.delete(&namespace, &key);
        Ok(success())
    }

    fn kv_list(&self, request: &RemotingCommand) -> Result<RemotingCommand, ProtoError> {
        let namespace: String = request.ext_fields.read("namespace")?;
        Ok(match self.kv.list(&namespace) {
            Some(entries) => success().with_body(
                KvTable {
                    table: entries.clone(),
                }
                .encode(),
            ),
            None => error(
                rsp::QUERY_NOT_FOUND,
                format!("No config item, Namespace: {namespace}"),
            ),
        })
    }
}

fn broker_data(group: &crate::routes::BrokerGroup) -> BrokerData {
    BrokerData {
        broker_addrs: group
            .addrs
            .iter()
            .map(|(id, a)| (*id as i64, a.clone()))
            .collect(),
        broker_name: group.name.clone(),
        cluster: group.cluster.clone(),
        enable_acting_master: false,
        zone_name: None,
    }
}

fn route_data(route: Route) -> TopicRouteData {
    TopicRouteData {
        broker_datas: route.brokers.iter().map(broker_data).collect(),
        filter_server_table: Default::default(),
        order_topic_conf: None,
        queue_datas: route
            .queues
            .into_iter()
            .map(|(name, q)| QueueData {
                broker_name: name,
                perm: q.perm,
                read_queue_nums: q.read_queue_nums as i32,
                topic_sys_flag: q.topic_sys_flag,
                write_queue_nums: q.write_queue_nums as i32,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
