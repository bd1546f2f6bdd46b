//! attrib: influencer marketing attribution.
//!
//! The modules form layers, lowest first, and every import points down (checked by
//! `tests/architecture.rs`; the README's "Layout" walks through them):
//! - leaves: [`domain`] (pure types and rules, importing nothing of the crate), [`auth`],
//!   [`ids`], [`enrich`], [`telemetry`], [`lifecycle`];
//! - [`config`] (every setting parsed once) and [`metrics`];
//! - adapters: [`storage`] (Postgres, one module of SQL per table) and [`pipeline`]
//!   (Redis: the event schema, producer and spool, stream consumer, outbox relay);
//! - process memory: [`cache`], [`throttle`];
//! - use cases: [`checkout`], [`attribution`], [`worker`];
//! - [`state`], what handlers reach; [`http`], every route including the redirect;
//! - wiring: [`startup`], [`cli`].

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
pub mod lifecycle;
pub mod metrics;
pub mod pipeline;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod throttle;
pub mod worker;
