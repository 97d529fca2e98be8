//! Administration: [`Admin`] asks NameServers and brokers what the
//! `bolide-admin` CLI shows (remoting.md §4.4–4.5, §4.10–4.11), and
//! [`render_table`] lays results out as aligned text.
//!
//! | operation | requests |
//! |---|---|
//! | topics, cluster, route | GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206), GET_BROKER_CLUSTER_INFO (106), GET_ROUTEINFO_BY_TOPIC (105) |
//! | broker status | GET_BROKER_RUNTIME_INFO (28) |
//! | create / delete topic | UPDATE_AND_CREATE_TOPIC (17) per master; DELETE_TOPIC_IN_BROKER (215) per master, then DELETE_TOPIC_IN_NAMESRV (216) |
//! | topic status | per queue GET_MIN_OFFSET (31), GET_MAX_OFFSET (30), and the store time of the last message (a 1-message PULL at max − 1) |
//! | consumer progress | per queue GET_MAX_OFFSET and QUERY_CONSUMER_OFFSET (14); lag = max − committed |
//! | message by id | VIEW_MESSAGE_BY_ID (33) to the store host encoded in the offset id |
//! | messages by key | QUERY_MESSAGE (12) to every broker of the topic |
//! | message by either id, reads from a queue | [`read`]: VIEW_MESSAGE_BY_ID or QUERY_MESSAGE; read-only PULL_MESSAGE (11) |
//! | subscription groups, broker config, a group's topics | [`groups`]: 200, 207, 352, GET_BROKER_CONFIG (26), GET_ALL_CONSUMER_OFFSET (43) |
//! | client connections, consume and topic stats, offset reset | [`stats`]: 203, 204, 208, 202, QUERY_TOPIC_CONSUME_BY_WHO (300), 222 |
//!
//! Like the [`crate::producer::Producer`], an [`Admin`] lives on one glommio
//! executor; it keeps one connection per address. NameServer requests fail
//! over across the configured addresses on transport errors.

pub mod groups;
pub mod read;
pub mod stats;

pub use read::Pulled;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bolide_proto::body::{ClusterInfo, JsonBody, KvTable, TopicList, TopicRouteData};
use bolide_proto::codes::{
    perm, pull_sys_flag, request_code as req, response_code as rsp, version,
};
use bolide_proto::header::admin::{
    CreateTopicRequestHeader, DeleteTopicFromNamesrvRequestHeader, DeleteTopicRequestHeader,
};
use bolide_proto::header::offset::{
    GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader, OffsetResponseHeader,
    QueryConsumerOffsetRequestHeader,
};
use bolide_proto::header::pull::PullMessageRequestHeader;
use bolide_proto::header::query::{QueryMessageRequestHeader, ViewMessageRequestHeader};
use bolide_proto::msgid::OffsetMsgId;
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, NoInbound};

use crate::error::ClientError;
use crate::message::{invalid, validate_topic, MessageExt};
use crate::nameserver::parse_addr_list;
use crate::producer::AUTO_CREATE_TOPIC;
use crate::route::{any_addr, master_addr, parse_addr, subscribe_queues, MessageQueue};

/// Default bound of one admin request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages one QUERY_MESSAGE asks for (the broker caps it too).
pub const QUERY_MAX_MESSAGES: i32 = 64;
/// Group name used for the admin's own read-only pulls (as Java's tools).
pub const TOOLS_CONSUMER_GROUP: &str = "TOOLS_CONSUMER";

/// What to create or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub topic: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub perm: i32,
    pub order: bool,
}

impl TopicSpec {
    /// RocketMQ's `updateTopic` defaults: 8 + 8 queues, read-write.
    pub fn new(topic: impl Into<String>) -> Self {
        TopicSpec {
            topic: topic.into(),
            read_queue_nums: 8,
            write_queue_nums: 8,
            perm: perm::READ_WRITE,
            order: false,
        }
    }
}

/// One queue's offsets ([`Admin::topic_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatus {
    pub queue: MessageQueue,
    pub min_offset: i64,
    pub max_offset: i64,
    /// Store time of the newest message, if there is one.
    pub last_update_ms: Option<i64>,
}

