//! The arithmetic of reports (DESIGN.md section 6): what is added up (a [`Tally`]), what it
//! cost under an enrollment's terms ([`Cost`]), and the ratios read from both ([`Kpis`]).
//! Ratios are computed when reading, never stored, and are `None` (JSON `null`) when their
//! denominator is zero.
//!
//! Nothing here can overflow or panic, whatever the stored numbers: sums and products
//! saturate at the ends of `i64`, and quotients are computed in `i128` (money) or `f64`
//! (ratios), so a report on absurd data shows absurdly large numbers instead of a 500.

use std::{collections::BTreeMap, ops::AddAssign};

use serde::Serialize;

use super::{campaign::Goal, kpi::Kpi};

/// Numerators and denominators of one influencer, or of a whole campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Tally {
    /// Non-bot clicks.
    pub clicks: i64,
    /// First non-bot click of a visitor on a link per UTC day: the billable clicks.
    pub unique_clicks: i64,
    pub bot_clicks: i64,
    /// Non-bot clicks in a burst (`domain::fraud`), and the unique ones among them: those
    /// are not billed per click.
    pub flagged_clicks: i64,
    pub flagged_unique_clicks: i64,
    pub impressions: i64,
    pub reach: i64,
    /// The part of `impressions` and `reach` whose latest snapshot is self-reported.
    pub unverified_impressions: i64,
    pub unverified_reach: i64,
    /// Likes + comments + shares + saves.
    pub engagements: i64,
    pub posts: i64,
    /// Attributed sales, less the cancelled and the fully refunded.
    pub conversions: i64,
    /// Of `conversions`, those with a fraud signal (fast, leaked code): not billed per
    /// conversion.
    pub flagged_conversions: i64,
    /// Every attributed conversion's amount, net of refunds and cancellations.
    pub revenue_minor: i64,
    pub discount_minor: i64,
    pub refunded_minor: i64,
    /// Attributed conversions of every kind (sales too), less the cancelled and refunded.
    pub conversions_by_kind: BTreeMap<String, i64>,
}

impl AddAssign<&Tally> for Tally {
    fn add_assign(&mut self, other: &Tally) {
        self.clicks = self.clicks.saturating_add(other.clicks);
        self.unique_clicks = self.unique_clicks.saturating_add(other.unique_clicks);
        self.bot_clicks = self.bot_clicks.saturating_add(other.bot_clicks);
        self.flagged_clicks = self.flagged_clicks.saturating_add(other.flagged_clicks);
        self.flagged_unique_clicks = self
            .flagged_unique_clicks
            .saturating_add(other.flagged_unique_clicks);
        self.impressions = self.impressions.saturating_add(other.impressions);
        self.reach = self.reach.saturating_add(other.reach);
        self.unverified_impressions = self
            .unverified_impressions
            .saturating_add(other.unverified_impressions);
        self.unverified_reach = self.unverified_reach.saturating_add(other.unverified_reach);
        self.engagements = self.engagements.saturating_add(other.engagements);
        self.posts = self.posts.saturating_add(other.posts);
        self.conversions = self.conversions.saturating_add(other.conversions);
        self.flagged_conversions = self
            .flagged_conversions
            .saturating_add(other.flagged_conversions);
        self.revenue_minor = self.revenue_minor.saturating_add(other.revenue_minor);
        self.discount_minor = self.discount_minor.saturating_add(other.discount_minor);
        self.refunded_minor = self.refunded_minor.saturating_add(other.refunded_minor);
        for (kind, n) in &other.conversions_by_kind {
            let total = self.conversions_by_kind.entry(kind.clone()).or_default();
            *total = total.saturating_add(*n);
        }
    }
}

/// An enrollment's compensation terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compensation {
    pub flat_fee_minor: i64,
    /// The flat fee is owed per post rather than once for the campaign.
    pub flat_fee_per_post: bool,
    pub cpc_minor: i64,
    pub cpa_minor: i64,
    pub revenue_share_bps: i32,
}

