//! Names of the KPIs reports compute; enrollments set targets on them.

pub const NAMES: &[&str] = &[
    "clicks",
    "unique_clicks",
    "impressions",
    "reach",
    "engagements",
    "conversions",
    "revenue_minor",
    "ctr",
    "engagement_rate",
    "cvr",
    "aov_minor",
    "epc_minor",
    "cpa_minor",
    "cpc_minor",
    "cpe_minor",
    "roas",
    "roi",
];

pub fn parse_name(field: &'static str, raw: &str) -> Result<&'static str, super::Invalid> {
    let name = raw.trim();
    NAMES.iter().copied().find(|n| *n == name).ok_or_else(|| {
        super::Invalid::malformed(
            field,
            "invalid_metric",
            format!("{raw:?} is not a KPI; one of {}", NAMES.join(", ")),
        )
    })
}

/// A target or goal value: a finite, non-negative number.
pub fn target_value(field: &'static str, value: f64) -> Result<f64, super::Invalid> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(super::Invalid::malformed(
            field,
            "invalid_number",
            "must be a number of at least 0",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_report_kpis_are_targets() {
        assert_eq!(parse_name("target_metric", "cvr"), Ok("cvr"));
        assert_eq!(
            parse_name("target_metric", "likes").unwrap_err().code,
            "invalid_metric"
        );
    }
}