/// One queue's consumption ([`Admin::consumer_progress`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueProgress {
    pub queue: MessageQueue,
    pub broker_offset: i64,
    /// `None`: the group committed nothing for this queue.
    pub consumer_offset: Option<i64>,
    /// `broker_offset - consumer_offset` (or `- min_offset` if uncommitted).
    pub lag: i64,
}

/// Admin requests to NameServers and brokers; lives on one executor.
#[derive(Debug)]
pub struct Admin {
    namesrv: Vec<SocketAddr>,
    timeout: Duration,
    conns: RefCell<HashMap<SocketAddr, Connection>>,
}

impl Admin {
    /// An admin client for `namesrv_addr` (`ip:port;ip:port`).
    pub fn new(namesrv_addr: &str, timeout: Duration) -> Result<Admin, ClientError> {
        Ok(Admin {
            namesrv: parse_addr_list(namesrv_addr)?,
            timeout,
            conns: RefCell::new(HashMap::new()),
        })
    }

    /// Closes every connection.
    pub fn close(&self) {
        for (_, conn) in self.conns.borrow_mut().drain() {
            conn.close();
        }
    }

    /// All topics the NameServer knows.
    pub async fn topic_list(&self) -> Result<Vec<String>, ClientError> {
        let (_, response) = self
            .namesrv_success(request(req::GET_ALL_TOPIC_LIST_FROM_NAMESERVER))
            .await?;
        let mut topics = TopicList::decode(&response.body)?.topic_list;
        topics.sort();
        Ok(topics)
    }

    /// The brokers of every cluster.
    pub async fn cluster_info(&self) -> Result<ClusterInfo, ClientError> {
        let (_, response) = self
            .namesrv_success(request(req::GET_BROKER_CLUSTER_INFO))
            .await?;
        Ok(ClusterInfo::decode(&response.body)?)
    }

    /// `topic`'s route; TOPIC_NOT_EXIST is an error.
    pub async fn topic_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        let cmd = request(req::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", topic);
        let (_, response) = self.namesrv_success(cmd).await?;
        Ok(TopicRouteData::decode(&response.body)?)
    }

    /// A broker's runtime statistics (GET_BROKER_RUNTIME_INFO).
    pub async fn broker_runtime_info(&self, broker: SocketAddr) -> Result<KvTable, ClientError> {
        let response = self
            .broker_success(broker, request(req::GET_BROKER_RUNTIME_INFO))
            .await?;
        Ok(KvTable::decode(&response.body)?)
    }

    /// Creates or updates `spec` on the broker at `broker`.
    pub async fn create_topic(
        &self,
        broker: SocketAddr,
        spec: &TopicSpec,
    ) -> Result<(), ClientError> {
        validate_topic(&spec.topic)?;
        let header = CreateTopicRequestHeader {
            topic: spec.topic.clone(),
            default_topic: AUTO_CREATE_TOPIC.to_owned(),
            read_queue_nums: spec.read_queue_nums,
            write_queue_nums: spec.write_queue_nums,
            perm: spec.perm,
            topic_filter_type: "SINGLE_TAG".to_owned(),
            topic_sys_flag: Some(0),
            order: Some(spec.order),
            attributes: None,
            force: None,
        };
        let cmd = request(req::UPDATE_AND_CREATE_TOPIC).with_header(&header);
        self.broker_success(broker, cmd).await.map(drop)
    }

    /// Master addresses of every broker of `cluster`.
    pub async fn cluster_masters(&self, cluster: &str) -> Result<Vec<SocketAddr>, ClientError> {
        let info = self.cluster_info().await?;
        let names = info
            .cluster_addr_table
            .get(cluster)
            .ok_or_else(|| invalid(format!("no cluster named {cluster:?}")))?;
        let masters = names
            .iter()
            .filter_map(|name| info.broker_addr_table.get(name)?.master_addr())
            .map(parse_addr)
            .collect::<Result<Vec<_>, _>>()?;
        if masters.is_empty() {
            return Err(invalid(format!("cluster {cluster:?} has no master")));
        }
        Ok(masters)
    }

