//! The event pipeline: producing events into sharded Redis streams (with a local spool
//! when Redis is away), and the stream commands the worker consumes them with
//! ([`consumer`]) and ingest lag is read with ([`lag`]).

pub mod changes;
pub mod connection;
pub mod consumer;
pub mod events;
pub mod keys;
pub mod lag;
pub mod outbox;
pub mod persistence;
pub mod producer;
pub mod spool;
