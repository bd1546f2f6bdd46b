//! Link options that are stored as documents: UTM parameters and redirect rules.

use serde::{Deserialize, Serialize};

use super::{text, url::WebUrl, Invalid};

pub const MAX_RULES: usize = 32;

/// UTM parameters appended to a link's destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Utm {
    pub source: String,
    pub medium: String,
    pub campaign: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
}

/// UTM as a client sends it: any subset; absent values get defaults.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UtmInput {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub content: Option<String>,
    pub term: Option<String>,
}

fn utm_value(field: &'static str, raw: &str) -> Result<String, Invalid> {
    text::bounded(field, raw, 200)
}

impl UtmInput {
    /// Fills the gaps with the product defaults:
    /// `utm_source=<handle>`, `utm_medium=influencer`, `utm_campaign=<campaign slug>`.
    pub fn resolve(&self, handle: &str, campaign_slug: &str) -> Result<Utm, Invalid> {
        self.apply_to(Utm {
            source: handle.to_owned(),
            medium: "influencer".to_owned(),
            campaign: campaign_slug.to_owned(),
            content: None,
            term: None,
        })
    }

    /// Overrides the values this input names.
    pub fn apply_to(&self, mut utm: Utm) -> Result<Utm, Invalid> {
        if let Some(v) = &self.source {
            utm.source = utm_value("utm.source", v)?;
        }
        if let Some(v) = &self.medium {
            utm.medium = utm_value("utm.medium", v)?;
        }
        if let Some(v) = &self.campaign {
            utm.campaign = utm_value("utm.campaign", v)?;
        }
        if let Some(v) = &self.content {
            utm.content = Some(utm_value("utm.content", v)?);
        }
        if let Some(v) = &self.term {
            utm.term = Some(utm_value("utm.term", v)?);
        }
        Ok(utm)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    Ios,
    Android,
    Desktop,
    /// Any phone or tablet.
    Mobile,
}

/// "Visitors on `device` in `country` go to `destination`"; the first matching rule wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub destination: WebUrl,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub device: Option<Device>,
    pub country: Option<String>,
    pub destination: String,
}

pub fn parse_rules(inputs: &[RuleInput]) -> Result<Vec<Rule>, Invalid> {
    if inputs.len() > MAX_RULES {
        return Err(Invalid::malformed(
            "rules",
            "too_many_rules",
            format!("at most {MAX_RULES} rules"),
        ));
    }
    inputs
        .iter()
        .map(|input| {
            if input.device.is_none() && input.country.is_none() {
                return Err(Invalid::malformed(
                    "rules",
                    "invalid_rule",
                    "every rule needs a device or a country",
                ));
            }
            let country = input.country.as_deref().map(parse_country).transpose()?;
            Ok(Rule {
                device: input.device,
                country,
                destination: WebUrl::parse("rules.destination", &input.destination)?,
            })
        })
        .collect()
}

/// An ISO 3166-1 alpha-2 code, upper-case.
pub fn parse_country(raw: &str) -> Result<String, Invalid> {
    let upper = raw.trim().to_ascii_uppercase();
    isocountry::CountryCode::for_alpha2(&upper)
        .map(|_| upper.clone())
        .map_err(|_| {
            Invalid::malformed(
                "rules.country",
                "invalid_country",
                format!("{raw:?} is not an ISO 3166-1 alpha-2 country code"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utm_defaults_come_from_handle_and_campaign() {
        let utm = UtmInput::default().resolve("emma", "summer-26").unwrap();
        assert_eq!(utm.source, "emma");
        assert_eq!(utm.medium, "influencer");
        assert_eq!(utm.campaign, "summer-26");
        assert_eq!(utm.content, None);
    }

    #[test]
    fn given_utm_values_override_defaults() {
        let input = UtmInput {
            medium: Some("story".into()),
            content: Some("reel-1".into()),
            ..Default::default()
        };
        let utm = input.resolve("emma", "summer").unwrap();
        assert_eq!(utm.medium, "story");
        assert_eq!(utm.content.as_deref(), Some("reel-1"));
        assert!(UtmInput {
            source: Some("  ".into()),
            ..Default::default()
        }
        .resolve("e", "c")
        .is_err());
    }

    #[test]
    fn rules_need_a_condition_and_a_safe_destination() {
        let ok = parse_rules(&[RuleInput {
            device: Some(Device::Ios),
            country: Some("se".into()),
            destination: "https://apps.apple.com/x".into(),
        }])
        .unwrap();
        assert_eq!(ok[0].country.as_deref(), Some("SE"));

        let no_condition = RuleInput {
            device: None,
            country: None,
            destination: "https://a.com".into(),
        };
        assert_eq!(
            parse_rules(&[no_condition]).unwrap_err().code,
            "invalid_rule"
        );

        let bad_country = RuleInput {
            device: None,
            country: Some("XX".into()),
            destination: "https://a.com".into(),
        };
        assert_eq!(
            parse_rules(&[bad_country]).unwrap_err().code,
            "invalid_country"
        );

        let bad_url = RuleInput {
            device: Some(Device::Android),
            country: None,
            destination: "javascript:alert(1)".into(),
        };
        assert_eq!(
            parse_rules(&[bad_url]).unwrap_err().code,
            "invalid_url_scheme"
        );
    }
}
