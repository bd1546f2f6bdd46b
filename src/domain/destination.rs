//! Building the URL a click is redirected to.

use super::{link::Utm, url::WebUrl};

/// `destination` with the link's UTM parameters (replacing any the destination already
/// had), the visitor's own query parameters when the link forwards them (never overriding
/// the destination's), and the click id parameter last.
pub fn build(
    destination: &WebUrl,
    utm: &Utm,
    forwarded: Option<&str>,
    click_param: &str,
    click_id: Option<&str>,
) -> String {
    let mut url = destination.url().clone();
    let utm_pairs: Vec<(&str, &str)> = [
        ("utm_source", Some(utm.source.as_str())),
        ("utm_medium", Some(utm.medium.as_str())),
        ("utm_campaign", Some(utm.campaign.as_str())),
        ("utm_content", utm.content.as_deref()),
        ("utm_term", utm.term.as_deref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != click_param && !utm_pairs.iter().any(|(u, _)| u == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.extend(
        utm_pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    if let Some(query) = forwarded {
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let reserved = k == "qr" || k == click_param;
            if !reserved && !pairs.iter().any(|(existing, _)| *existing == k) {
                pairs.push((k.into_owned(), v.into_owned()));
            }
        }
    }
    if let Some(id) = click_id {
        pairs.push((click_param.to_owned(), id.to_owned()));
    }
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.into()
}

/// A destination with the link's UTM already merged in, split where the click id goes, so
/// a redirect without forwarded parameters only appends the click id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Everything before the fragment; it always has a query (the UTM parameters).
    before_fragment: String,
    /// `#…`, if any.
    fragment: String,
}

impl Prepared {
    pub fn new(destination: &WebUrl, utm: &Utm, click_param: &str) -> Self {
        let merged = build(destination, utm, None, click_param, None);
        let (before, fragment) = match merged.split_once('#') {
            Some((before, fragment)) => (before.to_owned(), format!("#{fragment}")),
            None => (merged, String::new()),
        };
        Prepared {
            before_fragment: before,
            fragment,
        }
    }

    /// The location with `click_param=click_id` appended. Click ids and parameter names
    /// are URL-safe as they are, so no encoding is needed.
    pub fn with_click(&self, click_param: &str, click_id: &str) -> String {
        let separator = if self.before_fragment.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut location = String::with_capacity(
            self.before_fragment.len()
                + click_param.len()
                + click_id.len()
                + self.fragment.len()
                + 2,
        );
        location.push_str(&self.before_fragment);
        location.push(separator);
        location.push_str(click_param);
        location.push('=');
        location.push_str(click_id);
        location.push_str(&self.fragment);
        location
    }

    /// The location without a click id (`HEAD` requests record no click).
    pub fn without_click(&self) -> String {
        format!("{}{}", self.before_fragment, self.fragment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(raw: &str) -> WebUrl {
        WebUrl::parse("destination", raw).unwrap()
    }

    fn utm() -> Utm {
        Utm {
            source: "emma".into(),
            medium: "influencer".into(),
            campaign: "summer".into(),
            content: Some("reel 1".into()),
            term: None,
        }
    }

    #[test]
    fn utm_and_click_id_are_appended_to_existing_parameters() {
        let url = build(
            &web("https://shop.example.com/p?color=red#top"),
            &utm(),
            None,
            "atid",
            Some("CID"),
        );
        assert_eq!(
            url,
            "https://shop.example.com/p?color=red&utm_source=emma&utm_medium=influencer&utm_campaign=summer&utm_content=reel+1&atid=CID#top"
        );
    }

    #[test]
    fn a_prepared_destination_gives_the_same_location_as_a_full_build() {
        for destination in [
            "https://shop.example.com/p?color=red#top",
            "https://shop.example.com/",
            "https://shop.example.com/p?utm_source=old&atid=stale&x=%C3%A9",
            "http://shop.example.com:8080/a/b#frag?x",
        ] {
            let destination = web(destination);
            let prepared = Prepared::new(&destination, &utm(), "atid");
            assert_eq!(
                prepared.with_click("atid", "ABC-_123"),
                build(&destination, &utm(), None, "atid", Some("ABC-_123")),
                "{destination:?}"
            );
            assert_eq!(
                prepared.without_click(),
                build(&destination, &utm(), None, "atid", None)
            );
        }
    }

    #[test]
    fn the_links_utm_replaces_the_destinations_own() {
        let url = build(
            &web("https://shop.example.com/?utm_source=old&x=1"),
            &utm(),
            None,
            "atid",
            None,
        );
        assert!(url.contains("utm_source=emma"));
        assert!(!url.contains("old"));
        assert!(url.contains("x=1"));
    }

    #[test]
    fn forwarded_parameters_never_override_and_reserved_ones_are_dropped() {
        let url = build(
            &web("https://shop.example.com/?x=1"),
            &utm(),
            Some("x=2&gclid=abc&qr=1&atid=forged&utm_source=evil"),
            "atid",
            Some("CID"),
        );
        assert!(url.contains("x=1") && !url.contains("x=2"));
        assert!(url.contains("gclid=abc"));
        assert!(!url.contains("qr=1"));
        assert!(!url.contains("forged") && url.ends_with("atid=CID"));
        assert!(!url.contains("evil"));
    }
}
