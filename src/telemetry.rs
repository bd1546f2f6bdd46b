//! Logging on stderr, filtered by `ATTRIB_LOG`, as lines for people or one JSON object
//! per line (`ATTRIB_LOG_FORMAT`) with the fields of the event and of the spans it happened
//! in at the top level, so `request_id` sits beside `message` for a log pipeline to index.

use std::fmt;

use tracing_subscriber::{filter::Directive, fmt::time::SystemTime, prelude::*, EnvFilter};

/// `ATTRIB_LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `ATTRIB_LOG`, parsed: the directives of an [`EnvFilter`]. The settings keep these
/// rather than the filter, which cannot be cloned, so the string is parsed only once.
#[derive(Clone)]
pub struct LogFilter {
    directives: Vec<Directive>,
    /// As given, for the settings' `Debug` output.
    raw: String,
}

impl LogFilter {
    /// What `EnvFilter::try_new` accepts, and refused with its reason.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let directives = raw
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::parse::<Directive>)
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        Ok(LogFilter {
            directives,
            raw: raw.to_owned(),
        })
    }
}

impl fmt::Debug for LogFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.raw, f)
    }
}

impl LogFilter {
    fn env_filter(&self) -> EnvFilter {
        self.directives
            .iter()
            .cloned()
            .fold(EnvFilter::default(), EnvFilter::add_directive)
    }
}

pub fn init(filter: &LogFilter, format: LogFormat) {
    let filter = filter.env_filter();
    // A second init (tests building several apps) is harmless: the first one wins.
    let _ = match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init()
            .map_err(|e| e.to_string()),
        LogFormat::Json => {
            let mut json = json_subscriber::JsonLayer::stderr();
            json.with_timer("timestamp", SystemTime)
                .with_level("level")
                .with_target("target")
                .with_flattened_event()
                .with_top_level_flattened_span_list();
            tracing_subscriber::registry()
                .with(filter)
                .with(json)
                .try_init()
                .map_err(|e| e.to_string())
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_read_as_env_filter_reads_them() {
        for raw in [
            "info,sqlx=warn",
            "attrib=debug,,",
            "warn,attrib[span{id=1}]=trace",
            "attrib=loud",
            "=x",
        ] {
            match (LogFilter::parse(raw), EnvFilter::try_new(raw)) {
                (Ok(ours), Ok(theirs)) => {
                    assert_eq!(ours.env_filter().to_string(), theirs.to_string(), "{raw}")
                }
                (ours, theirs) => assert_eq!(ours.is_ok(), theirs.is_ok(), "{raw}"),
            }
        }
    }
}
