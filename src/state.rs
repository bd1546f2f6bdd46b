//! What every request handler can reach: the process's connections, caches and limits,
//! built once by [`crate::startup`] and shared by the HTTP workers.

use std::sync::Arc;

use sqlx::PgPool;

use crate::{
    cache::{api_keys::KeyCache, code_terms::CodeTermsCache, links::LinkCache},
    checkout::redeemer::Redeemer,
    config::Settings,
    domain::{click_id::ClickSigner, visitor::VisitorKey},
    enrich::geo::GeoIp,
    metrics::Metrics,
    pipeline::{connection::SharedConnection, keys::Keys},
    throttle::MissLimiter,
};

pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: PgPool,
    /// Where the report routes read: the reporting replica, or `db` when there is none.
    pub reports_db: PgPool,
    pub redis: redis::Client,
    pub keys: Keys,
    pub links: Arc<LinkCache>,
    pub signer: ClickSigner,
    /// Keys the cookieless visitor id.
    pub visitor_key: VisitorKey,
    pub geoip: Option<Arc<GeoIp>>,
    pub redis_commands: SharedConnection,
    pub metrics: Arc<Metrics>,
    /// Decides concurrent redemptions in batches.
    pub redeemer: Redeemer,
    pub api_keys: Arc<KeyCache>,
    pub code_terms: Arc<CodeTermsCache>,
    /// Per-address limits on unknown slugs and failed key look-ups.
    pub misses: Arc<MissLimiter>,
}
