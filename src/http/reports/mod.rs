//! The analyst reports (analyst or admin scope), all read from the rollups:
//! - `GET /v1/reports/campaigns/{id}`: totals, KPIs, cost by component, goal and budget;
//! - `GET /v1/reports/campaigns/{id}/influencers`: the same per enrolled influencer, ranked;
//! - `GET /v1/reports/timeseries`: hour or day buckets in the asked time zone;
//! - `GET /v1/reports/breakdown`: clicks by a click dimension, link or code.
//!
//! Each takes `from`, `to`, `tz` and `format=csv` ([`params`]).

mod breakdown;
mod csv;
pub mod params;
mod scorecard;
mod series;

use actix_web::web;
use chrono::{DateTime, Duration, Utc};

use super::{error::ApiError, ingest_lag, resource, wire::path_id};
use crate::{
    state::AppState,
    storage::{campaigns, campaigns::Campaign},
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/reports/campaigns/{id}").get(scorecard::campaign_report))
        .service(resource("/reports/campaigns/{id}/influencers").get(scorecard::influencer_report))
        .service(resource("/reports/timeseries").get(series::timeseries))
        .service(resource("/reports/breakdown").get(breakdown::breakdown));
}

/// A campaign named by a path or query id; ids are opaque, so a malformed one is simply
/// not found.
async fn campaign(state: &AppState, raw_id: &str) -> Result<Campaign, ApiError> {
    let id = path_id(raw_id.trim(), "campaign")?;
    campaigns::get(&state.db, id)
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

/// Adds how fresh a report is: `as_of` (when it was computed) and `ingest_lag_seconds`
/// (how long the oldest event not yet in the rollups has been waiting, in a stream or in
/// the outbox; `null` when that cannot be told, with Redis or Postgres not answering).
async fn add_freshness(state: &AppState, body: &mut serde_json::Map<String, serde_json::Value>) {
    let as_of = Utc::now();
    let ingest_lag_seconds = ingest_lag::seconds(state, as_of).await;
    body.insert("as_of".into(), serde_json::json!(as_of));
    body.insert(
        "ingest_lag_seconds".into(),
        serde_json::json!(ingest_lag_seconds),
    );
}
