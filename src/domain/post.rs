//! Posts' metric snapshots.

use serde::{Deserialize, Serialize};

/// Where a snapshot's numbers came from; reports say how much was self-reported. Stored as
/// its wire name in a `text` column; a stored value that is none of them does not decode.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum MetricSource {
    SelfReported,
    Verified,
    Api,
}

impl MetricSource {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricSource::SelfReported => "self_reported",
            MetricSource::Verified => "verified",
            MetricSource::Api => "api",
        }
    }
}
