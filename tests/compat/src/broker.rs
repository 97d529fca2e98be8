//! The real `bolide-broker` binary in standalone mode (broker + NameServer in
//! one process) on loopback ports, with a temporary data directory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::proc::Proc;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running standalone broker; killed when dropped.
#[derive(Debug)]
pub struct Broker {
    proc: Proc,
    namesrv_port: u16,
    broker_port: u16,
    _dir: tempfile::TempDir,
}

impl Broker {
    /// Starts `bolide-broker --standalone` and waits until both its
    /// NameServer and broker ports accept connections.
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let (namesrv_port, broker_port) = (free_port(), free_port());
        // The VIP port (listen_port - 2) is off: it could collide with
        // another test's port. One shard: the CI machine has two cores
        // shared by everything running.
        let config = format!(
            "[broker]\nlisten_host = \"127.0.0.1\"\nlisten_port = {broker_port}\nvip_port = false\n\
             namesrv_addrs = [\"127.0.0.1:{namesrv_port}\"]\nshards = 1\nregister_interval_ms = 1000\n\n\
             [store]\ndata_dir = \"{}\"\nsegment_size_bytes = 16777216\nread_cache_bytes = 16777216\n",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("broker.toml");
        std::fs::write(&config_path, config).expect("write broker.toml");
        let mut command = Command::new(workspace_bin("bolide-broker"));
        command
            .arg("--standalone")
            .arg("--config")
            .arg(&config_path);
        let proc = Proc::spawn(format!("bolide-broker :{broker_port}"), command);
        let broker = Broker {
            proc,
            namesrv_port,
            broker_port,
            _dir: dir,
        };
        broker.wait_listening();
        broker
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
        let deadline = Instant::now() + START_TIMEOUT;
        while !has_route(self.namesrv_port, topic) {
            assert!(
                Instant::now() < deadline,
                "no route for {topic} at the NameServer within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the broker logged (it is also printed when a test fails).
    pub fn log(&self) -> String {
        self.proc.dump()
    }

    fn wait_listening(&self) {
        let started = Instant::now();
        for port in [self.namesrv_port, self.broker_port] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    started.elapsed() < START_TIMEOUT,
                    "bolide-broker did not listen on :{port} within {START_TIMEOUT:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Asks the NameServer for a topic route with a hand-built
/// GET_ROUTEINFO_BY_TOPIC (105) frame: `total length | header length | JSON
/// header`, both lengths big-endian i32, serialize type 0 (JSON) in the
/// header length's top byte. True when it answers SUCCESS (0).
fn has_route(namesrv_port: u16, topic: &str) -> bool {
    let ask = || -> std::io::Result<bool> {
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
        let header = rest.get(4..4 + header_len).unwrap_or_default();
        let header: serde_json::Value = serde_json::from_slice(header).unwrap_or_default();
        Ok(header["code"] == 0)
    };
    ask().unwrap_or(false)
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
