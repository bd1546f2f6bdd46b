//! Destination and fallback URLs of links: the guard against open redirects.

use super::Invalid;

pub const MAX_URL_LEN: usize = 2048;

/// An absolute `http(s)` URL without credentials, safe to put in a `Location` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUrl(url::Url);

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

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn host(&self) -> Option<&str> {
        self.0.host_str()
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
    fn credentials_are_refused() {
        for bad in ["https://user:pw@example.com", "https://user@example.com"] {
            assert_eq!(
                WebUrl::parse("destination", bad).unwrap_err().code,
                "url_has_credentials"
            );
        }
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
