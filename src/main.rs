//! The `attrib` binary: everything it does is in the library's [`attrib::cli`].

use std::process::ExitCode;

// The redirect path and the ingest worker allocate many short-lived strings per click;
// mimalloc serves those from thread-local pages, where glibc's malloc spent about a fifth
// of the CPU time in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    attrib::cli::main()
}
