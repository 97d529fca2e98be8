//! End to end over loopback: a real NameServer thread and a real client
//! connection registering a broker, routing, and disconnecting.

use std::rc::Rc;
use std::time::Duration;

use bolide_namesrv::config::NamesrvConfig;
use bolide_proto::body::{JsonBody, RegisterBrokerBody, TopicConfig, TopicRouteData};
use bolide_proto::codes::{request_code as req, response_code as rsp};
use bolide_proto::RemotingCommand;
use bolide_transport::remoting::{Connection, Handler};

struct NoRequests;

impl Handler for NoRequests {
    async fn handle(self: Rc<Self>, _: Connection, _: RemotingCommand) -> Option<RemotingCommand> {
        None
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

fn register_request(topic: &str) -> RemotingCommand {
    let mut body = RegisterBrokerBody::default();
    let config = TopicConfig {
        topic_name: topic.into(),
        ..TopicConfig::default()
    };
    body.topic_config_serialize_wrapper
        .topic_config_table
        .insert(topic.into(), config);
    let mut cmd = RemotingCommand::request(req::REGISTER_BROKER).with_body(body.encode());
    for (k, v) in [
        ("brokerName", "broker-a"),
        ("brokerAddr", "127.0.0.1:10911"),
        ("clusterName", "DefaultCluster"),
        ("haServerAddr", "127.0.0.1:10912"),
        ("brokerId", "0"),
    ] {
        cmd.ext_fields.insert(k, v);
    }
    cmd
}

fn route_request(topic: &str) -> RemotingCommand {
    RemotingCommand::request(req::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", topic)
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

#[test]
fn register_route_and_removal_on_disconnect() {
    let config = NamesrvConfig {
        listen_addr: "127.0.0.1:0".into(),
        ..NamesrvConfig::default()
    };
    let ns = bolide_namesrv::server::spawn(config).unwrap();
    let addr = ns.addr();
    in_executor(move || async move {
        let broker = Connection::connect(addr, Rc::new(NoRequests), 1 << 20, TIMEOUT)
            .await
            .unwrap();
        let rsp = broker.invoke(register_request("T"), TIMEOUT).await.unwrap();
        assert_eq!(rsp.code, rsp::SUCCESS, "{:?}", rsp.remark);

        let client = Connection::connect(addr, Rc::new(NoRequests), 1 << 20, TIMEOUT)
            .await
            .unwrap();
        let rsp = client.invoke(route_request("T"), TIMEOUT).await.unwrap();
        assert_eq!(rsp.code, rsp::SUCCESS);
        let route = TopicRouteData::decode(&rsp.body).unwrap();
        assert_eq!(route.broker_datas[0].master_addr(), Some("127.0.0.1:10911"));

        // The broker's connection closes: its routes go at once.
        broker.close();
        let mut gone = false;
        for _ in 0..100 {
            let rsp = client.invoke(route_request("T"), TIMEOUT).await.unwrap();
            if rsp.code == rsp::TOPIC_NOT_EXIST {
                gone = true;
                break;
            }
            glommio::timer::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "route survived the broker's disconnect");
    });
    ns.shutdown();
}

#[test]
fn garbage_closes_only_that_connection() {
    use std::io::{Read, Write};
    let config = NamesrvConfig {
        listen_addr: "127.0.0.1:0".into(),
        ..NamesrvConfig::default()
    };
    let ns = bolide_namesrv::server::spawn(config).unwrap();
    let addr = ns.addr();
    let mut bad = std::net::TcpStream::connect(addr).unwrap();
    bad.set_read_timeout(Some(TIMEOUT)).unwrap();
    // A frame whose header length exceeds its total length.
    bad.write_all(&[0, 0, 0, 8, 0, 0, 0, 200, 1, 2, 3, 4])
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        bad.read(&mut buf).unwrap_or(0),
        0,
        "server should close a bad connection"
    );
    in_executor(move || async move {
        let client = Connection::connect(addr, Rc::new(NoRequests), 1 << 20, TIMEOUT)
            .await
            .unwrap();
        let rsp = client.invoke(route_request("T"), TIMEOUT).await.unwrap();
        assert_eq!(rsp.code, rsp::TOPIC_NOT_EXIST);
        let rsp = client
            .invoke(RemotingCommand::request(12345), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(rsp.code, rsp::REQUEST_CODE_NOT_SUPPORTED);
    });
    ns.shutdown();
}

#[test]
fn silent_broker_expires_while_its_connection_stays_open() {
    let config = NamesrvConfig {
        listen_addr: "127.0.0.1:0".into(),
        scan_interval_ms: 50,
        broker_timeout_ms: 300,
        ..NamesrvConfig::default()
    };
    let ns = bolide_namesrv::server::spawn(config).unwrap();
    let addr = ns.addr();
    in_executor(move || async move {
        let broker = Connection::connect(addr, Rc::new(NoRequests), 1 << 20, TIMEOUT)
            .await
            .unwrap();
        assert_eq!(
            broker
                .invoke(register_request("T"), TIMEOUT)
                .await
                .unwrap()
                .code,
            rsp::SUCCESS
        );
        assert_eq!(
            broker
                .invoke(route_request("T"), TIMEOUT)
                .await
                .unwrap()
                .code,
            rsp::SUCCESS
        );
        // No re-registration: after the timeout the scan drops it.
        for _ in 0..200 {
            glommio::timer::sleep(Duration::from_millis(25)).await;
            if broker
                .invoke(route_request("T"), TIMEOUT)
                .await
                .unwrap()
                .code
                == rsp::TOPIC_NOT_EXIST
            {
                assert!(!broker.is_closed());
                return;
            }
        }
        panic!("silent broker never expired");
    });
    ns.shutdown();
}

/// True once the server closed `peer` (a read sees end of stream).
fn closed_by_server(peer: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    matches!(peer.read(&mut [0u8; 16]), Ok(0))
}

#[test]
fn connections_past_the_limit_are_closed_and_idle_ones_time_out() {
    let ns = bolide_namesrv::server::spawn(NamesrvConfig {
        listen_addr: "127.0.0.1:0".into(),
        max_connections: 2,
        idle_timeout_ms: 1_000,
        ..NamesrvConfig::default()
    })
    .unwrap();
    let connect = || std::net::TcpStream::connect(ns.addr()).unwrap();
    let (mut first, _second) = (connect(), connect());
    std::thread::sleep(Duration::from_millis(200));
    let mut third = connect();
    assert!(
        closed_by_server(&mut third),
        "a third connection is refused"
    );
    // The first two say nothing: the idle timeout closes them.
    assert!(closed_by_server(&mut first), "an idle connection is closed");
    std::thread::sleep(Duration::from_millis(200));
    in_executor(move || async move {
        let conn = Connection::connect(ns.addr(), Rc::new(NoRequests), 1 << 20, TIMEOUT)
            .await
            .unwrap();
        let rsp = conn.invoke(route_request("Nope"), TIMEOUT).await.unwrap();
        assert_eq!(
            rsp.code,
            rsp::TOPIC_NOT_EXIST,
            "room again once they closed"
        );
    });
}
