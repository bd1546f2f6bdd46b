//! Rollup contributions: what a batch of click facts or one conversion-type event adds to
//! the rollup rows, as plain arithmetic with no I/O.
//!
//! Owns the counters of a click rollup row ([`ClickCounts`]) and of a conversion rollup
//! row ([`ConversionCounts`]), how one inserted click counts in them, how a batch of clicks
//! groups into rows per link and hour, per link and UTC day, and per campaign, dimension,
//! hour and value ([`click_rollups`]), and what each conversion-type event adds under
//! each credit it touches ([`contributions`]).
//!
//! Guarantees: the same facts give the same rows, in the same (key) order, whatever order
//! they come in, so writers that take row locks in that order cannot deadlock one another;
//! every conversion contribution is a difference, so the rollups come out the same
//! whatever order a conversion's events arrive in. The sums are plain `i64` arithmetic,
//! as the rollup columns are: no saturation here (reports saturate when they add rows up).
//! Applying the rows is `storage`'s job.

use chrono::{DateTime, DurationRound, NaiveDate, Utc};

/// What clicks add to one click rollup row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClickCounts {
    /// Non-bot clicks.
    pub clicks: i64,
    pub unique_clicks: i64,
    pub bot_clicks: i64,
    /// Non-bot clicks past the burst limit.
    pub flagged_clicks: i64,
    pub flagged_unique_clicks: i64,
}

impl ClickCounts {
    /// Counts one click in.
    pub fn add(&mut self, click: &ClickFact) {
        self.clicks += i64::from(!click.is_bot);
        self.unique_clicks += i64::from(click.unique);
        self.bot_clicks += i64::from(click.is_bot);
        self.flagged_clicks += i64::from(click.burst && !click.is_bot);
        self.flagged_unique_clicks += i64::from(click.burst && click.unique);
    }
}

/// One newly stored click, as the rollups see it.
#[derive(Debug, Clone, Copy)]
pub struct ClickFact<'a> {
    pub link_id: i64,
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub clicked_at: DateTime<Utc>,
    pub is_bot: bool,
    /// Past the burst limit of its visitor or address on its link (`fraud`).
    pub burst: bool,
    /// The first click of its visitor on its link that UTC day.
    pub unique: bool,
    pub country: Option<&'a str>,
    pub device: &'a str,
    pub browser: Option<&'a str>,
    pub os: Option<&'a str>,
    pub referrer_host: Option<&'a str>,
    pub trigger: &'a str,
}

impl<'a> ClickFact<'a> {
    /// The click's value of each dimension the campaign breakdowns have (`""`: unknown).
    pub fn dimensions(&self) -> [(&'static str, &'a str); 6] {
        [
            ("country", self.country.unwrap_or("")),
            ("device", self.device),
            ("browser", self.browser.unwrap_or("")),
            ("os", self.os.unwrap_or("")),
            ("referrer", self.referrer_host.unwrap_or("")),
            ("trigger", self.trigger),
        ]
    }
}

/// A row of a per-link rollup: the link's owners and what the batch adds at `at` (an hour
/// or a UTC day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkRow<T> {
    pub link_id: i64,
    pub at: T,
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub counts: ClickCounts,
}

/// A row of the per-campaign dimension rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DimensionRow<'a> {
    pub campaign_id: i64,
    pub dimension: &'static str,
    pub hour: DateTime<Utc>,
    pub value: &'a str,
    pub counts: ClickCounts,
}

/// What a batch of clicks adds to each click rollup, every list in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClickRollups<'a> {
    /// Per link and hour (UTC).
    pub hours: Vec<LinkRow<DateTime<Utc>>>,
    /// Per link and UTC day.
    pub days: Vec<LinkRow<NaiveDate>>,
    /// Per campaign, dimension, hour and value.
    pub dimensions: Vec<DimensionRow<'a>>,
}

