//! Who gets the credit for a conversion: the influencer whose code was used, or the one
//! whose link was clicked last within the campaign's window (DESIGN section 6).
//!
//! | code | click in window | credit | rule |
//! |---|---|---|---|
//! | yes | yes | the code's campaign's `attribution_priority` decides | `code_over_click` / `click_over_code` |
//! | yes | no (absent or outside) | code | `code` |
//! | no | yes | click | `last_click_in_window` |
//! | no | outside the window | nobody: `unqualified` | `click_outside_window` |
//! | no | absent | nobody: `unattributed` | `no_code_or_click` |
//!
//! A click counts if it happened before the conversion (up to [`CLOCK_SKEW`] after it, for
//! a shop clock slightly behind ours) and no longer ago than the window.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How far a click may lie after the conversion's reported time and still count.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);

/// Which wins when a conversion has both a code and a click in the window: a campaign's
/// `attribution_priority`. Stored as its wire name; a stored value that is neither does not
/// decode (it used to be read as `code`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Priority {
    Code,
    Click,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Code => "code",
            Priority::Click => "click",
        }
    }
}

/// The code's owner, if the conversion names an existing code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeOwner {
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub priority: Priority,
}

/// The clicked link's owner and when, from a verified click id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClickOwner {
    pub link_id: i64,
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub clicked_at: DateTime<Utc>,
    pub window_days: i32,
}

/// How a credited conversion was attributed: a conversion's `via`, stored as its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Via {
    Code,
    Click,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Code => "code",
            Via::Click => "click",
        }
    }
}

/// Whether a conversion was credited, and if not why: a conversion's `status`, stored as
/// its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ConversionStatus {
    /// Credited to an influencer (`Decision::credit` is set).
    Attributed,
    /// No code and no click.
    Unattributed,
    /// A click, but outside the window.
    Unqualified,
}

impl ConversionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversionStatus::Attributed => "attributed",
            ConversionStatus::Unattributed => "unattributed",
            ConversionStatus::Unqualified => "unqualified",
        }
    }
}

/// Which rule decided (the `rule` column of the table above), in words a manager can
/// check: a conversion's `rule`, stored as its wire name. `redemption` is a committed
/// redemption's own conversion, credited via its code (written by `redeem_codes` too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum AttributionRule {
    CodeOverClick,
    ClickOverCode,
    Code,
    LastClickInWindow,
    ClickOutsideWindow,
    NoCodeOrClick,
    Redemption,
}

impl AttributionRule {
    pub fn as_str(self) -> &'static str {
        match self {
            AttributionRule::CodeOverClick => "code_over_click",
            AttributionRule::ClickOverCode => "click_over_code",
            AttributionRule::Code => "code",
            AttributionRule::LastClickInWindow => "last_click_in_window",
            AttributionRule::ClickOutsideWindow => "click_outside_window",
            AttributionRule::NoCodeOrClick => "no_code_or_click",
            AttributionRule::Redemption => "redemption",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credit {
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub via: Via,
    /// The clicked link, when the credit went via the click.
    pub link_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub credit: Option<Credit>,
    pub status: ConversionStatus,
    pub rule: AttributionRule,
}

impl ClickOwner {
    pub fn in_window(&self, occurred_at: DateTime<Utc>) -> bool {
        self.clicked_at <= occurred_at + CLOCK_SKEW
            && occurred_at - self.clicked_at <= Duration::days(i64::from(self.window_days))
    }
}

pub fn decide(
    code: Option<CodeOwner>,
    click: Option<ClickOwner>,
    occurred_at: DateTime<Utc>,
) -> Decision {
    let by_code = |c: CodeOwner| Credit {
        campaign_id: c.campaign_id,
        influencer_id: c.influencer_id,
        via: Via::Code,
        link_id: None,
    };
    let by_click = |c: ClickOwner| Credit {
        campaign_id: c.campaign_id,
        influencer_id: c.influencer_id,
        via: Via::Click,
        link_id: Some(c.link_id),
    };
    let attributed = |credit, rule| Decision {
        credit: Some(credit),
        status: ConversionStatus::Attributed,
        rule,
    };
    let qualifying_click = click.filter(|c| c.in_window(occurred_at));
    match (code, qualifying_click) {
        (Some(code), Some(click)) => match code.priority {
            Priority::Code => attributed(by_code(code), AttributionRule::CodeOverClick),
            Priority::Click => attributed(by_click(click), AttributionRule::ClickOverCode),
        },
        (Some(code), None) => attributed(by_code(code), AttributionRule::Code),
        (None, Some(click)) => attributed(by_click(click), AttributionRule::LastClickInWindow),
        (None, None) if click.is_some() => Decision {
            credit: None,
            status: ConversionStatus::Unqualified,
            rule: AttributionRule::ClickOutsideWindow,
        },
        (None, None) => Decision {
            credit: None,
            status: ConversionStatus::Unattributed,
            rule: AttributionRule::NoCodeOrClick,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(priority: Priority) -> CodeOwner {
        CodeOwner {
            campaign_id: 1,
            influencer_id: 10,
            priority,
        }
    }

    fn click(ago: Duration, now: DateTime<Utc>) -> ClickOwner {
        ClickOwner {
            link_id: 7,
            campaign_id: 1,
            influencer_id: 20,
            clicked_at: now - ago,
            window_days: 30,
        }
    }

    #[test]
    fn the_table_of_rules() {
        let now = Utc::now();
        let fresh = click(Duration::days(2), now);
        let stale = click(Duration::days(31), now);

        let d = decide(Some(code(Priority::Code)), Some(fresh), now);
        assert_eq!(
            (d.credit.unwrap().influencer_id, d.rule.as_str()),
            (10, "code_over_click")
        );
        let d = decide(Some(code(Priority::Click)), Some(fresh), now);
        assert_eq!(
            (d.credit.unwrap().influencer_id, d.rule.as_str()),
            (20, "click_over_code")
        );
        assert_eq!(d.credit.unwrap().link_id, Some(7));
        let d = decide(Some(code(Priority::Click)), Some(stale), now);
        assert_eq!(
            (d.credit.unwrap().via, d.rule.as_str()),
            (Via::Code, "code")
        );
        let d = decide(None, Some(fresh), now);
        assert_eq!(
            (d.status.as_str(), d.rule.as_str()),
            ("attributed", "last_click_in_window")
        );
        let d = decide(None, Some(stale), now);
        assert_eq!((d.status.as_str(), d.credit), ("unqualified", None));
        let d = decide(None, None, now);
        assert_eq!(
            (d.status.as_str(), d.rule.as_str()),
            ("unattributed", "no_code_or_click")
        );
    }

    #[test]
    fn the_window_is_inclusive_and_a_click_after_the_conversion_does_not_count() {
        let now = Utc::now();
        assert!(click(Duration::days(30), now).in_window(now));
        assert!(!click(Duration::days(30) + Duration::seconds(1), now).in_window(now));
        assert!(
            click(-Duration::minutes(4), now).in_window(now),
            "clock skew"
        );
        assert!(!click(-Duration::minutes(6), now).in_window(now));
    }
}
