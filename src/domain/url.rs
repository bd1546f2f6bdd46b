//! Destination and fallback URLs of links: the guard against open redirects.

use super::{
    stored::{stored_as_text, stored_in_documents},
    Invalid,
};

pub const MAX_URL_LEN: usize = 2048;

/// An absolute `http(s)` URL without credentials, safe to put in a `Location` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUrl(url::Url);

stored_as_text!(WebUrl, WebUrl::stored);
stored_in_documents!(WebUrl, WebUrl::stored);

impl WebUrl {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        let invalid = |message: &str| Invalid::malformed(field, "invalid_url", message);
        if raw.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if raw.len() > MAX_URL_LEN {
            return Err(invalid(&format!(
                "must be at most {MAX_URL_LEN} characters"
            )));
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("must not contain spaces or control characters"));
        }
        let url =
            url::Url::parse(raw).map_err(|e| invalid(&format!("not an absolute URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Invalid::malformed(
                field,
                "invalid_url_scheme",
                format!(
                    "scheme {:?} is not allowed: only http and https",
                    url.scheme()
                ),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("must name a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::malformed(
                field,
                "url_has_credentials",
                "must not contain a user name or password",
            ));
        }
        // Normalisation (punycode, percent-encoding) may lengthen it.
        if url.as_str().len() > MAX_URL_LEN {
            return Err(invalid(&format!(
                "must be at most {MAX_URL_LEN} characters"
            )));
        }
        Ok(WebUrl(url))
    }

    /// A URL as a column holds it, written from [`WebUrl::parse`]: still an absolute
    /// `http(s)` URL with a host (what makes it safe to redirect to), whatever rule of
    /// `parse` came after it was stored.
    fn stored(raw: &str) -> Option<Self> {
        let url = url::Url::parse(raw).ok()?;
        (matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty()))
            .then_some(WebUrl(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL, for building a location from it without parsing it again.
    pub(super) fn url(&self) -> &url::Url {
        &self.0
    }

    pub fn host(&self) -> Option<&str> {
        self.0.host_str()
    }

    /// Whether following this URL leads back to the server at `base`'s host (any port):
    /// the hosts are compared after normalisation, and when `base` is a loopback host,
    /// every loopback host (`localhost`, `127.0.0.0/8`, `[::1]`, `0.0.0.0`) is the same.
    pub fn leads_to(&self, base: &url::Url) -> bool {
        match (ServerHost::of(&self.0), ServerHost::of(base)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}

/// A host as the server it reaches, not as it was spelled.
#[derive(Debug, PartialEq, Eq)]
enum ServerHost {
    Loopback,
    Ip(std::net::IpAddr),
    Domain(String),
}

impl ServerHost {
    /// `url` already lowercases a domain, turns an internationalised one into punycode
    /// and reads IPv4 in any notation (`0x7f.1`, `2130706433`); what is left is a trailing
    /// dot (the same name, fully qualified), IPv4-mapped IPv6 and the loopback names.
    fn of(url: &url::Url) -> Option<ServerHost> {
        use std::net::IpAddr;
        let ip = match url.host()? {
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    return Some(ServerHost::Loopback);
                }
                return Some(ServerHost::Domain(name));
            }
            url::Host::Ipv4(v4) => IpAddr::V4(v4),
            url::Host::Ipv6(v6) => v6.to_canonical(),
        };
        // 0.0.0.0 and [::] reach this machine too.
        if ip.is_loopback() || ip.is_unspecified() {
            Some(ServerHost::Loopback)
        } else {
            Some(ServerHost::Ip(ip))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_are_accepted() {
        let url = WebUrl::parse("destination", "https://shop.example.com/p?x=1#top").unwrap();
        assert_eq!(url.as_str(), "https://shop.example.com/p?x=1#top");
        assert!(WebUrl::parse("destination", "HTTP://Shop.Example.com").is_ok());
    }

    #[test]
    fn dangerous_schemes_are_refused() {
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "ftp://example.com/file",
            "file:///etc/passwd",
            "mailto:a@b.com",
        ] {
            assert_eq!(
                WebUrl::parse("destination", bad).unwrap_err().code,
                "invalid_url_scheme",
                "{bad}"
            );
        }
    }

    #[test]
    fn relative_and_malformed_urls_are_refused() {
        for bad in [
            "/relative",
            "example.com",
            "https://",
            "http://exa mple.com",
            "",
            "https://a.com/x\ny",
        ] {
            assert!(WebUrl::parse("destination", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_stored_url_must_still_be_a_web_url() {
        let url = WebUrl::parse("destination", "https://shop.example.com/p?x=1").unwrap();
        assert_eq!(WebUrl::stored(url.as_str()), Some(url));
        for raw in ["https://", "javascript:alert(1)", "/relative", ""] {
            assert_eq!(WebUrl::stored(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn credentials_are_refused() {
        for bad in ["https://user:pw@example.com", "https://user@example.com"] {
            assert_eq!(
                WebUrl::parse("destination", bad).unwrap_err().code,
                "url_has_credentials"
            );
        }
    }

    #[test]
    fn hosts_that_reach_the_same_server_are_recognised() {
        let base = url::Url::parse("https://go.test").unwrap();
        for same in [
            "https://go.test/x",
            "https://GO.TEST./x",
            "http://go.test:8443/x",
            "https://Go.Test../x",
        ] {
            let url = WebUrl::parse("destination", same).unwrap();
            assert!(url.leads_to(&base), "{same}");
        }
        for other in [
            "https://shop.go.test/x",
            "https://go.test.example/x",
            "https://localhost/x",
        ] {
            let url = WebUrl::parse("destination", other).unwrap();
            assert!(!url.leads_to(&base), "{other}");
        }
    }

    #[test]
    fn internationalised_hosts_compare_as_punycode() {
        let base = url::Url::parse("https://bücher.example").unwrap();
        let url = WebUrl::parse("destination", "https://xn--bcher-kva.example/x").unwrap();
        assert!(url.leads_to(&base));
        let url = WebUrl::parse("destination", "https://BÜCHER.example./x").unwrap();
        assert!(url.leads_to(&base));
    }

    #[test]
    fn every_loopback_host_is_a_loopback_base() {
        let base = url::Url::parse("http://127.0.0.1:8080").unwrap();
        for same in [
            "http://localhost:3000/x",
            "http://LOCALHOST./x",
            "http://app.localhost/x",
            "http://127.0.0.2/x",
            "http://2130706433/x",
            "http://0x7f.1/x",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://0.0.0.0/x",
            "http://[::]/x",
        ] {
            let url = WebUrl::parse("destination", same).unwrap();
            assert!(url.leads_to(&base), "{same}");
        }
        let elsewhere = WebUrl::parse("destination", "http://10.0.0.1/x").unwrap();
        assert!(!elsewhere.leads_to(&base));
        let mapped = WebUrl::parse("destination", "http://[::ffff:10.0.0.1]/x").unwrap();
        assert!(mapped.leads_to(&url::Url::parse("http://10.0.0.1").unwrap()));
    }

    #[test]
    fn overlong_urls_are_refused() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(
            WebUrl::parse("destination", &long).unwrap_err().code,
            "invalid_url"
        );
    }
}