/// Groups the clicks into the rows they add to. A batch only touches a few rows of each
/// rollup, so grouping here costs little, where grouping in SQL made six rows of every
/// click first. A link's owners are those of its first click in the batch (links never
/// change owner).
pub fn click_rollups<'a>(clicks: impl IntoIterator<Item = ClickFact<'a>>) -> ClickRollups<'a> {
    type Owned = (i64, i64, ClickCounts);
    type DimKey<'a> = (i64, &'static str, DateTime<Utc>, &'a str);
    let mut hours: foldhash::HashMap<(i64, DateTime<Utc>), Owned> = Default::default();
    let mut days: foldhash::HashMap<(i64, NaiveDate), Owned> = Default::default();
    let mut dims: foldhash::HashMap<DimKey<'a>, ClickCounts> = Default::default();
    for click in clicks {
        let hour = click
            .clicked_at
            .duration_trunc(chrono::Duration::hours(1))
            .unwrap_or(click.clicked_at);
        let owner = (
            click.campaign_id,
            click.influencer_id,
            ClickCounts::default(),
        );
        hours
            .entry((click.link_id, hour))
            .or_insert(owner)
            .2
            .add(&click);
        days.entry((click.link_id, click.clicked_at.date_naive()))
            .or_insert(owner)
            .2
            .add(&click);
        for (dimension, value) in click.dimensions() {
            dims.entry((click.campaign_id, dimension, hour, value))
                .or_default()
                .add(&click);
        }
    }
    let mut hours: Vec<_> = hours.into_iter().collect();
    hours.sort_unstable_by_key(|(key, _)| *key);
    let mut days: Vec<_> = days.into_iter().collect();
    days.sort_unstable_by_key(|(key, _)| *key);
    let mut dims: Vec<_> = dims.into_iter().collect();
    dims.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    ClickRollups {
        hours: hours.into_iter().map(link_row).collect(),
        days: days.into_iter().map(link_row).collect(),
        dimensions: dims
            .into_iter()
            .map(
                |((campaign_id, dimension, hour, value), counts)| DimensionRow {
                    campaign_id,
                    dimension,
                    hour,
                    value,
                    counts,
                },
            )
            .collect(),
    }
}

fn link_row<T>(
    ((link_id, at), (campaign_id, influencer_id, counts)): ((i64, T), (i64, i64, ClickCounts)),
) -> LinkRow<T> {
    LinkRow {
        link_id,
        at,
        campaign_id,
        influencer_id,
        counts,
    }
}

/// The counters of a conversion rollup row, or a change to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConversionCounts {
    pub conversions: i64,
    pub revenue_minor: i64,
    pub discount_minor: i64,
    pub refunded_minor: i64,
    pub cancelled: i64,
    pub voided: i64,
    pub flagged: i64,
}

impl ConversionCounts {
    /// Every counter multiplied by `sign` (-1 takes a contribution back).
    pub fn times(self, sign: i64) -> Self {
        ConversionCounts {
            conversions: sign * self.conversions,
            revenue_minor: sign * self.revenue_minor,
            discount_minor: sign * self.discount_minor,
            refunded_minor: sign * self.refunded_minor,
            cancelled: sign * self.cancelled,
            voided: sign * self.voided,
            flagged: sign * self.flagged,
        }
    }

    /// What a new conversion adds under its credit.
    pub fn converted(amounts: Amounts, flagged: bool) -> Self {
        ConversionCounts {
            conversions: 1,
            revenue_minor: amounts.amount_minor,
            discount_minor: amounts.discount_minor,
            flagged: i64::from(flagged),
            ..ConversionCounts::default()
        }
    }

    /// What a refund (or, with `cancellation`, a cancellation) adds: what it refunds, and,
    /// when it voids the conversion, takes back the conversion's flag.
    pub fn refunded(amounts: Amounts, cancellation: bool, flagged: bool) -> Self {
        let voided = i64::from(amounts.voids);
        ConversionCounts {
            refunded_minor: amounts.amount_minor,
            cancelled: i64::from(cancellation),
            voided,
            flagged: -(voided * i64::from(flagged)),
            ..ConversionCounts::default()
        }
    }

    /// Everything a conversion counts in `state`: what a re-attribution moves.
    pub fn counted(amounts: Amounts, state: Counted, flagged: bool) -> Self {
        ConversionCounts {
            conversions: 1,
            revenue_minor: amounts.amount_minor,
            discount_minor: amounts.discount_minor,
            refunded_minor: state.refunded_minor,
            cancelled: i64::from(state.cancelled),
            voided: i64::from(state.voided),
            flagged: i64::from(flagged && !state.voided),
        }
    }
}

/// What one event changes in one rollup row of a credit `C` (a re-attribution changes two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution<C> {
    pub credit: C,
    pub counts: ConversionCounts,
}

/// What a conversion counted in the rollups at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// A cancellation counts what was left as refunded.
    pub refunded_minor: i64,
    pub cancelled: bool,
    /// It no longer counts as a conversion.
    pub voided: bool,
}

/// The amounts of one conversion-type event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amounts {
    /// A conversion's amount; a refund's refunded amount; what a cancellation refunds.
    pub amount_minor: i64,
    pub discount_minor: i64,
    /// The event stops the conversion from counting.
    pub voids: bool,
}

/// The kinds of conversion-type event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Conversion,
    Refund,
    Cancellation,
    /// The credit moved, with what the conversion counted when it did.
    Reattribution(Counted),
}

