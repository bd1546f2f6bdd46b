//! How the long-running loops of a process learn that it is stopping, and how they wait
//! between attempts while something they need is away.

use std::time::Duration;

use tokio::sync::watch;

/// Tells every [`Stopping`] made from it that the process is stopping.
pub struct Stop(watch::Sender<bool>);

/// A loop's view of [`Stop`]: it finishes the round it is in, then returns.
#[derive(Clone)]
pub struct Stopping(watch::Receiver<bool>);

pub fn stop_signal() -> (Stop, Stopping) {
    let (tx, rx) = watch::channel(false);
    (Stop(tx), Stopping(rx))
}

impl Stop {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Stopping {
    /// Whether the process is stopping; a [`Stop`] dropped unused (an application built
    /// and never run) counts as stopping, so nothing it started spins on after it.
    pub fn is_stopping(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Resolves once the process is stopping, or its [`Stop`] is gone.
    pub async fn stopped(&mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }

    /// Sleeps for `pause`, or less if the process starts stopping meanwhile.
    pub async fn sleep(&mut self, pause: Duration) {
        let _ = tokio::time::timeout(pause, self.stopped()).await;
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn terminate_or_interrupt() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}

/// What a process does once told to stop, bounded by `ATTRIB_SHUTDOWN_TIMEOUT_SECONDS`:
/// its own outcome, or an error naming the setting when it took longer.
pub async fn finish_within<T>(
    timeout: Duration,
    stopping: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(timeout, stopping).await {
        Ok(stopped) => {
            let stopped = stopped?;
            tracing::info!("stopped");
            Ok(stopped)
        }
        Err(_) => anyhow::bail!(
            "not stopped within ATTRIB_SHUTDOWN_TIMEOUT_SECONDS ({} s); exiting with work unfinished",
            timeout.as_secs()
        ),
    }
}

/// Exponential back-off between failed attempts: a brief outage is retried at once, a
/// long one costs the store a reconnection attempt (and the log a line) every `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The pause before the next attempt, doubling up to `max`.
    pub fn failed(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(self.max);
        pause
    }

    pub fn succeeded(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling_and_starts_over_after_a_success() {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(1));
        let pauses: Vec<u128> = (0..4).map(|_| backoff.failed().as_millis()).collect();
        assert_eq!(pauses, [250, 500, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_millis(250));
    }

    #[tokio::test]
    async fn a_sleep_lasts_its_pause_while_nothing_stops() {
        let (_stop, mut stopping) = stop_signal();
        let started = std::time::Instant::now();
        let slept = tokio::time::timeout(
            Duration::from_secs(5),
            stopping.sleep(Duration::from_millis(100)),
        )
        .await;
        assert!(slept.is_ok(), "the pause did not end");
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn a_dropped_stop_means_stopping() {
        let (stop, stopping) = stop_signal();
        assert!(!stopping.is_stopping());
        drop(stop);
        assert!(stopping.is_stopping());
    }

    #[tokio::test]
    async fn a_sleep_ends_when_the_process_starts_stopping() {
        let (stop, mut stopping) = stop_signal();
        let started = std::time::Instant::now();
        let sleeper = tokio::spawn(async move { stopping.sleep(Duration::from_secs(30)).await });
        stop.stop();
        sleeper.await.expect("sleeper");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
