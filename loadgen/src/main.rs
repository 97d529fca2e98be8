//! `bolide-loadgen` — throughput and latency of a RocketMQ-compatible
//! broker, in the spirit of RocketMQ's benchmark tool. It speaks the
//! standard remoting protocol (routes from the NameServer, SEND_MESSAGE_V2 /
//! SEND_BATCH_MESSAGE, PULL_MESSAGE), so it can drive any such broker; with
//! `--embedded` it starts a Bolide NameServer + broker in-process first.
//!
//! Modules: [`args`] (options), [`cluster`] (routes, topic creation,
//! connections), [`produce`], [`consume`], [`stats`] (progress line and
//! hdrhistogram report).

mod args;
mod cluster;
mod consume;
mod produce;
mod stats;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use args::{Flush, Mode, Options};
use hdrhistogram::Histogram;

/// Wall-clock milliseconds (born timestamps and end-to-end latency).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// An in-process NameServer + broker, kept alive for the run.
struct Embedded {
    _namesrv: bolide_namesrv::server::NamesrvHandle,
    _broker: bolide_broker::runtime::BrokerHandle,
    _data: tempfile::TempDir,
}

fn start_embedded(o: &mut Options) -> Result<Embedded, String> {
    let ns_config = bolide_namesrv::config::NamesrvConfig {
        listen_addr: "127.0.0.1:0".into(),
        ..Default::default()
    };
    let namesrv = bolide_namesrv::server::spawn(ns_config).map_err(|e| e.to_string())?;
    let data = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut c = bolide_broker::config::BrokerConfig::default();
    c.broker.listen_host = "127.0.0.1".into();
    c.broker.listen_port = port;
    c.broker.vip_port = false;
    c.broker.namesrv_addrs = vec![namesrv.addr().to_string()];
    c.broker.shards = o.embedded_shards;
    c.broker.spin_before_park_us = o.spin_us;
    c.store.data_dir = data.path().to_path_buf();
    c.store.flush_mode = match o.embedded_flush {
        Flush::Async => bolide_broker::config::FlushModeName::Async,
        Flush::Sync => bolide_broker::config::FlushModeName::Sync,
        Flush::Memory => bolide_broker::config::FlushModeName::Memory,
    };
    let broker = bolide_broker::runtime::start(c)?;
    o.namesrv = namesrv.addr().to_string();
    println!(
        "embedded broker on {} (NameServer {}), data in {}",
        broker.addr(),
        o.namesrv,
        data.path().display()
    );
    Ok(Embedded {
        _namesrv: namesrv,
        _broker: broker,
        _data: data,
    })
}

fn run(o: Options) -> Result<String, String> {
    let shared = Arc::new(produce::Shared {
        counters: Arc::default(),
        stop: Arc::new(AtomicBool::new(false)),
        remaining: Arc::new(AtomicI64::new(if o.count > 0 {
            o.count as i64
        } else {
            -1
        })),
    });
    let progress_done = Arc::new(AtomicBool::new(false));
    let progress = stats::spawn_progress(shared.counters.clone(), progress_done.clone());
    let started = Instant::now();
    let threads: Vec<_> = (0..o.threads)
        .map(|i| {
            let (o, shared) = (o.clone(), shared.clone());
            let producers = o.producers / o.threads + usize::from(i < o.producers % o.threads);
            glommio::LocalExecutorBuilder::new(client_placement(o.spin_us))
                .name(&format!("loadgen-{i}"))
                .spin_before_park(std::time::Duration::from_micros(o.spin_us))
                .spawn(move || async move {
                    match o.mode {
                        Mode::Produce => produce::run_thread(o, producers, shared).await,
                        Mode::Consume => consume::run_thread(o.clone(), i, o.threads, shared).await,
                    }
                })
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    if o.count == 0 {
        while started.elapsed() < o.duration && !shared.stop.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        shared.stop.store(true, Ordering::Relaxed);
    }
    let mut total: Histogram<u64> = stats::new_histogram();
    let mut first_error = None;
    for t in threads {
        match t.join() {
            Ok(Ok(h)) => {
                let _ = total.add(&h);
            }
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(e) => first_error = first_error.or(Some(e.to_string())),
        }
    }
    let elapsed = started.elapsed();
    progress_done.store(true, Ordering::Relaxed);
    let _ = progress.join();
    if let Some(e) = first_error {
        return Err(e);
    }
    let c = &shared.counters;
    let what = match o.mode {
        Mode::Produce => "produce (send latency)",
        Mode::Consume => "consume (end-to-end latency)",
    };
    let mut report = stats::report(
        what,
        c.messages.load(Ordering::Relaxed),
        c.bytes.load(Ordering::Relaxed),
        c.errors.load(Ordering::Relaxed),
        elapsed,
        &total,
    );
    for cause in c.error_causes() {
        report.push_str(&format!("error: {cause}\n"));
    }
    Ok(report)
}

/// The broker's allocator (see the workspace's `Cargo.toml`): measured
/// against it, the load generator should not spend the shared cores in
/// the system allocator either.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // clap prints help and version (exit 0) and usage errors (exit 2).
    let matches = args::command().get_matches();
    let mut options = match args::from_matches(&matches) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bolide-loadgen: {e}\n\n{}", args::command().render_usage());
            std::process::exit(2);
        }
    };
    let _embedded = if options.embedded {
        match start_embedded(&mut options) {
            Ok(e) => Some(e),
            Err(e) => {
                eprintln!("bolide-loadgen: cannot start the embedded broker: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    match run(options) {
        Ok(report) => print!("{report}"),
        Err(e) => {
            eprintln!("bolide-loadgen: {e}");
            std::process::exit(1);
        }
    }
}

/// Where a client thread runs. glommio spins before parking only on an
/// executor bound to CPUs, so `--spin-us` above 0 fences the thread to the
/// CPUs this process may use (the kernel still places it); 0 leaves it
/// unbound, sleeping as soon as it is idle.
fn client_placement(spin_us: u64) -> glommio::Placement {
    if spin_us == 0 {
        return glommio::Placement::Unbound;
    }
    let allowed = bolide_transport::rt::allowed_cpus();
    let cpus = glommio::CpuSet::online().map(|set| set.filter(|l| allowed.contains(&l.cpu)));
    match cpus {
        Ok(cpus) if !allowed.is_empty() => glommio::Placement::Fenced(cpus),
        _ => glommio::Placement::Unbound,
    }
}