/// Cost by component, in the campaign currency's minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Cost {
    pub flat_fees_minor: i64,
    /// CPC × billable clicks: unique ones not in a burst.
    pub click_fees_minor: i64,
    /// CPA × conversions without a fraud signal.
    pub conversion_fees_minor: i64,
    /// Revenue share × net revenue, rounded half up to a minor unit.
    pub revenue_share_minor: i64,
    pub cost_lines_minor: i64,
}

impl Cost {
    pub fn total(&self) -> i64 {
        [
            self.click_fees_minor,
            self.conversion_fees_minor,
            self.revenue_share_minor,
            self.cost_lines_minor,
        ]
        .into_iter()
        .fold(self.flat_fees_minor, i64::saturating_add)
    }
}

impl AddAssign<&Cost> for Cost {
    fn add_assign(&mut self, other: &Cost) {
        self.flat_fees_minor = self.flat_fees_minor.saturating_add(other.flat_fees_minor);
        self.click_fees_minor = self.click_fees_minor.saturating_add(other.click_fees_minor);
        self.conversion_fees_minor = self
            .conversion_fees_minor
            .saturating_add(other.conversion_fees_minor);
        self.revenue_share_minor = self
            .revenue_share_minor
            .saturating_add(other.revenue_share_minor);
        self.cost_lines_minor = self.cost_lines_minor.saturating_add(other.cost_lines_minor);
    }
}

impl Compensation {
    /// What the terms cost for `tally`. A per-campaign flat fee is owed when
    /// `campaign_fee_due` (the report's range holds the campaign's start), a per-post one
    /// for each post in the range.
    pub fn cost(&self, tally: &Tally, campaign_fee_due: bool, cost_lines_minor: i64) -> Cost {
        let flat_fees_minor = if self.flat_fee_per_post {
            self.flat_fee_minor.saturating_mul(tally.posts)
        } else if campaign_fee_due {
            self.flat_fee_minor
        } else {
            0
        };
        Cost {
            flat_fees_minor,
            click_fees_minor: self.cpc_minor.saturating_mul(
                tally
                    .unique_clicks
                    .saturating_sub(tally.flagged_unique_clicks),
            ),
            conversion_fees_minor: self
                .cpa_minor
                .saturating_mul(tally.conversions.saturating_sub(tally.flagged_conversions)),
            revenue_share_minor: share(tally.revenue_minor, self.revenue_share_bps),
            cost_lines_minor,
        }
    }
}

/// `amount × bps / 10 000`, rounded half up (amounts are never negative).
fn share(amount_minor: i64, bps: i32) -> i64 {
    let exact = i128::from(amount_minor) * i128::from(bps);
    clamp_i64((exact + 5_000).div_euclid(10_000))
}

/// A money amount divided by a count, rounded half up to a minor unit.
fn per(amount_minor: i64, count: i64) -> Option<i64> {
    (count != 0).then(|| {
        let (a, c) = (i128::from(amount_minor), i128::from(count));
        clamp_i64((2 * a + c).div_euclid(2 * c))
    })
}

/// The nearest i64: a result past either end saturates, as the sums it comes from do.
fn clamp_i64(exact: i128) -> i64 {
    exact.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator != 0.0).then(|| numerator / denominator)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Kpis {
    pub ctr: Option<f64>,
    pub engagement_rate: Option<f64>,
    pub cvr: Option<f64>,
    pub aov_minor: Option<i64>,
    pub epc_minor: Option<i64>,
    pub cpa_minor: Option<i64>,
    pub cpc_minor: Option<i64>,
    pub cpe_minor: Option<i64>,
    pub roas: Option<f64>,
    pub roi: Option<f64>,
    pub budget_used: Option<f64>,
}

