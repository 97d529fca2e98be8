//! Log output of the server binaries: tracing events to stderr, level from
//! `BOLIDE_LOG` (error, warn, info, debug, trace; default info). Colour
//! codes only when stderr is a terminal: a log file or journal gets plain
//! text an operator can grep.

use std::io::IsTerminal;

use tracing::Level;

/// Installs the global subscriber (once; later calls do nothing).
pub fn init() {
    let level = std::env::var("BOLIDE_LOG")
        .ok()
        .and_then(|v| v.parse::<Level>().ok())
        .unwrap_or(Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
