//! The KPIs reports compute, each named once: [`Kpi`] is the one list of metrics, with its
//! wire name ([`Kpi::as_str`], the same in JSON and in `enrollments.target_metric`) and
//! what sets each apart (whether a target may be set on it, whether less is better).
//! A stored name that is none of them does not decode: an error, never a guess.

use serde::{Deserialize, Serialize};

/// Counts and money summed from the rollups, then ratios read from them (`report::Kpis`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Kpi {
    Clicks,
    UniqueClicks,
    BotClicks,
    Impressions,
    Reach,
    Engagements,
    Conversions,
    RevenueMinor,
    DiscountMinor,
    CostMinor,
    Ctr,
    EngagementRate,
    Cvr,
    AovMinor,
    EpcMinor,
    CpaMinor,
    CpcMinor,
    CpeMinor,
    Roas,
    Roi,
    BudgetUsed,
}

impl Kpi {
    /// Every KPI, in the order reports lay them out (the scorecard's CSV columns) and
    /// error messages list them.
    pub const ALL: [Kpi; 21] = [
        Kpi::Clicks,
        Kpi::UniqueClicks,
        Kpi::BotClicks,
        Kpi::Impressions,
        Kpi::Reach,
        Kpi::Engagements,
        Kpi::Conversions,
        Kpi::RevenueMinor,
        Kpi::DiscountMinor,
        Kpi::CostMinor,
        Kpi::Ctr,
        Kpi::EngagementRate,
        Kpi::Cvr,
        Kpi::AovMinor,
        Kpi::EpcMinor,
        Kpi::CpaMinor,
        Kpi::CpcMinor,
        Kpi::CpeMinor,
        Kpi::Roas,
        Kpi::Roi,
        Kpi::BudgetUsed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kpi::Clicks => "clicks",
            Kpi::UniqueClicks => "unique_clicks",
            Kpi::BotClicks => "bot_clicks",
            Kpi::Impressions => "impressions",
            Kpi::Reach => "reach",
            Kpi::Engagements => "engagements",
            Kpi::Conversions => "conversions",
            Kpi::RevenueMinor => "revenue_minor",
            Kpi::DiscountMinor => "discount_minor",
            Kpi::CostMinor => "cost_minor",
            Kpi::Ctr => "ctr",
            Kpi::EngagementRate => "engagement_rate",
            Kpi::Cvr => "cvr",
            Kpi::AovMinor => "aov_minor",
            Kpi::EpcMinor => "epc_minor",
            Kpi::CpaMinor => "cpa_minor",
            Kpi::CpcMinor => "cpc_minor",
            Kpi::CpeMinor => "cpe_minor",
            Kpi::Roas => "roas",
            Kpi::Roi => "roi",
            Kpi::BudgetUsed => "budget_used",
        }
    }

    /// Whether an enrollment may set a target on it. Not bot clicks (nobody aims for
    /// them), nor discounts, total cost or budget use: those are the brand's spend, not
    /// the influencer's performance.
    pub fn can_be_target(self) -> bool {
        !matches!(
            self,
            Kpi::BotClicks | Kpi::DiscountMinor | Kpi::CostMinor | Kpi::BudgetUsed
        )
    }

    /// Costs per result: less is better, so a target on one is met from below.
    pub fn lower_is_better(self) -> bool {
        matches!(
            self,
            Kpi::CpaMinor | Kpi::CpcMinor | Kpi::CpeMinor | Kpi::CostMinor
        )
    }

    /// The KPIs a target may be set on, in [`Kpi::ALL`]'s order.
    pub fn targets() -> impl Iterator<Item = Kpi> {
        Kpi::ALL.into_iter().filter(|k| k.can_be_target())
    }

    /// A client's `field`: the wire name of a KPI a target may be set on.
    pub fn parse_target(field: &'static str, raw: &str) -> Result<Kpi, super::Invalid> {
        let name = raw.trim();
        Kpi::targets().find(|k| k.as_str() == name).ok_or_else(|| {
            let names: Vec<&str> = Kpi::targets().map(Kpi::as_str).collect();
            super::Invalid::malformed(
                field,
                "invalid_metric",
                format!("{raw:?} is not a KPI; one of {}", names.join(", ")),
            )
        })
    }
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
    fn the_targets_are_the_performance_kpis() {
        let targets: Vec<&str> = Kpi::targets().map(Kpi::as_str).collect();
        assert_eq!(
            targets,
            [
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
            ]
        );
    }

    #[test]
    fn only_report_kpis_are_targets() {
        assert_eq!(Kpi::parse_target("target_metric", " cvr"), Ok(Kpi::Cvr));
        let refused = Kpi::parse_target("target_metric", "likes").unwrap_err();
        assert_eq!(refused.code, "invalid_metric");
        assert_eq!(
            refused.message,
            "\"likes\" is not a KPI; one of clicks, unique_clicks, impressions, reach, \
             engagements, conversions, revenue_minor, ctr, engagement_rate, cvr, aov_minor, \
             epc_minor, cpa_minor, cpc_minor, cpe_minor, roas, roi"
        );
        for spend in ["bot_clicks", "discount_minor", "cost_minor", "budget_used"] {
            assert!(
                Kpi::parse_target("target_metric", spend).is_err(),
                "{spend}"
            );
        }
    }

    #[test]
    fn every_name_round_trips_through_serde_and_is_unique() {
        for kpi in Kpi::ALL {
            let json = serde_json::to_value(kpi).unwrap();
            assert_eq!(json, serde_json::json!(kpi.as_str()));
            assert_eq!(serde_json::from_value::<Kpi>(json).unwrap(), kpi);
        }
        let mut names: Vec<&str> = Kpi::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Kpi::ALL.len());
    }
}
