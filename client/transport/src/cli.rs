//! Command-line plumbing the four binaries share: `host:port` arguments
//! resolved to socket addresses, so operators can type `localhost:9876`
//! as they do with RocketMQ's tools while configs keep storing `ip:port`.

use std::net::{SocketAddr, ToSocketAddrs};

/// `ip:port` as is; `host:port` resolved (an IPv4 answer preferred, since
/// brokers advertise IPv4 and NameServers key brokers by that text).
pub fn resolve_addr(addr: &str) -> Result<SocketAddr, String> {
    let addr = addr.trim();
    if let Ok(parsed) = addr.parse() {
        return Ok(parsed);
    }
    let bad = || format!("{addr:?} is not ip:port or host:port");
    if addr.rsplit_once(':').is_none_or(|(h, _)| h.is_empty()) {
        return Err(bad());
    }
    let found: Vec<SocketAddr> = addr.to_socket_addrs().map_err(|_| bad())?.collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(bad)
}

/// A `;`-separated list (RocketMQ's `-n` syntax), each entry resolved;
/// empty entries are skipped.
pub fn resolve_addr_list(list: &str) -> Result<Vec<SocketAddr>, String> {
    list.split(';')
        .filter(|a| !a.trim().is_empty())
        .map(resolve_addr)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_hostnames_resolve() {
        let ip: SocketAddr = "127.0.0.1:9876".parse().unwrap();
        assert_eq!(resolve_addr(" 127.0.0.1:9876 ").unwrap(), ip);
        let local = resolve_addr("localhost:9876").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 9876, "{local}");
        assert_eq!(
            resolve_addr_list("127.0.0.1:1;;localhost:2").unwrap().len(),
            2
        );
        for bad in ["", "9876", ":9876", "localhost", "localhost:port"] {
            assert!(resolve_addr(bad).is_err(), "{bad:?}");
        }
    }
}
