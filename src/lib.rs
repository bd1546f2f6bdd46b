//! attrib: influencer marketing attribution.
//!
//! Where things are:
//! - [`http`]: routes, authentication, error rendering (the management API lives in
//!   [`http::admin`]).
//! - [`domain`]: pure types and rules (slugs, codes, URLs, money, discounts, rollup
//!   contributions).
//! - [`storage`]: Postgres, one module of SQL per table; schema in `migrations/`.
//! - [`redirect`]: the redirect hot path `GET /{slug}` and its link cache.
//! - [`pipeline`]: event schema, Redis keys, the producer and its local spool, the stream
//!   consumer commands.
//! - [`enrich`]: geo, user agent and bot classification for the worker.
//! - [`worker`]: the stream → Postgres ingest loop.
//! - [`metrics`]: Prometheus counters for `GET /metrics`.
//! - [`startup`]: building the HTTP application; [`cli`]: the `attrib` command.

pub mod attribution;
pub mod auth;
pub mod cache;
pub mod checkout;
pub mod cli;
pub mod config;
pub mod domain;
pub mod enrich;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod pipeline;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod throttle;
pub mod worker;
