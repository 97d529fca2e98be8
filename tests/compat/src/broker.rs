//! The real `bolide-broker` binary on loopback ports, each broker with a
//! temporary data directory:
//!
//! * [`Broker`]: `bolide-broker --standalone` (broker and NameServer in one
//!   process), what most scenarios need.
//! * [`ReplicaPair`]: a `bolide-namesrv`, a SYNC_MASTER and its slave, three
//!   processes, so that the master can be killed with `kill -9` alone while
//!   the NameServer and the slave go on.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::admin;
use crate::proc::Proc;

const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a slave copies topics, subscription groups and offsets from
/// its master (10 s by default): a consumer falling back to the slave needs
/// the topics a client created on the master moments before.
const METADATA_SYNC_MS: u64 = 200;

/// One broker's ports and identity.
struct BrokerSpec<'a> {
    port: u16,
    broker_id: u64,
    namesrv_port: u16,
    /// Shard 0's replication port (a master's slaves connect to it).
    replication_port: u16,
    /// `[replication]` lines besides `listen_port`.
    replication: &'a str,
    /// Further `[broker]` lines.
    broker: &'a str,
}

/// A broker's `broker.toml`. The VIP port (listen_port - 2) is off and the
/// replication port is given: the defaults (listen_port - 2, + 1) could
/// collide with another test's ports. One shard: the CI machine has two
/// cores shared by everything running.
fn broker_toml(spec: &BrokerSpec<'_>, data_dir: &Path) -> String {
    let BrokerSpec {
        port,
        broker_id,
        namesrv_port,
        replication_port,
        replication,
        broker,
    } = spec;
    format!(
        "[broker]\nlisten_host = \"127.0.0.1\"\nlisten_port = {port}\nvip_port = false\n\
         broker_id = {broker_id}\nnamesrv_addrs = [\"127.0.0.1:{namesrv_port}\"]\nshards = 1\n\
         register_interval_ms = 1000\n{broker}\n\
         [store]\ndata_dir = \"{}\"\nsegment_size_bytes = 16777216\nread_cache_bytes = 16777216\n\n\
         [replication]\nlisten_port = {replication_port}\n{replication}",
        data_dir.display(),
    )
}

/// Writes `toml` to `<dir>/<file>` and spawns `bolide-broker [extra args]
/// --config` with it.
fn spawn_broker(dir: &Path, file: &str, name: String, toml: &str, extra_args: &[&str]) -> Proc {
    let config_path = dir.join(file);
    std::fs::write(&config_path, toml).expect("write broker config");
    let mut command = Command::new(workspace_bin("bolide-broker"));
    command.args(extra_args).arg("--config").arg(&config_path);
    Proc::spawn(name, command)
}

