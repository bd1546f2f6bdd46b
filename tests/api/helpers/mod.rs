//! What the API tests share, by concern: the application under test (`app`), the objects
//! they make through it (`fixtures`), the ingest pipeline (`pipeline`), the binary run as a process (`process`) and the invariants
//! every rollup must keep (`invariants`). Everything is re-exported here, so tests import
//! `crate::helpers::X` whichever file X lives in.

mod app;
mod fixtures;
mod invariants;
mod pipeline;
mod process;
mod replica;

pub use app::*;
pub use invariants::*;
pub use pipeline::*;
pub use process::*;
pub use replica::*;
