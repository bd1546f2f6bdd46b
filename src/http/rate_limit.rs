//! Per-address limits on the requests an unauthenticated client can make attrib answer in
//! vain after a look-up: unknown slugs (`GET /{slug}`, the QR routes) and API keys that
//! are missing, unknown or revoked (the 401s of [`super::auth`]).
//!
//! Only those failure paths consult the limiter, after their look-up has failed: a known
//! slug's redirect and a valid key never touch it, so they are never limited and pay
//! nothing for it. Past `ATTRIB_RATE_LIMIT_PER_MINUTE` failures an address gets
//! `429 rate_limited` with `Retry-After` instead of the 404 or 401, and until its allowance
//! is back, a slug that is not in the link cache is refused with the same 429 before any
//! look-up ([`MissLimits::refuse_lookup`]), so a scan from one address costs Postgres at
//! most that many queries a minute. A slug the process has cached still redirects.
//!
//! An address is the client address [`client_ip`] resolves (through
//! `ATTRIB_TRUSTED_PROXIES`), IPv6 by its /64 (one host's allocation, which it can walk
//! through at will). Loopback addresses are exempt unless `ATTRIB_RATE_LIMIT_LOOPBACK` is
//! set: a proxy on the same host that is not listed as trusted would otherwise put every
//! visitor behind one limit. Keys idle long enough to be back at a full allowance are
//! dropped every minute ([`MissLimiter::forget_idle`], in [`crate::throttle`]), so memory follows the number of
//! addresses failing in the last minute.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::{client_ip::client_ip, error::ApiError};
use crate::throttle::MissLimiter;

/// The limiter as the handlers use it: by request, answering with the 404 or 429 to send.
pub trait MissLimits {
    /// The 429 for a client over its limit, answered instead of a look-up that would reach
    /// Postgres; `None` for every other client. Counts nothing.
    fn refuse_lookup(&self, req: &HttpRequest) -> Option<ApiError>;

    /// Counts one failure by `req`'s client: `Err` (the 429 to answer instead) once its
    /// address is over the limit.
    fn count_miss(&self, req: &HttpRequest) -> Result<(), ApiError>;

    /// The 404 for a `what` that does not exist, or the 429 that replaces it.
    fn not_found(&self, req: &HttpRequest, what: &str) -> HttpResponse {
        match self.count_miss(req) {
            Ok(()) => ApiError::not_found(what),
            Err(limited) => limited,
        }
        .error_response()
    }
}

impl MissLimits for MissLimiter {
    fn refuse_lookup(&self, req: &HttpRequest) -> Option<ApiError> {
        if !self.enabled() {
            return None;
        }
        let ip = client_ip(req, self.trusted_proxies())?;
        self.blocked_for(ip).map(ApiError::rate_limited)
    }

    fn count_miss(&self, req: &HttpRequest) -> Result<(), ApiError> {
        match client_ip(req, self.trusted_proxies()) {
            Some(ip) => self.count(ip).map_err(ApiError::rate_limited),
            None => Ok(()),
        }
    }
}

/// How long a limited client should wait, in whole seconds (at least one).
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(20)), 20);
        assert_eq!(retry_after_seconds(Duration::from_millis(19_001)), 20);
    }
}
