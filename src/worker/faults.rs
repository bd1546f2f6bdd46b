//! Fault injection: where a test can make the worker "crash" to check what survives.
//!
//! Owns the fail points and the error they raise. Guarantees: with no fail point
//! configured (the default, and always in `attrib run`) [`check`] never fails; with one, it
//! fails exactly where that point is reached, with an [`InjectedFailure`] that the shard
//! loop does not retry but returns, so a test sees the worker stop there.

/// Where a test can make the worker "crash" to check what survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    /// After writing a batch, before committing it.
    BeforeCommit,
    /// After committing a batch, before acknowledging it.
    AfterCommit,
}

#[derive(Debug, thiserror::Error)]
#[error("worker stopped at its fail point {0:?}")]
pub struct InjectedFailure(pub FailPoint);

/// Fails when `reached` is the `configured` fail point.
pub(super) fn check(
    configured: Option<FailPoint>,
    reached: FailPoint,
) -> Result<(), InjectedFailure> {
    match configured {
        Some(point) if point == reached => Err(InjectedFailure(point)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_point_fails() {
        assert!(check(None, FailPoint::BeforeCommit).is_ok());
        assert!(check(Some(FailPoint::AfterCommit), FailPoint::BeforeCommit).is_ok());
        let failed = check(Some(FailPoint::AfterCommit), FailPoint::AfterCommit);
        assert!(matches!(
            failed,
            Err(InjectedFailure(FailPoint::AfterCommit))
        ));
    }
}
