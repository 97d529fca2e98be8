//! End to end over loopback: [`NameServerClient`] against a real NameServer
//! thread — route found, route not found, and failover from a dead address.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bolide_client::nameserver::{NameServerClient, NameServerClientConfig};
use bolide_client::remoting::{Connection, Handler};
use bolide_client::route::{publish_info, subscribe_queues};
use bolide_namesrv::config::NamesrvConfig;
use bolide_namesrv::server::NamesrvHandle;
use bolide_proto::body::{JsonBody, RegisterBrokerBody, TopicConfig};
use bolide_proto::codes::{request_code, response_code};
use bolide_proto::RemotingCommand;

const TIMEOUT: Duration = Duration::from_secs(5);
const BROKER_ADDR: &str = "127.0.0.1:10911";

struct NoRequests;

impl Handler for NoRequests {
    async fn handle(self: Rc<Self>, _: Connection, _: RemotingCommand) -> Option<RemotingCommand> {
        None
    }
}

fn spawn_namesrv() -> NamesrvHandle {
    let config = NamesrvConfig {
        listen_addr: "127.0.0.1:0".into(),
        ..NamesrvConfig::default()
    };
    bolide_namesrv::server::spawn(config).unwrap()
}

/// An address nothing listens on (bound, then released).
fn dead_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn in_executor<F: std::future::Future<Output = ()> + 'static>(
    f: impl FnOnce() -> F + Send + 'static,
) {
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move { f().await })
        .unwrap()
        .join()
        .unwrap();
}

/// Registers broker-a (master) with `topic` (4 queues) over a connection that
/// must stay open: the NameServer drops a broker's routes when it closes.
async fn register_broker(namesrv: SocketAddr, topic: &str) -> Connection {
    let mut body = RegisterBrokerBody::default();
    let config = TopicConfig {
        topic_name: topic.into(),
        read_queue_nums: 4,
        write_queue_nums: 4,
        ..TopicConfig::default()
    };
    body.topic_config_serialize_wrapper
        .topic_config_table
        .insert(topic.into(), config);
    let mut cmd = RemotingCommand::request(request_code::REGISTER_BROKER).with_body(body.encode());
    for (k, v) in [
        ("brokerName", "broker-a"),
        ("brokerAddr", BROKER_ADDR),
        ("clusterName", "DefaultCluster"),
        ("haServerAddr", "127.0.0.1:10912"),
        ("brokerId", "0"),
    ] {
        cmd.ext_fields.insert(k, v);
    }
    let conn = Connection::connect(namesrv, Rc::new(NoRequests), 1 << 20, TIMEOUT)
        .await
        .unwrap();
    let rsp = conn.invoke(cmd, TIMEOUT).await.unwrap();
    assert_eq!(rsp.code, response_code::SUCCESS, "{:?}", rsp.remark);
    conn
}

fn config() -> NameServerClientConfig {
    NameServerClientConfig {
        timeout: TIMEOUT,
        ..NameServerClientConfig::default()
    }
}

#[test]
fn route_found_and_not_found() {
    let ns = spawn_namesrv();
    let addr = ns.addr();
    in_executor(move || async move {
        let _broker = register_broker(addr, "T").await;
        let client = NameServerClient::new(vec![addr], config()).unwrap();

        let route = client.topic_route("T").await.unwrap().expect("route of T");
        assert_eq!(
            bolide_client::route::master_addr(&route, "broker-a"),
            Some(BROKER_ADDR)
        );
        let publish = publish_info("T", &route);
        assert_eq!(publish.queues.len(), 4);
        assert!(publish
            .queues
            .iter()
            .all(|q| q.topic == "T" && q.broker_name == "broker-a"));
        assert_eq!(subscribe_queues("T", &route).len(), 4);

        assert!(client.topic_route("missing").await.unwrap().is_none());
        // The same connection serves both requests; still on the first address.
        assert_eq!(client.current_addr(), addr);
    });
    ns.shutdown();
}

#[test]
fn dead_first_address_rotates_to_live_second() {
    let ns = spawn_namesrv();
    let live = ns.addr();
    let dead = dead_addr();
    in_executor(move || async move {
        let _broker = register_broker(live, "T").await;
        let client = NameServerClient::new(vec![dead, live], config()).unwrap();
        assert_eq!(client.current_addr(), dead);
        assert!(client.topic_route("T").await.unwrap().is_some());
        assert_eq!(
            client.current_addr(),
            live,
            "should have moved to the live address"
        );
        assert!(client.topic_route("missing").await.unwrap().is_none());
        assert_eq!(client.current_addr(), live);
    });
    ns.shutdown();
}

#[test]
fn all_addresses_dead_is_a_transport_error() {
    in_executor(move || async move {
        let client = NameServerClient::new(vec![dead_addr(), dead_addr()], config()).unwrap();
        let err = client.topic_route("T").await.unwrap_err();
        assert!(
            matches!(err, bolide_client::error::ClientError::Transport { .. }),
            "{err}"
        );
    });
}