impl Kpis {
    /// `margin_bps`: the campaign's gross margin (none: revenue counts in full);
    /// `budget_minor`: what `budget_used` is a share of.
    pub fn of(
        t: &Tally,
        cost_minor: i64,
        margin_bps: Option<i32>,
        budget_minor: Option<i64>,
    ) -> Kpis {
        let revenue = t.revenue_minor as f64;
        let cost = cost_minor as f64;
        let margin = margin_bps.map_or(1.0, |bps| f64::from(bps) / 10_000.0);
        let engaged_audience = if t.reach != 0 { t.reach } else { t.impressions };
        Kpis {
            ctr: ratio(t.clicks as f64, t.impressions as f64),
            engagement_rate: ratio(t.engagements as f64, engaged_audience as f64),
            cvr: ratio(t.conversions as f64, t.unique_clicks as f64),
            aov_minor: per(t.revenue_minor, t.conversions),
            epc_minor: per(t.revenue_minor, t.clicks),
            cpa_minor: per(cost_minor, t.conversions),
            cpc_minor: per(cost_minor, t.clicks),
            cpe_minor: per(cost_minor, t.engagements),
            roas: ratio(revenue, cost),
            roi: ratio(revenue * margin - cost, cost),
            budget_used: budget_minor.and_then(|b| ratio(cost, b as f64)),
        }
    }
}

/// The value of `kpi`, as a number to rank or compare.
pub fn metric(kpi: Kpi, t: &Tally, cost_minor: i64, k: &Kpis) -> Option<f64> {
    let count = |n: i64| Some(n as f64);
    let money = |m: Option<i64>| m.map(|v| v as f64);
    match kpi {
        Kpi::Clicks => count(t.clicks),
        Kpi::UniqueClicks => count(t.unique_clicks),
        Kpi::BotClicks => count(t.bot_clicks),
        Kpi::Impressions => count(t.impressions),
        Kpi::Reach => count(t.reach),
        Kpi::Engagements => count(t.engagements),
        Kpi::Conversions => count(t.conversions),
        Kpi::RevenueMinor => count(t.revenue_minor),
        Kpi::DiscountMinor => count(t.discount_minor),
        Kpi::CostMinor => count(cost_minor),
        Kpi::Ctr => k.ctr,
        Kpi::EngagementRate => k.engagement_rate,
        Kpi::Cvr => k.cvr,
        Kpi::AovMinor => money(k.aov_minor),
        Kpi::EpcMinor => money(k.epc_minor),
        Kpi::CpaMinor => money(k.cpa_minor),
        Kpi::CpcMinor => money(k.cpc_minor),
        Kpi::CpeMinor => money(k.cpe_minor),
        Kpi::Roas => k.roas,
        Kpi::Roi => k.roi,
        Kpi::BudgetUsed => k.budget_used,
    }
}

/// How far `value` has come towards `target`: 1.0 is the target reached. For costs per
/// result, the target over the value (a CPA of half the target is progress 2.0).
pub fn progress(kpi: Kpi, value: Option<f64>, target: f64) -> Option<f64> {
    let value = value?;
    if kpi.lower_is_better() {
        ratio(target, value)
    } else {
        ratio(value, target)
    }
}

/// The KPI a campaign goal is measured by.
pub fn goal_metric(goal: Goal) -> Kpi {
    match goal {
        Goal::Awareness => Kpi::Impressions,
        Goal::Traffic => Kpi::Clicks,
        Goal::Conversions => Kpi::Conversions,
        Goal::Revenue => Kpi::RevenueMinor,
    }
}

