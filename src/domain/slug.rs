//! Slugs (short-link paths, campaign slugs) and influencer handles.
//!
//! All three are case-insensitive and stored lower-case: `go.brand.com/Emma` and
//! `go.brand.com/emma` are one link, as a visitor typing it from a video would expect.

use super::{stored::stored_as_text, Invalid};

/// Unambiguous lower-case alphabet for generated slugs: no `0/o`, `1/l/i`.
pub const GENERATED_SLUG_ALPHABET: [char; 31] = [
    '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'j', 'k', 'm',
    'n', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z',
];
/// 31^7 ≈ 2.7e10 slugs: collisions are rare and retried.
pub const GENERATED_SLUG_LENGTH: usize = 7;

/// Paths the service answers itself, or may one day; a link may not shadow them.
const RESERVED: &[&str] = &[
    "v1",
    "v2",
    "v3",
    "api",
    "admin",
    "healthz",
    "readyz",
    "livez",
    "metrics",
    "openapi",
    "openapi.json",
    "docs",
    "static",
    "assets",
    "favicon.ico",
    "robots.txt",
    "well-known",
    ".well-known",
    "status",
    "login",
    "logout",
    "qr",
];

const MAX_LEN: usize = 64;

fn is_slug_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
}

fn parse_slug_like(
    field: &'static str,
    code: &'static str,
    raw: &str,
    extra_char: Option<char>,
) -> Result<String, Invalid> {
    let value = raw.trim().to_ascii_lowercase();
    if value.is_empty() || value.len() > MAX_LEN {
        return Err(Invalid::malformed(
            field,
            code,
            format!("must be 1 to {MAX_LEN} characters"),
        ));
    }
    let first_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = value
        .chars()
        .all(|c| is_slug_char(c) || Some(c) == extra_char);
    if !first_ok || !rest_ok {
        let allowed = match extra_char {
            Some(c) => format!("letters, digits, '-', '_' and '{c}'"),
            None => "letters, digits, '-' and '_'".to_owned(),
        };
        return Err(Invalid::malformed(
            field,
            code,
            format!("may contain only {allowed}, starting with a letter or digit"),
        ));
    }
    Ok(value)
}

/// Whether a stored value has the shape `parse_slug_like` gives: already trimmed and
/// lower-case, 1 to [`MAX_LEN`] characters, starting with a letter or digit.
fn slug_shaped(raw: &str, extra_char: Option<char>) -> bool {
    raw.len() <= MAX_LEN
        && raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && raw
            .chars()
            .all(|c| is_slug_char(c) || Some(c) == extra_char)
}

/// The path of a short link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSlug(String);

stored_as_text!(LinkSlug, LinkSlug::stored);

impl LinkSlug {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = parse_slug_like("slug", "invalid_slug", raw, None)?;
        if RESERVED.contains(&value.as_str()) {
            return Err(Invalid::not_allowed(
                "slug",
                "slug_reserved",
                format!("'{value}' is reserved by the service"),
            ));
        }
        Ok(LinkSlug(value))
    }

    /// A slug as `links.slug` holds it: its shape only (the column's CHECK). Not the
    /// reserved words: a word reserved after a link took it must not make that link
    /// unreadable (its path is shadowed by the route, and the link can still be renamed).
    fn stored(raw: &str) -> Option<Self> {
        slug_shaped(raw, None).then(|| LinkSlug(raw.to_owned()))
    }

    pub fn generate() -> Self {
        LinkSlug(nanoid::nanoid!(
            GENERATED_SLUG_LENGTH,
            &GENERATED_SLUG_ALPHABET
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A campaign's slug (also the default `utm_campaign`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignSlug(String);

stored_as_text!(CampaignSlug, CampaignSlug::stored);

impl CampaignSlug {
    /// A slug as `campaigns.slug` holds it: its shape only (the column's CHECK).
    fn stored(raw: &str) -> Option<Self> {
        slug_shaped(raw, None).then(|| CampaignSlug(raw.to_owned()))
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        parse_slug_like("slug", "invalid_slug", raw, None).map(CampaignSlug)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An influencer's handle; a leading `@` is dropped, dots are allowed as on most platforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle(String);

stored_as_text!(Handle, Handle::stored);

impl Handle {
    /// A handle as `influencers.handle` holds it: its shape only (the column's CHECK).
    fn stored(raw: &str) -> Option<Self> {
        slug_shaped(raw, Some('.')).then(|| Handle(raw.to_owned()))
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        let without_at = trimmed.strip_prefix('@').unwrap_or(trimmed);
        parse_slug_like("handle", "invalid_handle", without_at, Some('.')).map(Handle)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lower_cased_and_trimmed() {
        assert_eq!(LinkSlug::parse(" Emma-20 ").unwrap().as_str(), "emma-20");
    }

    #[test]
    fn slugs_outside_the_alphabet_are_malformed() {
        for bad in [
            "",
            "-emma",
            "emma/x",
            "em ma",
            "émma",
            "a.b",
            &"x".repeat(65),
        ] {
            let err = LinkSlug::parse(bad).unwrap_err();
            assert_eq!(err.code, "invalid_slug", "{bad:?}");
        }
    }

    #[test]
    fn reserved_words_are_refused_in_any_case() {
        for word in ["v1", "HealthZ", "metrics", "readyz", "api"] {
            let err = LinkSlug::parse(word).unwrap_err();
            assert_eq!(err.code, "slug_reserved", "{word}");
        }
    }

    #[test]
    fn a_stored_slug_is_read_by_its_shape_even_if_reserved_since() {
        assert_eq!(LinkSlug::stored("admin").unwrap().as_str(), "admin");
        assert_eq!(LinkSlug::stored("emma-20").unwrap().as_str(), "emma-20");
        for raw in ["", "Emma", " emma", "-emma", "a.b", &"x".repeat(65)] {
            assert!(LinkSlug::stored(raw).is_none(), "{raw:?}");
            assert!(CampaignSlug::stored(raw).is_none(), "{raw:?}");
        }
        assert_eq!(
            Handle::stored("emma.styles").unwrap().as_str(),
            "emma.styles"
        );
        assert!(Handle::stored("@emma").is_none());
    }

    #[test]
    fn generated_slugs_use_the_unambiguous_alphabet() {
        for _ in 0..200 {
            let slug = LinkSlug::generate();
            assert_eq!(slug.as_str().len(), GENERATED_SLUG_LENGTH);
            assert!(slug
                .as_str()
                .chars()
                .all(|c| GENERATED_SLUG_ALPHABET.contains(&c)));
            assert!(LinkSlug::parse(slug.as_str()).is_ok());
        }
    }

    #[test]
    fn handles_drop_the_at_sign_and_allow_dots() {
        assert_eq!(
            Handle::parse("@Emma.Styles").unwrap().as_str(),
            "emma.styles"
        );
        assert_eq!(Handle::parse("@").unwrap_err().code, "invalid_handle");
        assert_eq!(
            Handle::parse("emma styles").unwrap_err().code,
            "invalid_handle"
        );
    }
}
