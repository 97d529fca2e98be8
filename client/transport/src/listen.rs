//! How every Bolide server (NameServer and broker) takes its listening
//! port, so that a port has one owner process.
//!
//! Listeners set SO_REUSEPORT: each shard of a broker binds the same port
//! and the kernel spreads connections over them. That option also lets a
//! second process join the port (and a reuseport bind of 0.0.0.0:P succeeds
//! beside a reuseport 127.0.0.1:P), silently taking part of its
//! connections; so before binding, a server calls [`probe_listen_addr`]
//! once, and refuses to start if anyone listens there.
//!
//! Listeners also set SO_REUSEADDR. The connections they accept inherit
//! it, and a connection of a stopped (or killed) server left in TIME_WAIT
//! or FIN_WAIT2 then does not conflict with the next start's probe; without
//! it, every restart within about a minute of dropping a client would be
//! refused.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::rt::local_channel::LocalReceiver;
use crate::rt::{TcpListener, TcpStream};

/// Queue of connections not yet accepted, per listener.
const LISTEN_BACKLOG: libc::c_int = 1024;
/// How long a taken address is re-probed before the start is refused.
/// Tearing down a killed server's io_uring waits for its in-flight disk
/// writes; on a loaded machine that took over 2 s (a CI run refused a
/// restart after a kill -9 with a 2 s grace).
pub const PROBE_GRACE: Duration = Duration::from_secs(10);
/// Pause between probes within [`PROBE_GRACE`].
const PROBE_RETRY: Duration = Duration::from_millis(50);

/// Fails (`AddrInUse`, with a message naming `addr`) if any socket already
/// listens on `addr` or on an address overlapping it.
///
/// The probe is a plain socket: SO_REUSEADDR (std sets it) but no
/// SO_REUSEPORT, so its bind conflicts with every listener on the port,
/// reuseport or not, wildcard or specific, but not with leftover
/// connections of a previous run (see the module docs). A process binding
/// between the probe and the real bind is not caught; starting the same
/// server twice is.
///
/// A taken address is re-probed for [`PROBE_GRACE`]: the listener of a
/// server killed a moment ago outlives it while the kernel tears down its
/// io_uring (tens of milliseconds, seconds under load), and a restart
/// right after a kill -9 must not be refused for that.
pub fn probe_listen_addr(addr: SocketAddr) -> io::Result<()> {
    probe_within(addr, PROBE_GRACE)
}

fn probe_within(addr: SocketAddr, grace: Duration) -> io::Result<()> {
    let started = Instant::now();
    let mut warned = false;
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(probe) => {
                drop(probe);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                if started.elapsed() >= grace {
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "{addr} is already in use: another process listens on it or on \
                             an overlapping address (is another bolide-broker or \
                             bolide-namesrv running?)"
                        ),
                    ));
                }
                if !warned {
                    warned = true;
                    tracing::warn!(
                        %addr,
                        "address taken; waiting up to {grace:?} for it to be released \
                         (a server killed a moment ago lingers while the kernel tears it down)"
                    );
                }
                std::thread::sleep(PROBE_RETRY);
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot listen on {addr}: {e}"),
                ))
            }
        }
    }
}

/// A listening socket on `addr` with SO_REUSEPORT and SO_REUSEADDR, owned
/// by the calling executor.
pub fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let fd = reuse_listen_socket(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    // SAFETY: a bound, listening TCP socket whose ownership passes to the
    // listener, which closes it on drop.
    Ok(unsafe { TcpListener::from_raw_fd(fd.into_raw_fd()) })
}

fn reuse_listen_socket(addr: SocketAddr) -> io::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain syscall; the result is checked before use.
    let raw = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    for option in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        let on: libc::c_int = 1;
        // SAFETY: a valid descriptor and a c_int option value of its size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        check(rc)?;
    }
    let (storage, len) = socket_addr(addr);
    // SAFETY: `storage` holds a sockaddr of `len` bytes for the family.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
        )
    })?;
    // SAFETY: a valid, bound descriptor.
    check(unsafe { libc::listen(fd.as_raw_fd(), LISTEN_BACKLOG) })?;
    Ok(fd)
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `addr` as the C sockaddr bind(2) takes, and its length.
fn socket_addr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The next connection on `listener`, or `None` once `stopped` closes (its
/// senders dropped): how an accept loop ends at shutdown.
pub async fn accept_or_stop(
    listener: &TcpListener,
    stopped: &LocalReceiver<()>,
) -> Option<io::Result<TcpStream>> {
    let accepted = async { Some(listener.accept().await.map_err(io::Error::from)) };
    let stop = async {
        stopped.recv().await;
        None
    };
    futures_lite::future::or(accepted, stop).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enough for a refusal to be a refusal, without waiting out the real
    /// grace in every test.
    const SHORT_GRACE: Duration = Duration::from_millis(200);

    fn loopback_any_port() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[test]
    fn probe_refuses_a_port_with_a_listener_on_any_overlapping_address() {
        let held = std::net::TcpListener::bind(loopback_any_port()).unwrap();
        let port = held.local_addr().unwrap().port();
        for addr in [format!("127.0.0.1:{port}"), format!("0.0.0.0:{port}")] {
            let err = probe_within(addr.parse().unwrap(), SHORT_GRACE).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{addr}");
            assert!(err.to_string().contains(&addr), "{err}");
        }
        drop(held);
        probe_listen_addr(format!("127.0.0.1:{port}").parse().unwrap()).unwrap();
    }

    #[test]
    fn probe_refuses_a_port_shared_by_reuseport_listeners() {
        let first = std::net::TcpListener::from(reuse_listen_socket(loopback_any_port()).unwrap());
        let addr = first.local_addr().unwrap();
        let second_shard = reuse_listen_socket(addr).unwrap();
        let wildcard: SocketAddr = format!("0.0.0.0:{}", addr.port()).parse().unwrap();
        let intruder = reuse_listen_socket(wildcard);
        assert!(intruder.is_ok(), "reuseport alone lets anyone join");
        assert!(probe_within(wildcard, SHORT_GRACE).is_err());
        assert!(probe_within(addr, SHORT_GRACE).is_err());
        drop((first, second_shard, intruder));
    }

    #[test]
    fn probe_ignores_connections_left_by_a_closed_listener() {
        let fd = reuse_listen_socket(loopback_any_port()).unwrap();
        let listener = std::net::TcpListener::from(fd);
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        // The server closes first: its side lingers (FIN_WAIT2, TIME_WAIT).
        drop(server_side);
        drop(listener);
        probe_listen_addr(addr).unwrap();
        drop(client);
    }

    #[test]
    fn probe_waits_out_a_listener_that_goes_away_within_the_grace() {
        let held = std::net::TcpListener::bind(loopback_any_port()).unwrap();
        let addr = held.local_addr().unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(PROBE_GRACE / 10);
            drop(held);
        });
        probe_listen_addr(addr).unwrap();
        release.join().unwrap();
    }

    #[test]
    fn binds_ipv6_too() {
        let fd = match reuse_listen_socket("[::1]:0".parse().unwrap()) {
            Ok(fd) => fd,
            // No IPv6 on this host: nothing to check.
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => return,
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => return,
            Err(e) => panic!("{e}"),
        };
        let addr = std::net::TcpListener::from(fd).local_addr().unwrap();
        assert!(addr.is_ipv6() && addr.port() != 0);
    }
}
