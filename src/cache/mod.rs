//! What each process keeps of Postgres in memory, so the hot paths (a redirect, an
//! authenticated request, a redemption) read no row they read a moment ago.
//!
//! Every cache here is told of changes made by other processes through the change channels
//! of [`crate::pipeline::changes`], and none can be refilled with a row read before a
//! change it was told of (the generation guard of [`guarded`], and the per-slot one of
//! [`links`]). They own no data: Postgres stays the truth.

pub mod api_keys;
pub mod code_terms;
pub mod guarded;
pub mod links;
