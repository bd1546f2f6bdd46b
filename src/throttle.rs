//! Per-address allowances for the look-ups attrib answers in vain: how many failures an
//! address may cause a minute, and which addresses are over their allowance until when.
//! What counts as a failure, and what a refused client is told, is the HTTP layer's
//! business ([`crate::http::rate_limit`]).
//!
//! An address is counted by its /64 when it is IPv6 (one host's allocation, which it can
//! walk through at will). Loopback addresses are exempt unless asked for. Keys idle long
//! enough to be back at a full allowance are dropped by [`MissLimiter::forget_idle`], so
//! memory follows the number of addresses failing in the last minute.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

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
    /// `trusted_proxies` are the proxies whose forwarded addresses are believed.
    pub fn new(per_minute: u32, limit_loopback: bool, trusted_proxies: Vec<IpNet>) -> Self {
        MissLimiter {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            limit_loopback,
            trusted_proxies,
            blocked: Mutex::default(),
        }
    }

    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    pub fn enabled(&self) -> bool {
        self.limiter.is_some()
    }

    /// How long `ip` is still refused, if it is over its limit. Counts nothing.
    pub fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        self.limiter.as_ref()?;
        let until = *self.blocked().get(&address_key(ip))?;
        until.checked_duration_since(Instant::now())
    }

    /// A panic while this lock was held cannot leave the map inconsistent.
    fn blocked(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.blocked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one failure by `ip`: `Err` with how long to wait once it is over the limit.
    pub fn count(&self, ip: IpAddr) -> Result<(), Duration> {
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
            wait
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
            assert!(limiter.count(ip("203.0.113.7")).is_ok());
        }
        let wait = limiter.count(ip("203.0.113.7")).unwrap_err();
        // 3 a minute: the next one is allowed 20 s after the first
        assert!((15..=20).contains(&wait.as_secs()), "{wait:?}");
        assert!(limiter.blocked_for(ip("203.0.113.7")).is_some());
        assert!(limiter.blocked_for(ip("203.0.113.8")).is_none());
        assert!(limiter.count(ip("203.0.113.8")).is_ok());
    }

    #[test]
    fn one_ipv6_host_is_one_address_whatever_it_uses_in_its_64() {
        let limiter = MissLimiter::new(2, false, Vec::new());
        assert!(limiter.count(ip("2001:db8:1:2::1")).is_ok());
        assert!(limiter.count(ip("2001:db8:1:2:ffff::9")).is_ok());
        assert!(limiter.count(ip("2001:db8:1:2:abcd::")).is_err());
        assert!(limiter.count(ip("2001:db8:1:3::1")).is_ok());
        assert!(limiter.count(ip("::ffff:198.51.100.1")).is_ok());
        assert!(limiter.count(ip("198.51.100.1")).is_ok());
        assert!(limiter.count(ip("198.51.100.1")).is_err());
    }

    #[test]
    fn loopback_is_exempt_unless_asked_for_and_zero_turns_limits_off() {
        let exempt = MissLimiter::new(1, false, Vec::new());
        let limited = MissLimiter::new(1, true, Vec::new());
        let off = MissLimiter::new(0, true, Vec::new());
        for _ in 0..5 {
            assert!(exempt.count(ip("127.0.0.1")).is_ok());
            assert!(exempt.count(ip("::1")).is_ok());
            assert!(off.count(ip("203.0.113.7")).is_ok());
        }
        assert!(limited.count(ip("127.0.0.1")).is_ok());
        assert!(limited.count(ip("127.0.0.1")).is_err());
    }

    #[test]
    fn idle_addresses_are_forgotten() {
        let limiter = MissLimiter::new(600_000, false, Vec::new());
        for n in 0..100u8 {
            assert!(limiter.count(IpAddr::from([192, 0, 2, n])).is_ok());
        }
        assert_eq!(limiter.tracked(), 100);
        // At 10 000 a second, one cell is back within a millisecond.
        std::thread::sleep(Duration::from_millis(5));
        limiter.forget_idle();
        assert_eq!(limiter.tracked(), 0);
    }
}
