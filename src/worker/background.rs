//! The runtime `attrib run` gives its ingest worker: its own threads, at a lower CPU
//! priority than the redirects they share the machine with.
//!
//! Clicks are durable in Redis before their redirect is answered, so ingest can wait and
//! redirects cannot. With equal priority, the worker's batches (and the Postgres work they
//! cause) took a third of the machine away from redirects under load. At a nice value of
//! 19 these threads yield to the redirect threads of this process whenever both want a
//! core. The nice value ranks threads within the process only (Linux schedules a session's
//! threads as one group), and the Postgres work the worker asks for runs at Postgres's own
//! priority: under `wrk -c64` the thread still took about 13 % of a two-core machine and
//! nearly kept up. A backlog that does build waits in the streams and is taken in larger
//! batches; the lag is visible as `ingest_lag_seconds` in campaign reports and on
//! `GET /metrics`.

use std::{future::Future, io};

use tokio::{runtime, task::JoinHandle};

/// One thread is enough: the worker writes one batch at a time in `attrib run`, and what
/// it waits for is Postgres.
const THREADS: usize = 1;

/// A runtime for background work, shut down without waiting when dropped (also when
/// dropped from async code, where a plain runtime must not be dropped).
pub struct Background {
    /// Taken only by `drop`.
    runtime: Option<runtime::Runtime>,
    handle: runtime::Handle,
}

impl Background {
    /// Threads at the nice value `nice` (0: the default priority, 19: the lowest).
    pub fn start(nice: i32) -> io::Result<Self> {
        let runtime = runtime::Builder::new_multi_thread()
            .worker_threads(THREADS)
            .thread_name("attrib-ingest")
            .on_thread_start(move || lower_this_thread_priority(nice))
            .enable_all()
            .build()?;
        Ok(Background {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(task)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_this_thread_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    // SAFETY: plain system calls on the calling thread, with no pointers involved. On
    // Linux the nice value is per thread, and `PRIO_PROCESS` with a thread id sets it for
    // that thread only; raising it needs no privilege.
    let failed = unsafe {
        let thread = libc::gettid() as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, nice) != 0
    };
    if failed {
        tracing::warn!(
            nice,
            error = %io::Error::last_os_error(),
            "cannot lower the ingest threads' priority"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_thread_priority(nice: i32) {
    if nice != 0 {
        tracing::info!(nice, "thread priorities are only set on Linux");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn this_thread_nice() -> i32 {
        // SAFETY: as above; errno is cleared first because -1 is also a valid result.
        unsafe {
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
        }
    }

    #[test]
    fn tasks_run_on_threads_at_the_given_priority() {
        let background = Background::start(7).unwrap();
        let own = this_thread_nice();
        let handle = background.spawn(async { this_thread_nice() });
        let theirs = runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(handle)
            .unwrap();
        assert_eq!(theirs, 7);
        assert_eq!(
            this_thread_nice(),
            own,
            "the calling thread kept its priority"
        );
    }
}
