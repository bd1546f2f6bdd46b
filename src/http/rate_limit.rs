//! Per-address limits on the requests an unauthenticated client can make attrib answer in
//! vain after a look-up: unknown slugs (`GET /{slug}`, the QR routes) and API keys that
//! are missing, unknown or revoked (the 401s of [`super::auth`]).
//!
//! Only those failure paths consult the limiter, after their look-up has failed: a known
//! slug's redirect and a valid key never touch it, so they are never limited and pay
//! nothing for it. Past `ATTRIB_RATE_LIMIT_PER_MINUTE` failures an address gets
//! `429 rate_limited` with `Retry-After` instead of the 404 or 401, and until its allowance
//! is back, a slug that is not in the link cache is refused with the same 429 before any
//! look-up ([`MissLimiter::refuse_lookup`]), so a scan from one address costs Postgres at
//! most that many queries a minute. A slug the process has cached still redirects.
//!
//! An address is the client address [`client_ip`] resolves (through
//! `ATTRIB_TRUSTED_PROXIES`), IPv6 by its /64 (one host's allocation, which it can walk
//! through at will). Loopback addresses are exempt unless `ATTRIB_RATE_LIMIT_LOOPBACK` is
//! set: a proxy on the same host that is not listed as trusted would otherwise put every
//! visitor behind one limit. Keys idle long enough to be back at a full allowance are
//! dropped every minute ([`MissLimiter::forget_idle`]), so memory follows the number of
//! addresses failing in the last minute.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

use actix_web::{HttpRequest, HttpResponse, ResponseError};
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use super::{client_ip::client_ip, error::ApiError};

pub struct MissLimiter {
    /// `None`: limits are off.
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    limit_loopback: bool,
    trusted_proxies: Vec<IpNet>,
    /// Addresses over their limit, until when: refused before a look-up.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl MissLimiter {
    /// `per_minute` failures per address (also the burst); 0 turns limits off.
    pub fn new(per_minute: u32, limit_loopback: bool, trusted_proxies: Vec<IpNet>) -> Self {
        MissLimiter {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            limit_loopback,
            trusted_proxies,
            blocked: Mutex::default(),
        }
    }

    /// The 429 for a client over its limit, answered instead of a look-up that would reach
    /// Postgres; `None` for every other client. Counts nothing.
    pub fn refuse_lookup(&self, req: &HttpRequest) -> Option<ApiError> {
        self.limiter.as_ref()?;
        let key = address_key(client_ip(req, &self.trusted_proxies)?);
        let until = *self.blocked().get(&key)?;
        let wait = until.checked_duration_since(Instant::now())?;
        Some(ApiError::rate_limited(wait))
    }

    /// A panic while this lock was held cannot leave the map inconsistent.
    fn blocked(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.blocked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one failure by `req`'s client: `Err` (the 429 to answer instead) once its
    /// address is over the limit.
    pub fn count(&self, req: &HttpRequest) -> Result<(), ApiError> {
        match client_ip(req, &self.trusted_proxies) {
            Some(ip) => self.count_for(ip),
            None => Ok(()),
        }
    }

    /// The 404 for a `what` that does not exist, or the 429 that replaces it.
    pub fn not_found(&self, req: &HttpRequest, what: &str) -> HttpResponse {
        match self.count(req) {
            Ok(()) => ApiError::not_found(what),
            Err(limited) => limited,
        }
        .error_response()
    }

    fn count_for(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let key = address_key(ip);
        if key.is_loopback() && !self.limit_loopback {
            return Ok(());
        }
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            self.blocked().insert(key, Instant::now() + wait);
            ApiError::rate_limited(wait)
        })
    }

    /// Drops addresses whose allowance is full again; run every minute or so.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        self.blocked().retain(|_, until| *until > now);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }
}

/// IPv4 (also when mapped into IPv6) as it is; IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None if v6.is_loopback() => ip,
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// How long a limited client should wait, in whole seconds (at least one).
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_is_refused_past_its_limit_and_others_are_not() {
        let limiter = MissLimiter::new(3, false, Vec::new());
        for _ in 0..3 {
            assert!(limiter.count_for(ip("203.0.113.7")).is_ok());
        }
        let refused = limiter.count_for(ip("203.0.113.7")).unwrap_err();
        assert_eq!(refused.status.as_u16(), 429);
        assert_eq!(refused.code, "rate_limited");
        // 3 a minute: the next one is allowed 20 s after the first
        let wait = refused.retry_after.unwrap();
        assert!((15..=20).contains(&wait), "{wait}");
        assert!(limiter.count_for(ip("203.0.113.8")).is_ok());
    }

    #[test]
    fn one_ipv6_host_is_one_address_whatever_it_uses_in_its_64() {
        let limiter = MissLimiter::new(2, false, Vec::new());
        assert!(limiter.count_for(ip("2001:db8:1:2::1")).is_ok());
        assert!(limiter.count_for(ip("2001:db8:1:2:ffff::9")).is_ok());
        assert!(limiter.count_for(ip("2001:db8:1:2:abcd::")).is_err());
        assert!(limiter.count_for(ip("2001:db8:1:3::1")).is_ok());
        assert!(limiter.count_for(ip("::ffff:198.51.100.1")).is_ok());
        assert!(limiter.count_for(ip("198.51.100.1")).is_ok());
        assert!(limiter.count_for(ip("198.51.100.1")).is_err());
    }

    #[test]
    fn loopback_is_exempt_unless_asked_for_and_zero_turns_limits_off() {
        let exempt = MissLimiter::new(1, false, Vec::new());
        let limited = MissLimiter::new(1, true, Vec::new());
        let off = MissLimiter::new(0, true, Vec::new());
        for _ in 0..5 {
            assert!(exempt.count_for(ip("127.0.0.1")).is_ok());
            assert!(exempt.count_for(ip("::1")).is_ok());
            assert!(off.count_for(ip("203.0.113.7")).is_ok());
        }
        assert!(limited.count_for(ip("127.0.0.1")).is_ok());
        assert!(limited.count_for(ip("127.0.0.1")).is_err());
    }

    #[test]
    fn idle_addresses_are_forgotten() {
        let limiter = MissLimiter::new(600_000, false, Vec::new());
        for n in 0..100u8 {
            assert!(limiter.count_for(IpAddr::from([192, 0, 2, n])).is_ok());
        }
        assert_eq!(limiter.tracked(), 100);
        // At 10 000 a second, one cell is back within a millisecond.
        std::thread::sleep(Duration::from_millis(5));
        limiter.forget_idle();
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(20)), 20);
        assert_eq!(retry_after_seconds(Duration::from_millis(19_001)), 20);
    }
}