/// Competition ranks ("1224") of `values`, highest first; `None` ranks last.
pub fn ranks(values: &[Option<f64>]) -> Vec<usize> {
    values
        .iter()
        .map(|v| {
            1 + values
                .iter()
                .filter(|other| match (other, v) {
                    (Some(o), Some(v)) => o > v,
                    (Some(_), None) => true,
                    (None, _) => false,
                })
                .count()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally() -> Tally {
        Tally {
            clicks: 300,
            unique_clicks: 200,
            bot_clicks: 7,
            impressions: 10_000,
            reach: 8_000,
            engagements: 400,
            posts: 2,
            conversions: 10,
            revenue_minor: 50_000,
            ..Tally::default()
        }
    }

    #[test]
    fn cost_adds_every_component_of_the_terms() {
        let terms = Compensation {
            flat_fee_minor: 10_000,
            flat_fee_per_post: false,
            cpc_minor: 5,
            cpa_minor: 100,
            revenue_share_bps: 1_000,
        };
        let cost = terms.cost(&tally(), true, 2_500);
        assert_eq!(
            cost,
            Cost {
                flat_fees_minor: 10_000,
                click_fees_minor: 1_000,
                conversion_fees_minor: 1_000,
                revenue_share_minor: 5_000,
                cost_lines_minor: 2_500,
            }
        );
        assert_eq!(cost.total(), 19_500);
        // Outside the campaign's start, the campaign fee is not owed; per post, it is
        assert_eq!(terms.cost(&tally(), false, 0).flat_fees_minor, 0);
        let per_post = Compensation {
            flat_fee_per_post: true,
            ..terms
        };
        assert_eq!(per_post.cost(&tally(), false, 0).flat_fees_minor, 20_000);
    }

    #[test]
    fn flagged_clicks_and_conversions_are_not_billed() {
        let terms = Compensation {
            cpc_minor: 5,
            cpa_minor: 100,
            ..Compensation::default()
        };
        let flagged = Tally {
            flagged_clicks: 50,
            flagged_unique_clicks: 40,
            flagged_conversions: 3,
            ..tally()
        };
        let cost = terms.cost(&flagged, true, 0);
        assert_eq!(cost.click_fees_minor, 5 * (200 - 40));
        assert_eq!(cost.conversion_fees_minor, 100 * (10 - 3));
    }

    #[test]
    fn shares_and_averages_round_half_up() {
        assert_eq!(share(15, 1_000), 2); // 1.5
        assert_eq!(share(14, 1_000), 1); // 1.4
        assert_eq!(per(5, 2), Some(3)); // 2.5
        assert_eq!(per(7, 3), Some(2)); // 2.33
        assert_eq!(per(5, 0), None);
    }

    #[test]
    fn kpis_follow_the_design_formulas() {
        let k = Kpis::of(&tally(), 20_000, Some(4_000), Some(100_000));
        assert_eq!(k.ctr, Some(0.03));
        assert_eq!(k.engagement_rate, Some(0.05));
        assert_eq!(k.cvr, Some(0.05));
        assert_eq!(k.aov_minor, Some(5_000));
        assert_eq!(k.epc_minor, Some(167)); // 166.67
        assert_eq!(k.cpa_minor, Some(2_000));
        assert_eq!(k.cpc_minor, Some(67)); // 66.67
        assert_eq!(k.cpe_minor, Some(50));
        assert_eq!(k.roas, Some(2.5));
        assert_eq!(k.roi, Some(0.0)); // 50 000 × 0.4 − 20 000 = 0
        assert_eq!(k.budget_used, Some(0.2));
    }

    #[test]
    fn a_zero_denominator_gives_none_never_nan() {
        let k = Kpis::of(&Tally::default(), 0, None, Some(0));
        assert_eq!(
            k,
            Kpis {
                ctr: None,
                engagement_rate: None,
                cvr: None,
                aov_minor: None,
                epc_minor: None,
                cpa_minor: None,
                cpc_minor: None,
                cpe_minor: None,
                roas: None,
                roi: None,
                budget_used: None,
            }
        );
        // Engagement rate falls back to impressions when no reach is known
        let no_reach = Tally {
            reach: 0,
            ..tally()
        };
        assert_eq!(
            Kpis::of(&no_reach, 0, None, None).engagement_rate,
            Some(0.04)
        );
    }

    #[test]
    fn progress_towards_a_cost_target_is_met_from_below() {
        assert_eq!(progress(Kpi::Conversions, Some(5.0), 10.0), Some(0.5));
        assert_eq!(progress(Kpi::CpaMinor, Some(500.0), 1_000.0), Some(2.0));
        assert_eq!(progress(Kpi::CpaMinor, None, 1_000.0), None);
        assert_eq!(progress(Kpi::Clicks, Some(5.0), 0.0), None);
    }

    #[test]
    fn ranks_share_places_on_ties_and_put_unknowns_last() {
        assert_eq!(
            ranks(&[Some(3.0), Some(9.0), None, Some(3.0)]),
            vec![2, 1, 4, 2]
        );
    }

    fn any_tally() -> impl proptest::strategy::Strategy<Value = Tally> {
        use proptest::prelude::*;
        (
            proptest::array::uniform8(any::<i64>()),
            proptest::array::uniform8(any::<i64>()),
        )
            .prop_map(|(a, b)| Tally {
                clicks: a[0],
                unique_clicks: a[1],
                bot_clicks: a[2],
                flagged_clicks: a[3],
                flagged_unique_clicks: a[4],
                impressions: a[5],
                reach: a[6],
                unverified_impressions: a[7],
                unverified_reach: b[0],
                engagements: b[1],
                posts: b[2],
                conversions: b[3],
                flagged_conversions: b[4],
                revenue_minor: b[5],
                discount_minor: b[6],
                refunded_minor: b[7],
                conversions_by_kind: BTreeMap::from([("sale".to_owned(), b[3])]),
            })
    }

    proptest::proptest! {
        #[test]
        fn no_numbers_make_report_arithmetic_panic(
            a in any_tally(),
            b in any_tally(),
            fee in proptest::prelude::any::<i64>(),
            cpc in proptest::prelude::any::<i64>(),
            cpa in proptest::prelude::any::<i64>(),
            bps in proptest::prelude::any::<i32>(),
            lines in proptest::prelude::any::<i64>(),
            margin in proptest::prelude::any::<Option<i32>>(),
            budget in proptest::prelude::any::<Option<i64>>(),
            per_post in proptest::prelude::any::<bool>(),
        ) {
            let mut total = a.clone();
            total += &b;
            let terms = Compensation {
                flat_fee_minor: fee,
                flat_fee_per_post: per_post,
                cpc_minor: cpc,
                cpa_minor: cpa,
                revenue_share_bps: bps,
            };
            let mut cost = terms.cost(&a, true, lines);
            cost += &terms.cost(&total, false, lines);
            let k = Kpis::of(&total, cost.total(), margin, budget);
            for kpi in Kpi::ALL {
                let _ = metric(kpi, &total, cost.total(), &k);
            }
        }

        #[test]
        fn sums_saturate_instead_of_wrapping(x in proptest::prelude::any::<i64>(), y in proptest::prelude::any::<i64>()) {
            let mut t = Tally { revenue_minor: x, ..Tally::default() };
            t += &Tally { revenue_minor: y, ..Tally::default() };
            proptest::prop_assert_eq!(t.revenue_minor, x.saturating_add(y));
        }
    }

    #[test]
    fn money_quotients_saturate_at_both_ends() {
        assert_eq!(per(i64::MAX, 1), Some(i64::MAX));
        assert_eq!(per(i64::MIN, 1), Some(i64::MIN));
        assert_eq!(per(i64::MIN, -1), Some(i64::MAX));
        assert_eq!(share(i64::MIN, 10_000), i64::MIN);
        let huge = Cost {
            flat_fees_minor: i64::MAX,
            cost_lines_minor: 1,
            ..Cost::default()
        };
        assert_eq!(huge.total(), i64::MAX);
    }

    #[test]
    fn every_target_metric_has_a_value() {
        let t = tally();
        let k = Kpis::of(&t, 1_000, None, Some(10_000));
        for kpi in Kpi::targets() {
            assert!(metric(kpi, &t, 1_000, &k).is_some(), "{kpi:?}");
        }
    }
}
