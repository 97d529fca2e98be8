//! Talking to the cluster under test: finding a topic's queues (creating
//! the topic on every broker of the template route when it is missing) and
//! keeping one connection per broker address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bolide_client::nameserver::{parse_addr_list, NameServerClient, NameServerClientConfig};
use bolide_client::route::{master_addr, parse_addr, publish_info, MessageQueue};
use bolide_proto::body::TopicRouteData;
use bolide_proto::codes::{request_code, response_code};
use bolide_proto::header::admin::CreateTopicRequestHeader;
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, NoInbound};
use bolide_transport::rt;

pub const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_FRAME_BYTES: usize = 16 << 20;

/// The topic's route, creating the topic with `queues` queues if needed.
pub async fn ensure_topic(
    namesrv: &str,
    topic: &str,
    queues: u32,
) -> Result<TopicRouteData, String> {
    let addrs = parse_addr_list(namesrv).map_err(|e| e.to_string())?;
    let ns = NameServerClient::new(addrs, NameServerClientConfig::default())
        .map_err(|e| e.to_string())?;
    if let Some(route) = ns.topic_route(topic).await.map_err(|e| e.to_string())? {
        return Ok(route);
    }
    let template = ns
        .topic_route("TBW102")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no broker is registered with the NameServer")?;
    for broker in &template.broker_datas {
        let Some(addr) = broker.master_addr() else {
            continue;
        };
        create_topic(parse_addr(addr).map_err(|e| e.to_string())?, topic, queues).await?;
    }
    for _ in 0..100 {
        if let Some(route) = ns.topic_route(topic).await.map_err(|e| e.to_string())? {
            return Ok(route);
        }
        rt::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "topic {topic} was created but never appeared at the NameServer"
    ))
}

async fn create_topic(broker: SocketAddr, topic: &str, queues: u32) -> Result<(), String> {
    let header = CreateTopicRequestHeader {
        topic: topic.to_owned(),
        default_topic: "TBW102".into(),
        read_queue_nums: queues as i32,
        write_queue_nums: queues as i32,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        ..CreateTopicRequestHeader::default()
    };
    let conn = connect(broker).await?;
    let request =
        RemotingCommand::request(request_code::UPDATE_AND_CREATE_TOPIC).with_header(&header);
    let rsp = conn
        .invoke(request, TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    conn.close();
    if rsp.code != response_code::SUCCESS {
        return Err(format!(
            "creating {topic} on {broker}: code {} {:?}",
            rsp.code, rsp.remark
        ));
    }
    Ok(())
}

pub async fn connect(addr: SocketAddr) -> Result<Connection, String> {
    Connection::connect(addr, Rc::new(NoInbound), MAX_FRAME_BYTES, TIMEOUT)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))
}

/// Writable queues of a topic with the connection to use for each.
pub async fn queue_connections(
    topic: &str,
    route: &TopicRouteData,
) -> Result<Vec<(MessageQueue, Connection)>, String> {
    let mut by_addr: HashMap<SocketAddr, Connection> = HashMap::new();
    let mut out = Vec::new();
    for mq in publish_info(topic, route).queues {
        let addr = master_addr(route, &mq.broker_name).ok_or("queue without a master")?;
        let addr = parse_addr(addr).map_err(|e| e.to_string())?;
        let conn = match by_addr.get(&addr) {
            Some(conn) => conn.clone(),
            None => {
                let conn = connect(addr).await?;
                by_addr.insert(addr, conn.clone());
                conn
            }
        };
        out.push((mq, conn));
    }
    if out.is_empty() {
        return Err(format!("topic {topic} has no writable queue"));
    }
    Ok(out)
}
