//! Round-trip time of the remoting transport alone: sequential requests
//! with an unknown code, which a Bolide server answers at once.
//!
//! `cargo run --release -p bolide-client --example ping -- 127.0.0.1:10911 20000`

use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide_client::remoting::{Connection, NoInbound};
use bolide_proto::RemotingCommand;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:10911".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let addr = addr.parse().expect("ip:port");
    let spin_us: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let rtts = glommio::LocalExecutorBuilder::default()
        .spin_before_park(Duration::from_micros(spin_us))
        .spawn(move || async move {
            let conn =
                Connection::connect(addr, Rc::new(NoInbound), 1 << 20, Duration::from_secs(3))
                    .await
                    .expect("connect");
            let mut rtts = Vec::with_capacity(count);
            for _ in 0..count {
                let t0 = Instant::now();
                let _ = conn
                    .invoke(RemotingCommand::request(9999), Duration::from_secs(3))
                    .await;
                rtts.push(t0.elapsed().as_micros() as u64);
            }
            rtts
        })
        .expect("executor")
        .join()
        .expect("ping thread");
    let mut sorted = rtts;
    sorted.sort_unstable();
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    println!(
        "{} pings: p50 {} us, p90 {} us, p99 {} us",
        sorted.len(),
        at(0.5),
        at(0.9),
        at(0.99)
    );
}
