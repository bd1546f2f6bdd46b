//! The event pipeline: producing events into sharded Redis streams (with a local spool
//! when Redis is away) and, in the worker, consuming them into Postgres.

pub mod changes;
pub mod connection;
pub mod events;
pub mod keys;
pub mod lag;
pub mod outbox;
pub mod persistence;
pub mod producer;
pub mod spool;