    /// Every broker address of `cluster`, masters and slaves, by broker
    /// name then id (mqadmin's `fetchMasterAndSlaveAddrByClusterName`).
    pub async fn cluster_brokers(&self, cluster: &str) -> Result<Vec<SocketAddr>, ClientError> {
        let info = self.cluster_info().await?;
        let names = info
            .cluster_addr_table
            .get(cluster)
            .ok_or_else(|| invalid(format!("no cluster named {cluster:?}")))?;
        let mut names: Vec<&String> = names.iter().collect();
        names.sort();
        let addrs = names
            .into_iter()
            .filter_map(|name| info.broker_addr_table.get(name))
            .flat_map(|broker| broker.broker_addrs.values())
            .map(|addr| parse_addr(addr))
            .collect::<Result<Vec<_>, _>>()?;
        if addrs.is_empty() {
            return Err(invalid(format!("cluster {cluster:?} has no broker")));
        }
        Ok(addrs)
    }

    /// Deletes `topic` from every master of `cluster`, then from every
    /// NameServer.
    pub async fn delete_topic(
        &self,
        cluster: &str,
        topic: &str,
    ) -> Result<Vec<SocketAddr>, ClientError> {
        let masters = self.cluster_masters(cluster).await?;
        for &broker in &masters {
            let header = DeleteTopicRequestHeader {
                topic: topic.to_owned(),
            };
            let cmd = request(req::DELETE_TOPIC_IN_BROKER).with_header(&header);
            self.broker_success(broker, cmd).await?;
        }
        let header = DeleteTopicFromNamesrvRequestHeader {
            topic: topic.to_owned(),
            cluster_name: Some(cluster.to_owned()),
        };
        for &ns in &self.namesrv.clone() {
            let cmd = request(req::DELETE_TOPIC_IN_NAMESRV).with_header(&header);
            self.broker_success(ns, cmd).await?;
        }
        Ok(masters)
    }

    /// Min / max offset and last store time of each queue of `topic`.
    pub async fn topic_status(&self, topic: &str) -> Result<Vec<QueueStatus>, ClientError> {
        let route = self.topic_route(topic).await?;
        let mut out = Vec::new();
        for queue in subscribe_queues(topic, &route) {
            let addr = read_addr(&route, &queue)?;
            let min_offset = self.min_offset(addr, &queue).await?;
            let max_offset = self.max_offset(addr, &queue).await?;
            let last_update_ms = if max_offset > min_offset {
                self.store_time_at(addr, &queue, max_offset - 1).await?
            } else {
                None
            };
            out.push(QueueStatus {
                queue,
                min_offset,
                max_offset,
                last_update_ms,
            });
        }
        Ok(out)
    }

    /// Per queue of `topic`: the broker's max offset, `group`'s committed
    /// offset and the lag.
    pub async fn consumer_progress(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<QueueProgress>, ClientError> {
        let route = self.topic_route(topic).await?;
        let mut out = Vec::new();
        for queue in subscribe_queues(topic, &route) {
            let addr = read_addr(&route, &queue)?;
            let broker_offset = self.max_offset(addr, &queue).await?;
            let consumer_offset = self.consumer_offset(addr, group, &queue).await?;
            let base = match consumer_offset {
                Some(committed) => committed,
                None => self.min_offset(addr, &queue).await?,
            };
            out.push(QueueProgress {
                queue,
                broker_offset,
                consumer_offset,
                lag: (broker_offset - base).max(0),
            });
        }
        Ok(out)
    }

    /// The message with offset id `offset_msg_id`, from the broker the id
    /// names.
    pub async fn view_message(&self, offset_msg_id: &str) -> Result<MessageExt, ClientError> {
        let id = OffsetMsgId::decode(offset_msg_id.trim())?;
        let header = ViewMessageRequestHeader {
            offset: i64::try_from(id.offset.0).map_err(|_| invalid("offset out of range"))?,
            topic: None,
        };
        let cmd = request(req::VIEW_MESSAGE_BY_ID).with_header(&header);
        let response = self.broker_success(id.store_host, cmd).await?;
        MessageExt::decode_all(&response.body)?
            .into_iter()
            .next()
            .ok_or_else(|| invalid("empty VIEW_MESSAGE_BY_ID answer"))
    }

    /// Messages of `topic` whose KEYS (or UNIQ_KEY) include `key`, from
    /// every broker of the topic.
    pub async fn query_by_key(
        &self,
        topic: &str,
        key: &str,
    ) -> Result<Vec<MessageExt>, ClientError> {
        let route = self.topic_route(topic).await?;
        let mut found = Vec::new();
        for broker in &route.broker_datas {
            let Some(addr) = any_addr(&route, &broker.broker_name) else {
                continue;
            };
            found.extend(self.query_broker(parse_addr(addr)?, topic, key).await?);
        }
        // The index is by hash: keep exact matches only.
        found.retain(|m| m.keys.iter().any(|k| k == key) || m.msg_id == key);
        found.sort_by_key(|m| (m.store_timestamp_ms, m.offset_msg_id.clone()));
        Ok(found)
    }

    async fn query_broker(
        &self,
        addr: SocketAddr,
        topic: &str,
        key: &str,
    ) -> Result<Vec<MessageExt>, ClientError> {
        let header = QueryMessageRequestHeader {
            topic: topic.to_owned(),
            key: key.to_owned(),
            max_num: QUERY_MAX_MESSAGES,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
            unique_key_query: None,
        };
        let response = self
            .invoke(addr, request(req::QUERY_MESSAGE).with_header(&header))
            .await?;
        match response.code {
            rsp::SUCCESS => Ok(MessageExt::decode_all(&response.body)?),
            rsp::QUERY_NOT_FOUND => Ok(Vec::new()),
            code => Err(refused(addr, code, response)),
        }
    }

    async fn min_offset(&self, addr: SocketAddr, queue: &MessageQueue) -> Result<i64, ClientError> {
        let header = GetMinOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: wire_queue_id(queue),
        };
        self.offset_request(addr, request(req::GET_MIN_OFFSET).with_header(&header))
            .await
    }

