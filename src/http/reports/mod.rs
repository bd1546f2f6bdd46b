//! The analyst reports (analyst or admin scope), all read from the rollups:
//! - `GET /v1/reports/campaigns/{id}`: totals, KPIs, cost by component, goal and budget;
//! - `GET /v1/reports/campaigns/{id}/influencers`: the same per enrolled influencer, ranked;
//! - `GET /v1/reports/timeseries`: hour or day buckets in the asked time zone;
//! - `GET /v1/reports/breakdown`: clicks by a click dimension, link or code.
//!
//! Each takes `from`, `to`, `tz` and `format=csv` ([`params`]).

pub(super) mod breakdown;
mod csv;
pub mod params;
pub(super) mod scorecard;
pub(super) mod series;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    error::ApiError,
    ingest_lag,
    routes::{at, Endpoint},
    wire::path_id,
};
use crate::{
    domain::money::Currency,
    state::AppState,
    storage::{campaigns, campaigns::Campaign},
};

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        at("/reports/campaigns/{id}").get(scorecard::campaign_report),
        at("/reports/campaigns/{id}/influencers").get(scorecard::influencer_report),
        at("/reports/timeseries").get(series::timeseries),
        at("/reports/breakdown").get(breakdown::breakdown),
    ]
}

async fn campaign(state: &AppState, raw_id: &str) -> Result<Campaign, ApiError> {
    let id = path_id(raw_id.trim(), "campaign")?;
    campaigns::get(&state.reports_db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("campaign"))
}

/// The default period of a campaign's reports: its dates, up to now while it runs.
fn campaign_period(campaign: &Campaign, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let to = campaign.ends_at.unwrap_or(now);
    // A campaign that has not started yet still has a (first) hour to report on.
    (
        campaign.starts_at,
        to.max(campaign.starts_at + Duration::hours(1)),
    )
}

/// Adds how fresh a report is: `as_of` (the moment its figures are of: now, or on a
/// reporting replica the commit of the last transaction it replayed) and `ingest_lag_seconds`
/// (how long the oldest event not yet in the rollups has been waiting, in a stream or in
/// the outbox; `null` when that cannot be told, with Redis or Postgres not answering).
/// Which campaign and period a report covers: the period widened to whole UTC hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct Period {
    campaign_id: String,
    currency: Currency,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// The IANA time zone dates were read in.
    tz: String,
}

/// How fresh a report is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Freshness {
    as_of: DateTime<Utc>,
    /// How long the oldest event not yet in the report has waited; `null` when Redis or
    /// Postgres did not answer.
    ingest_lag_seconds: Option<f64>,
}

impl Freshness {
    /// Read from a reporting replica, the figures are those the primary had when the
    /// replica's last replayed transaction committed: `as_of` is that moment, and what the
    /// replica has not replayed yet counts as waiting.
    async fn now(state: &AppState) -> Self {
        let now = Utc::now();
        if state.settings.reports_database.is_none() {
            return Freshness {
                as_of: now,
                ingest_lag_seconds: ingest_lag::seconds(state, now).await,
            };
        }
        let (waiting, behind) = tokio::join!(
            ingest_lag::seconds(state, now),
            crate::storage::replay_delay_seconds(&state.reports_db)
        );
        match behind {
            Ok(behind) => Freshness {
                as_of: now - chrono::Duration::milliseconds((behind * 1000.0) as i64),
                ingest_lag_seconds: waiting.map(|waited| waited.max(behind)),
            },
            Err(_) => Freshness {
                as_of: now,
                ingest_lag_seconds: None,
            },
        }
    }
}
