//! API tests against real Postgres and Redis: one binary, one module per area.

mod admin_patch;
mod api_keys;
mod auth;
mod caches;
mod campaigns;
mod checkout;
mod cli;
mod codes;
mod conversions;
mod enrollments;
mod errors;
mod exports;
mod health;
mod helpers;
mod hostile_input;
mod influencers;
mod links;
mod outage;
mod postgres_outage;
mod posts_and_costs;
mod rate_limit;
mod reattribution;
mod redirect;
mod reports;
mod rollups;
mod worker;
