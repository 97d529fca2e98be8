//! The annotated example configs of `deploy/examples/` are what the broker
//! accepts (parsed and validated as `bolide-broker --config` does), and
//! each master / slave pair there can work together: same group, cluster,
//! NameServers and shard count, the roles and broker ids their names say,
//! and a slave whose `master_addr` (when set) is its master's replication
//! port.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bolide_broker::config::{BrokerConfig, Role};

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples")
}

/// Every `*.toml` of `deploy/examples/`, by file stem, parsed and
/// validated.
fn examples() -> BTreeMap<String, BrokerConfig> {
    let dir = examples_dir();
    let mut configs = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let config = BrokerConfig::from_toml(&text)
            .unwrap_or_else(|e| panic!("{} is refused: {e}", path.display()));
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        configs.insert(stem, config);
    }
    configs
}

fn example<'a>(all: &'a BTreeMap<String, BrokerConfig>, name: &str) -> &'a BrokerConfig {
    all.get(name)
        .unwrap_or_else(|| panic!("deploy/examples/{name}.toml is missing"))
}

#[test]
fn every_example_parses_and_validates() {
    let all = examples();
    for name in ["broker-a-master", "broker-a-sync-master", "broker-a-slave"] {
        example(&all, name);
    }
}

#[test]
fn roles_and_broker_ids_match_the_file_names() {
    for (name, c) in &examples() {
        let role = c.replication.role;
        if name.ends_with("-slave") {
            assert_eq!(role, Role::Slave, "{name}");
            assert!(c.broker.broker_id >= 1, "{name}: a slave's broker_id");
        } else {
            assert!(role.is_master(), "{name}: {role:?}");
            assert_eq!(c.broker.broker_id, 0, "{name}: a master's broker_id");
            let sync = name.contains("sync-master");
            assert_eq!(role == Role::SyncMaster, sync, "{name}: {role:?}");
        }
    }
}

#[test]
fn each_slave_fits_every_master_of_its_group() {
    let all = examples();
    let slaves = all
        .iter()
        .filter(|(_, c)| c.replication.role == Role::Slave);
    let mut pairs = 0;
    for (slave_name, slave) in slaves {
        let masters = all.iter().filter(|(_, c)| {
            c.replication.role.is_master() && c.broker.broker_name == slave.broker.broker_name
        });
        for (master_name, master) in masters {
            let pair = format!("{slave_name} / {master_name}");
            assert_eq!(
                slave.broker.cluster_name, master.broker.cluster_name,
                "{pair}"
            );
            assert_eq!(
                slave.broker.namesrv_addrs, master.broker.namesrv_addrs,
                "{pair}"
            );
            // Pinned, not "one per CPU": the two hosts may differ.
            assert_ne!(master.broker.shards, 0, "{pair}: pin broker.shards");
            assert_eq!(slave.broker.shards, master.broker.shards, "{pair}");
            assert_ne!(
                slave.broker.advertised_host, master.broker.advertised_host,
                "{pair}: a slave on its own host"
            );
            let ha = format!(
                "{}:{}",
                master.broker.advertised_host,
                master.replication_port()
            );
            let followed = &slave.replication.master_addr;
            assert!(
                followed.is_empty() || *followed == ha,
                "{pair}: master_addr {followed:?}, the master's replication address is {ha}"
            );
            pairs += 1;
        }
    }
    assert!(
        pairs >= 2,
        "a slave example with its async and sync masters"
    );
}

#[test]
fn the_sync_master_differs_from_the_async_one_only_in_its_role() {
    let all = examples();
    let mut sync = example(&all, "broker-a-sync-master").clone();
    sync.replication.role = Role::AsyncMaster;
    assert_eq!(&sync, example(&all, "broker-a-master"));
}
