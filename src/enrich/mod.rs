//! Enrichment of click events in the worker, off the redirect path: location from the
//! address, device / browser / OS from the user agent, the bot flag, and the address
//! reduced to its network so no raw IP is stored.

pub mod agent;
pub mod geo;

use std::net::IpAddr;

/// The stored form of an address: its /24 (IPv4) or /48 (IPv6) network.
pub fn ip_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// The host of a referrer URL, the part reports group by.
pub fn referrer_host(referrer: &str) -> Option<String> {
    url::Url::parse(referrer)
        .ok()?
        .host_str()
        .map(|h| h.trim_start_matches("www.").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_keep_only_their_network() {
        assert_eq!(ip_prefix("81.2.69.142".parse().unwrap()), "81.2.69.0/24");
        assert_eq!(
            ip_prefix("2001:db8:abcd:12::1".parse().unwrap()),
            "2001:db8:abcd::/48"
        );
    }

    #[test]
    fn referrers_reduce_to_their_host() {
        assert_eq!(
            referrer_host("https://www.Instagram.com/p/1").as_deref(),
            Some("instagram.com")
        );
        assert_eq!(referrer_host("android-app://x"), Some("x".into()));
        assert_eq!(referrer_host("not a url"), None);
    }
}
