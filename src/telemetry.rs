//! Logging: human-readable lines on stderr, filtered by `ATTRIB_LOG`.

use tracing_subscriber::EnvFilter;

/// `filter` was validated with the settings; an invalid one falls back to `info`.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests building several apps) is harmless: the first one wins.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
