//! Property tests: whatever string or number a client sends, each parser either refuses
//! it with a code or returns a value every column takes (no NUL, which Postgres refuses in
//! text; within the field's length; numbers within the column's range; timestamps in
//! years 1 to 9999). None of them panics.

use chrono::{DateTime, Datelike, Utc};
use proptest::prelude::*;

use super::{
    click_id::ClickSigner,
    code::{CodePrefix, PromoCode, MAX_LEN as MAX_CODE_LEN, MAX_PREFIX_LEN},
    link::parse_country,
    money::{self, Currency, MAX_AMOUNT_MINOR, MAX_COUNT},
    slug::{CampaignSlug, Handle, LinkSlug},
    text, time,
    url::{WebUrl, MAX_URL_LEN},
    Invalid,
};

/// Strings a careless or hostile client sends.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,80}",
        "[a-zA-Z0-9 ._@:/-]{0,80}\\x00[a-zA-Z0-9 ._@:/-]{0,8}",
        "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}]{1,8}",
        "https://[a-z.]{1,20}/[\\x00-\\x7f]{0,40}",
        "[a-zA-Z0-9_-]{0,300}",
        "é{0,300}",
        "[0-9+-]{0,7}-[0-9]{1,2}-[0-9]{1,2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2}))?",
    ]
}

fn numbers() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -1_000i64..1_000,
        Just(i64::MIN),
        Just(i64::MAX),
        Just(i64::from(i32::MAX) + 1),
        Just(MAX_AMOUNT_MINOR + 1),
    ]
}

/// What Postgres takes in a `text` column (and what our logs and CSVs can show as is).
fn storable(value: &str) -> bool {
    !value.chars().any(char::is_control)
}

fn refused_with_a_code(e: &Invalid) -> bool {
    !e.code.is_empty() && e.code.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

fn in_supported_years(t: &DateTime<Utc>) -> bool {
    (time::MIN_YEAR..=time::MAX_YEAR).contains(&t.year())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn free_text_is_storable_and_bounded(raw in hostile(), max in 1usize..300) {
        match text::bounded("name", &raw, max) {
            Ok(v) => {
                prop_assert!(storable(&v));
                prop_assert!((1..=max).contains(&v.chars().count()));
                prop_assert_eq!(v.trim(), v.as_str());
            }
            Err(e) => prop_assert!(refused_with_a_code(&e)),
        }
        if let Ok(v) = text::platform(&raw) {
            prop_assert!(v.len() <= 40 && v.is_ascii() && storable(&v));
        }
        if let Ok(v) = text::email("contact_email", &raw) {
            prop_assert!(v.chars().count() <= 254 && storable(&v));
        }
    }

    #[test]
    fn codes_slugs_and_handles_are_short_printable_ascii(raw in hostile()) {
        if let Ok(c) = PromoCode::parse(&raw) {
            let c = c.as_str();
            prop_assert!((2..=MAX_CODE_LEN).contains(&c.len()));
            prop_assert!(c.bytes().all(|b| b.is_ascii_graphic()));
        }
        if let Ok(p) = CodePrefix::parse(&raw) {
            prop_assert!(p.len() <= MAX_PREFIX_LEN);
        }
        for parsed in [
            LinkSlug::parse(&raw).map(|s| s.as_str().to_owned()),
            CampaignSlug::parse(&raw).map(|s| s.as_str().to_owned()),
            Handle::parse(&raw).map(|s| s.as_str().to_owned()),
        ] {
            match parsed {
                Ok(s) => prop_assert!(
                    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
                ),
                Err(e) => prop_assert!(refused_with_a_code(&e)),
            }
        }
        if let Ok(c) = Currency::parse("currency", &raw) {
            prop_assert!(c.code().len() == 3 && c.code().bytes().all(|b| b.is_ascii_uppercase()));
        }
        if let Ok(c) = parse_country(&raw) {
            prop_assert!(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn urls_are_bounded_and_free_of_control_characters(raw in hostile()) {
        if let Ok(url) = WebUrl::parse("destination", &raw) {
            let url = url.as_str();
            prop_assert!(url.len() <= MAX_URL_LEN);
            prop_assert!(!url.chars().any(|c| c.is_control() || c.is_whitespace()));
        }
    }

    #[test]
    fn timestamps_and_dates_stay_in_years_1_to_9999(raw in hostile(), year in -300_000i32..300_000) {
        for raw in [raw, format!("{year:04}-06-01T00:00:00Z"), format!("{year}-06-01")] {
            match time::parse("starts_at", &raw) {
                Ok(t) => prop_assert!(in_supported_years(&t)),
                Err(e) => prop_assert_eq!(e.code, "invalid_datetime"),
            }
            match time::parse_date("from", &raw) {
                Some(Ok(d)) => prop_assert!((time::MIN_YEAR..=time::MAX_YEAR).contains(&d.year())),
                Some(Err(e)) => prop_assert_eq!(e.code, "invalid_datetime"),
                None => {}
            }
        }
    }

    #[test]
    fn numbers_fit_their_columns(n in numbers()) {
        if let Ok(v) = money::amount("amount_minor", n) {
            prop_assert!((0..=MAX_AMOUNT_MINOR).contains(&v));
        }
        if let Ok(v) = money::positive_count("max_clicks", n) {
            prop_assert!((1..=MAX_AMOUNT_MINOR).contains(&v));
        }
        if let Ok(v) = money::count("followers", n) {
            prop_assert!((0..=MAX_COUNT).contains(&v));
        }
        // An integer column: the i32 type already bounds it, the check bounds the rate.
        if let Ok(v) = money::basis_points("margin_bps", n) {
            prop_assert!((0..=10_000).contains(&v));
        }
    }

    #[test]
    fn click_ids_never_panic(raw in hostile()) {
        let signer = ClickSigner::new(b"test secret");
        if let Ok(id) = signer.verify(&raw) {
            prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_graphic()));
        }
    }
}