/// Waits until every port accepts connections.
fn wait_listening(what: &str, ports: &[u16]) {
    let started = Instant::now();
    for &port in ports {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < START_TIMEOUT,
                "{what} did not listen on :{port} within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running standalone broker; killed when dropped.
#[derive(Debug)]
pub struct Broker {
    proc: Proc,
    namesrv_port: u16,
    _dir: tempfile::TempDir,
}

impl Broker {
    /// Starts `bolide-broker --standalone` and waits until both its
    /// NameServer and broker ports accept connections.
    pub fn start() -> Broker {
        Broker::start_configured("", "")
    }

    /// [`Broker::start`] with further `[broker]` config lines.
    pub fn start_with(broker_lines: &str) -> Broker {
        Broker::start_configured(broker_lines, "")
    }

    /// [`Broker::start`] with further `[broker]` config lines, and a
    /// `broker.toml` ending with `extra` (further sections, such as
    /// `[transaction]`).
    pub fn start_configured(broker_lines: &str, extra: &str) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let (namesrv_port, broker_port) = (free_port(), free_port());
        let spec = BrokerSpec {
            port: broker_port,
            broker_id: 0,
            namesrv_port,
            replication_port: free_port(),
            replication: "",
            broker: broker_lines,
        };
        let toml = broker_toml(&spec, &dir.path().join("data")) + "\n" + extra;
        let name = format!("bolide-broker :{broker_port}");
        let proc = spawn_broker(dir.path(), "broker.toml", name, &toml, &["--standalone"]);
        wait_listening("bolide-broker", &[namesrv_port, broker_port]);
        Broker {
            proc,
            namesrv_port,
            _dir: dir,
        }
    }

    /// `127.0.0.1:PORT` of the embedded NameServer, what clients are given.
    pub fn namesrv(&self) -> String {
        format!("127.0.0.1:{}", self.namesrv_port)
    }

    /// Waits until the NameServer serves a route for `topic`. A topic
    /// auto-created by a send reaches the NameServer with the broker's next
    /// registration (within about a second); a consumer that starts before
    /// that finds no route and, being a real client, only looks again at its
    /// 30 s route refresh.
    pub fn wait_route(&self, topic: &str) {
        wait_for_route(self.namesrv_port, topic, "a route", |_| true);
    }

    /// What the broker logged (it is also printed when a test fails).
    pub fn log(&self) -> String {
        self.proc.dump()
    }
}

/// A NameServer, a SYNC_MASTER and its slave (`broker_id` 1, same broker
/// name), each its own process; whatever still runs is killed when dropped
/// (and every process's output printed if the test failed).
#[derive(Debug)]
pub struct ReplicaPair {
    // Held for their lifetime: killed on drop, output printed on failure.
    _namesrv: Proc,
    master: Proc,
    _slave: Proc,
    namesrv_port: u16,
    master_port: u16,
    slave_port: u16,
    _dir: tempfile::TempDir,
}

impl ReplicaPair {
    /// Starts the three and waits until the master reports its slave
    /// connected (so the first send is not answered SLAVE_NOT_AVAILABLE).
    pub fn start() -> ReplicaPair {
        let dir = tempfile::tempdir().expect("temp dir");
        let (namesrv_port, master_port, slave_port) = (free_port(), free_port(), free_port());
        let mut command = Command::new(workspace_bin("bolide-namesrv"));
        command.args(["--listen", &format!("127.0.0.1:{namesrv_port}")]);
        let namesrv = Proc::spawn(format!("bolide-namesrv :{namesrv_port}"), command);
        wait_listening("bolide-namesrv", &[namesrv_port]);

        let master_repl = free_port();
        let master = BrokerSpec {
            port: master_port,
            broker_id: 0,
            namesrv_port,
            replication_port: master_repl,
            replication: "role = \"sync_master\"\n",
            broker: "",
        };
        let toml = broker_toml(&master, &dir.path().join("master-data"));
        let name = format!("sync master :{master_port}");
        let master = spawn_broker(dir.path(), "master.toml", name, &toml, &[]);
        let slave_lines = format!(
            "role = \"slave\"\nmaster_addr = \"127.0.0.1:{master_repl}\"\n\
             metadata_sync_interval_ms = {METADATA_SYNC_MS}\n"
        );
        let slave = BrokerSpec {
            port: slave_port,
            broker_id: 1,
            namesrv_port,
            replication_port: free_port(),
            replication: &slave_lines,
            broker: "",
        };
        let toml = broker_toml(&slave, &dir.path().join("slave-data"));
        let name = format!("slave :{slave_port}");
        let slave = spawn_broker(dir.path(), "slave.toml", name, &toml, &[]);
        let pair = ReplicaPair {
            _namesrv: namesrv,
            master,
            _slave: slave,
            namesrv_port,
            master_port,
            slave_port,
            _dir: dir,
        };
        wait_listening("the brokers", &[master_port, slave_port]);
        pair.wait_slave_connected();
        pair
    }

    /// `127.0.0.1:PORT` of the NameServer, what clients are given.
    pub fn namesrv(&self) -> String {
        format!("127.0.0.1:{}", self.namesrv_port)
    }

    /// `127.0.0.1:PORT` of the master.
    pub fn master_addr(&self) -> String {
        format!("127.0.0.1:{}", self.master_port)
    }

    /// `127.0.0.1:PORT` of the slave.
    pub fn slave_addr(&self) -> String {
        format!("127.0.0.1:{}", self.slave_port)
    }

    /// Waits until the NameServer's route for `topic` lists both the master
    /// and the slave (clients learn the slave's address only from routes).
    pub fn wait_route(&self, topic: &str) {
        let (master, slave) = (quoted(&self.master_addr()), quoted(&self.slave_addr()));
        wait_for_route(
            self.namesrv_port,
            topic,
            "a route listing the master and the slave",
            |body| body.contains(&master) && body.contains(&slave),
        );
    }

    /// `kill -9` of the master: SIGKILL, then reaped.
    pub fn kill_master(&mut self) {
        self.master.kill();
    }

    /// Waits until the NameServer's route for `topic` lists the slave and
    /// no longer the master (it drops a broker whose connection closed).
    pub fn wait_master_unrouted(&self, topic: &str) {
        let (master, slave) = (quoted(&self.master_addr()), quoted(&self.slave_addr()));
        wait_for_route(
            self.namesrv_port,
            topic,
            "a route listing the slave and not the dead master",
            |body| !body.contains(&master) && body.contains(&slave),
        );
    }

    /// Until the master's runtime info counts a replication connection
    /// (one per shard; `replicaConnections`, `bolide-admin brokerStatus`).
    fn wait_slave_connected(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let status = admin::broker_status(&self.namesrv(), &self.master_addr());
            let connections = status.get("replicaConnections").map(String::as_str);
            if connections.is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n >= 1)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the slave did not connect to the master within {START_TIMEOUT:?}: {status:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn quoted(addr: &str) -> String {
    format!("\"{addr}\"")
}

/// Waits until the NameServer answers a route for `topic` whose body
/// satisfies `ok`; panics after [`START_TIMEOUT`].
fn wait_for_route(namesrv_port: u16, topic: &str, what: &str, ok: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let body = route_body(namesrv_port, topic);
        if body.as_deref().is_some_and(&ok) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} for {topic} at the NameServer within {START_TIMEOUT:?}; last answer: {body:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asks the NameServer for a topic route with a hand-built
/// GET_ROUTEINFO_BY_TOPIC (105) frame: `total length | header length | JSON
/// header`, both lengths big-endian i32, serialize type 0 (JSON) in the
/// header length's top byte. The route's JSON text when it answers SUCCESS
/// (0); none otherwise or when it cannot be asked.
fn route_body(namesrv_port: u16, topic: &str) -> Option<String> {
    let ask = || -> std::io::Result<Option<String>> {
        let mut conn = TcpStream::connect(("127.0.0.1", namesrv_port))?;
        conn.set_read_timeout(Some(Duration::from_secs(3)))?;
        let header = serde_json::json!({
            "code": 105, "language": "JAVA", "version": 401, "opaque": 1, "flag": 0,
            "extFields": {"topic": topic},
        })
        .to_string();
        let mut frame = ((4 + header.len()) as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&(header.len() as i32).to_be_bytes());
        frame.extend_from_slice(header.as_bytes());
        conn.write_all(&frame)?;
        let mut len = [0u8; 4];
        conn.read_exact(&mut len)?;
        let mut rest = vec![0u8; i32::from_be_bytes(len).clamp(4, 1 << 24) as usize];
        conn.read_exact(&mut rest)?;
        let header_len =
            (u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) & 0x00FF_FFFF) as usize;
        let (header, body) = match rest.get(4..4 + header_len) {
            Some(h) => (h, &rest[4 + header_len..]),
            None => return Ok(None),
        };
        let header: serde_json::Value = serde_json::from_slice(header).unwrap_or_default();
        Ok((header["code"] == 0).then(|| String::from_utf8_lossy(body).into_owned()))
    };
    ask().ok().flatten()
}

/// A port nobody listens on right now (bound and released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The cargo target directory this test binary was built into
/// (`<target>/<profile>/deps/<test exe>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors()
        .nth(3)
        .expect("test exe lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// A binary of the main workspace, built into the same target directory and
/// profile as this test (`cargo test --workspace` builds the broker's; `.ci/run`
/// builds all of them first). `BOLIDE_BIN_DIR` overrides the directory.
pub fn workspace_bin(name: &str) -> PathBuf {
    let dir = match std::env::var_os("BOLIDE_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("current exe");
            exe.ancestors()
                .nth(2)
                .expect("<target>/<profile>")
                .to_path_buf()
        }
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build --workspace --bins` \
         (or set BOLIDE_BIN_DIR to the directory holding it)",
        path.display()
    );
    path
}
