//! The simulation in CI: a bounded number of seeds, each checked against
//! every invariant, and a replay that must match its first run exactly.
//! `BOLIDE_SIM_SEEDS=N` runs N seeds (a long run; or `bolide-sim --seeds N`).

use bolide_sim::Options;

const CI_SEEDS: u64 = 48;

#[test]
fn every_seed_keeps_every_promise() {
    let seeds = std::env::var("BOLIDE_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS);
    let mut faults = (0, 0, 0);
    for seed in 0..seeds {
        match bolide_sim::run(Options::for_seed(seed)) {
            Ok(s) => {
                faults.0 += s.kills;
                faults.1 += s.power_losses;
                faults.2 += s.disk_full_windows;
                // The broker's two shards served each other over the mesh.
                assert!(s.crossed > 0, "seed {seed}: nothing crossed the mesh");
            }
            Err(e) => {
                panic!("seed {seed}: {e}\nreplay: cargo run -p bolide-sim -- --seed {seed} --trace")
            }
        }
    }
    // The seeds did inject what they are meant to.
    assert!(faults.0 > 0 && faults.1 > 0 && faults.2 > 0, "{faults:?}");
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [3, 11] {
        let first = bolide_sim::run(Options::for_seed(seed)).unwrap();
        let again = bolide_sim::run(Options::for_seed(seed)).unwrap();
        assert_eq!(first, again);
        assert!(first.acked > 0 && first.deliveries >= first.acked as u64);
    }
}