    async fn max_offset(&self, addr: SocketAddr, queue: &MessageQueue) -> Result<i64, ClientError> {
        let header = GetMaxOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: wire_queue_id(queue),
            committed: None,
        };
        self.offset_request(addr, request(req::GET_MAX_OFFSET).with_header(&header))
            .await
    }

    async fn consumer_offset(
        &self,
        addr: SocketAddr,
        group: &str,
        queue: &MessageQueue,
    ) -> Result<Option<i64>, ClientError> {
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: group.to_owned(),
            topic: queue.topic.clone(),
            queue_id: wire_queue_id(queue),
            set_zero_if_not_found: Some(false),
        };
        let response = self
            .invoke(
                addr,
                request(req::QUERY_CONSUMER_OFFSET).with_header(&header),
            )
            .await?;
        match response.code {
            rsp::SUCCESS => Ok(Some(
                response.decode_header::<OffsetResponseHeader>()?.offset,
            )),
            rsp::QUERY_NOT_FOUND => Ok(None),
            code => Err(refused(addr, code, response)),
        }
    }

    async fn offset_request(
        &self,
        addr: SocketAddr,
        cmd: RemotingCommand,
    ) -> Result<i64, ClientError> {
        let response = self.broker_success(addr, cmd).await?;
        Ok(response.decode_header::<OffsetResponseHeader>()?.offset)
    }

    /// Store time of the message at `offset` (a one-message pull that
    /// commits nothing); `None` if it is gone.
    async fn store_time_at(
        &self,
        addr: SocketAddr,
        queue: &MessageQueue,
        offset: i64,
    ) -> Result<Option<i64>, ClientError> {
        let header = PullMessageRequestHeader {
            consumer_group: TOOLS_CONSUMER_GROUP.to_owned(),
            topic: queue.topic.clone(),
            queue_id: wire_queue_id(queue),
            queue_offset: offset,
            max_msg_nums: 1,
            sys_flag: pull_sys_flag::SUBSCRIPTION,
            subscription: Some("*".to_owned()),
            ..PullMessageRequestHeader::default()
        };
        let response = self
            .invoke(addr, request(req::PULL_MESSAGE).with_header(&header))
            .await?;
        if response.code != rsp::SUCCESS {
            return Ok(None);
        }
        let first = MessageExt::decode_all(&response.body)?.into_iter().next();
        Ok(first.map(|m| m.store_timestamp_ms))
    }

    /// Sends to the NameServers in order until one answers SUCCESS-or-error
    /// (transport failures move on to the next).
    async fn namesrv_success(
        &self,
        cmd: RemotingCommand,
    ) -> Result<(SocketAddr, RemotingCommand), ClientError> {
        let mut last_error = ClientError::NoNameServer;
        for &addr in &self.namesrv {
            match self.broker_success(addr, cmd.clone()).await {
                Ok(response) => return Ok((addr, response)),
                Err(e @ ClientError::Transport { .. }) => last_error = e,
                Err(e) => return Err(e),
            }
        }
        Err(last_error)
    }

    /// Sends `cmd` to `addr`; anything but SUCCESS is an error.
    async fn broker_success(
        &self,
        addr: SocketAddr,
        cmd: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        let response = self.invoke(addr, cmd).await?;
        if response.code != rsp::SUCCESS {
            return Err(refused(addr, response.code, response));
        }
        Ok(response)
    }

    async fn invoke(
        &self,
        addr: SocketAddr,
        cmd: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        let conn = self.connection(addr).await?;
        conn.invoke(cmd, self.timeout).await.map_err(|source| {
            self.conns.borrow_mut().remove(&addr);
            ClientError::Transport { addr, source }
        })
    }

    async fn connection(&self, addr: SocketAddr) -> Result<Connection, ClientError> {
        let open = self
            .conns
            .borrow()
            .get(&addr)
            .filter(|c| !c.is_closed())
            .cloned();
        if let Some(conn) = open {
            return Ok(conn);
        }
        let max_frame = bolide_proto::MAX_FRAME_BYTES;
        let conn = Connection::connect(addr, Rc::new(NoInbound), max_frame, self.timeout)
            .await
            .map_err(|source| ClientError::Transport { addr, source })?;
        self.conns.borrow_mut().insert(addr, conn.clone());
        Ok(conn)
    }
}