/// What one conversion-type event adds to the rollups: under `credit` (the event's credit,
/// with whether the event is flagged under it), and, for a re-attribution, taken back from
/// `moved_from` (the old credit, with whether it was flagged there), old credit first.
///
/// A conversion adds itself under its credit; a refund or cancellation adds what it
/// refunds (and, when it voids the conversion, takes back the count and its flag); a
/// re-attribution takes the conversion's state from the old credit and adds it under the
/// new one. An event without a credit adds nothing.
pub fn contributions<C: Clone>(
    change: Change,
    amounts: Amounts,
    credit: Option<(&C, bool)>,
    moved_from: Option<(&C, bool)>,
) -> Vec<Contribution<C>> {
    let at = |credit: &C, sign: i64, counts: ConversionCounts| Contribution {
        credit: credit.clone(),
        counts: counts.times(sign),
    };
    match change {
        Change::Conversion => credit
            .iter()
            .map(|&(c, flagged)| at(c, 1, ConversionCounts::converted(amounts, flagged)))
            .collect(),
        Change::Refund | Change::Cancellation => credit
            .iter()
            .map(|&(c, flagged)| {
                let cancellation = change == Change::Cancellation;
                at(
                    c,
                    1,
                    ConversionCounts::refunded(amounts, cancellation, flagged),
                )
            })
            .collect(),
        Change::Reattribution(state) => {
            let counts = |flagged| ConversionCounts::counted(amounts, state, flagged);
            let from = moved_from
                .iter()
                .map(|&(old, flagged)| at(old, -1, counts(flagged)));
            let to = credit
                .iter()
                .map(|&(new, flagged)| at(new, 1, counts(flagged)));
            from.chain(to).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn click(link_id: i64, at: DateTime<Utc>) -> ClickFact<'static> {
        ClickFact {
            link_id,
            campaign_id: 10,
            influencer_id: 20,
            clicked_at: at,
            is_bot: false,
            burst: false,
            unique: false,
            country: Some("DE"),
            device: "mobile",
            browser: None,
            os: Some("iOS"),
            referrer_host: None,
            trigger: "link",
        }
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, 0).unwrap()
    }

    #[test]
    fn a_click_counts_by_kind() {
        let mut counts = ClickCounts::default();
        let human = click(1, at(0, 0));
        counts.add(&ClickFact {
            unique: true,
            burst: true,
            ..human
        });
        counts.add(&ClickFact {
            is_bot: true,
            burst: true,
            ..human
        });
        counts.add(&human);
        assert_eq!(
            counts,
            ClickCounts {
                clicks: 2,
                unique_clicks: 1,
                bot_clicks: 1,
                flagged_clicks: 1,
                flagged_unique_clicks: 1,
            }
        );
    }

    #[test]
    fn clicks_group_by_link_hour_day_and_dimension_in_key_order() {
        let later_day = Utc.with_ymd_and_hms(2026, 3, 2, 5, 0, 0).unwrap();
        let rollups = click_rollups([
            click(2, at(1, 59)),
            click(1, at(1, 10)),
            click(2, at(1, 0)),
            ClickFact {
                unique: true,
                ..click(2, at(2, 0))
            },
            click(2, later_day),
        ]);
        let hours: Vec<_> = rollups
            .hours
            .iter()
            .map(|r| (r.link_id, r.at, r.counts.clicks, r.counts.unique_clicks))
            .collect();
        assert_eq!(
            hours,
            [
                (1, at(1, 0), 1, 0),
                (2, at(1, 0), 2, 0),
                (2, at(2, 0), 1, 1),
                (2, Utc.with_ymd_and_hms(2026, 3, 2, 5, 0, 0).unwrap(), 1, 0),
            ]
        );
        let days: Vec<_> = rollups
            .days
            .iter()
            .map(|r| (r.link_id, r.at.to_string(), r.counts.clicks))
            .collect();
        assert_eq!(
            days,
            [
                (1, "2026-03-01".to_owned(), 1),
                (2, "2026-03-01".to_owned(), 3),
                (2, "2026-03-02".to_owned(), 1),
            ]
        );
        assert!(rollups
            .hours
            .iter()
            .all(|r| (r.campaign_id, r.influencer_id) == (10, 20)));
        // Three hours, six dimensions each, one value each.
        assert_eq!(rollups.dimensions.len(), 18);
        let keys: Vec<_> = rollups
            .dimensions
            .iter()
            .map(|d| (d.campaign_id, d.dimension, d.hour, d.value))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        let country_at_one = rollups
            .dimensions
            .iter()
            .find(|d| d.dimension == "country" && d.hour == at(1, 0))
            .map(|d| (d.value, d.counts.clicks));
        assert_eq!(country_at_one, Some(("DE", 3)));
        let browser = rollups
            .dimensions
            .iter()
            .find(|d| d.dimension == "browser")
            .map(|d| d.value);
        assert_eq!(browser, Some(""), "an unknown value is empty");
    }

    #[test]
    fn the_order_of_the_clicks_changes_nothing() {
        let clicks = [
            click(3, at(4, 0)),
            ClickFact {
                is_bot: true,
                ..click(1, at(0, 30))
            },
            click(2, at(23, 59)),
            click(1, at(0, 31)),
        ];
        let mut reversed = clicks;
        reversed.reverse();
        assert_eq!(click_rollups(clicks), click_rollups(reversed));
        assert_eq!(click_rollups([]), ClickRollups::default());
    }

    const AMOUNTS: Amounts = Amounts {
        amount_minor: 5000,
        discount_minor: 500,
        voids: false,
    };

    #[test]
    fn a_conversion_adds_itself_under_its_credit() {
        let added = contributions(Change::Conversion, AMOUNTS, Some((&"new", true)), None);
        assert_eq!(
            added,
            [Contribution {
                credit: "new",
                counts: ConversionCounts {
                    conversions: 1,
                    revenue_minor: 5000,
                    discount_minor: 500,
                    flagged: 1,
                    ..ConversionCounts::default()
                },
            }]
        );
        assert!(contributions::<&str>(Change::Conversion, AMOUNTS, None, None).is_empty());
    }

    #[test]
    fn a_voiding_refund_takes_back_the_flag() {
        let refund = Amounts {
            amount_minor: 2000,
            discount_minor: 0,
            voids: true,
        };
        let added = contributions(Change::Refund, refund, Some((&1, true)), None);
        assert_eq!(
            added[0].counts,
            ConversionCounts {
                refunded_minor: 2000,
                voided: 1,
                flagged: -1,
                ..ConversionCounts::default()
            }
        );
        let partial = Amounts {
            voids: false,
            ..refund
        };
        let added = contributions(Change::Cancellation, partial, Some((&1, true)), None);
        assert_eq!(
            added[0].counts,
            ConversionCounts {
                refunded_minor: 2000,
                cancelled: 1,
                ..ConversionCounts::default()
            }
        );
    }

    #[test]
    fn a_reattribution_moves_the_state_from_the_old_credit_to_the_new() {
        let state = Counted {
            refunded_minor: 1000,
            cancelled: false,
            voided: false,
        };
        let moved = contributions(
            Change::Reattribution(state),
            AMOUNTS,
            Some((&"new", false)),
            Some((&"old", true)),
        );
        let counted = ConversionCounts {
            conversions: 1,
            revenue_minor: 5000,
            discount_minor: 500,
            refunded_minor: 1000,
            ..ConversionCounts::default()
        };
        assert_eq!(
            moved,
            [
                Contribution {
                    credit: "old",
                    counts: ConversionCounts {
                        flagged: 1,
                        ..counted
                    }
                    .times(-1),
                },
                Contribution {
                    credit: "new",
                    counts: counted,
                },
            ]
        );
        let voided = Counted {
            voided: true,
            ..state
        };
        let moved = contributions(
            Change::Reattribution(voided),
            AMOUNTS,
            Some((&"new", true)),
            None,
        );
        assert_eq!(moved.len(), 1);
        assert_eq!(
            moved[0].counts.flagged, 0,
            "a voided conversion is not flagged"
        );
        assert_eq!(moved[0].counts.voided, 1);
    }

    #[test]
    fn contributions_net_out_whatever_the_order() {
        // Converted under "a", moved to "b", then refunded in full under "b": "a" ends at
        // zero, "b" holds the conversion voided.
        let credit_a = (&"a", false);
        let credit_b = (&"b", false);
        let mut all = contributions(Change::Conversion, AMOUNTS, Some(credit_a), None);
        all.extend(contributions(
            Change::Reattribution(Counted::default()),
            AMOUNTS,
            Some(credit_b),
            Some(credit_a),
        ));
        all.extend(contributions(
            Change::Refund,
            Amounts {
                voids: true,
                ..AMOUNTS
            },
            Some(credit_b),
            None,
        ));
        let total = |credit: &str| {
            all.iter()
                .filter(|c| c.credit == credit)
                .fold(ConversionCounts::default(), |sum, c| ConversionCounts {
                    conversions: sum.conversions + c.counts.conversions,
                    revenue_minor: sum.revenue_minor + c.counts.revenue_minor,
                    discount_minor: sum.discount_minor + c.counts.discount_minor,
                    refunded_minor: sum.refunded_minor + c.counts.refunded_minor,
                    cancelled: sum.cancelled + c.counts.cancelled,
                    voided: sum.voided + c.counts.voided,
                    flagged: sum.flagged + c.counts.flagged,
                })
        };
        assert_eq!(total("a"), ConversionCounts::default());
        assert_eq!(
            total("b"),
            ConversionCounts {
                conversions: 1,
                revenue_minor: 5000,
                discount_minor: 500,
                refunded_minor: 5000,
                voided: 1,
                ..ConversionCounts::default()
            }
        );
    }
}