fn request(code: i32) -> RemotingCommand {
    RemotingCommand {
        version: version::BOLIDE,
        ..RemotingCommand::request(code)
    }
}

fn refused(addr: SocketAddr, code: i32, response: RemotingCommand) -> ClientError {
    ClientError::Response {
        addr,
        code,
        remark: response.remark.unwrap_or_default(),
    }
}

fn wire_queue_id(queue: &MessageQueue) -> i32 {
    i32::try_from(queue.queue_id.0).unwrap_or(i32::MAX)
}

/// Where reads of `queue` go: its master, else a slave.
fn read_addr(route: &TopicRouteData, queue: &MessageQueue) -> Result<SocketAddr, ClientError> {
    let addr = master_addr(route, &queue.broker_name)
        .or_else(|| any_addr(route, &queue.broker_name))
        .ok_or_else(|| invalid(format!("broker {} has no address", queue.broker_name)))?;
    parse_addr(addr)
}

/// Lays `rows` out under `headers` in left-aligned columns separated by two
/// spaces (widths in characters); short rows are padded with empty cells.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(widths.len()) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let cells: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let cell = row.get(i).map_or("", String::as_str);
                format!("{cell:<w$}")
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM:SS.mmm` (UTC).
pub fn format_timestamp_ms(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = bolide_proto::body::consumer_admin::civil_from_days(days);
    let (h, min, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}.{milli:03}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["a".to_owned(), "1".to_owned()],
            vec!["longer".to_owned(), "22".to_owned(), "extra".to_owned()],
            vec!["x".to_owned()],
        ];
        let got = render_table(&["#Name", "#N"], &rows);
        let want = "#Name   #N\na       1\nlonger  22\nx\n";
        assert_eq!(got, want);
        assert_eq!(render_table(&["#H"], &[]), "#H\n");
    }

    #[test]
    fn timestamps_format_in_utc() {
        let cases = [
            (0, "1970-01-01 00:00:00.000"),
            (951_782_400_000, "2000-02-29 00:00:00.000"),
            (1_700_000_000_123, "2023-11-14 22:13:20.123"),
            (-1, "1969-12-31 23:59:59.999"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_timestamp_ms(ms), want, "{ms}");
        }
    }

    #[test]
    fn topic_spec_defaults_match_mqadmin() {
        let spec = TopicSpec::new("T");
        assert_eq!(
            (spec.read_queue_nums, spec.write_queue_nums, spec.perm),
            (8, 8, 6)
        );
    }
}
