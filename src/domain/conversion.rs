//! A conversion as its events describe it: what one event says, whom it was credited to,
//! what it counts in the rollups at one moment, and when refunds make it stop counting.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A conversion or a change to one, with the attribution it had when it happened, so the
/// worker can file it without a database read. Carried by the streams inside
/// `pipeline::events::Event`, which adds the type tag. `id` is unique per event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionEvent {
    pub v: u32,
    pub id: String,
    pub conversion_id: i64,
    pub campaign_id: Option<i64>,
    pub influencer_id: Option<i64>,
    pub link_id: Option<i64>,
    pub via: Option<String>,
    pub kind: String,
    pub amount_minor: i64,
    pub discount_minor: i64,
    pub currency: String,
    /// When the conversion happened (for a refund too: it nets out in the same hour).
    pub occurred_at: DateTime<Utc>,
    /// The promo code the order used, if any (breakdowns by code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// This event stops the conversion from counting: a cancellation, or the refund that
    /// brings the refunds up to the amount. Decided on the locked conversion row, so the
    /// worker can net it out whatever order the events arrive in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub voids: bool,
    /// The order's click id, verified when the conversion was accepted: the worker reads
    /// the fraud signals from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Credited>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ConversionState>,
}

/// Whom a conversion was credited to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credited {
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub via: String,
    pub link_id: Option<i64>,
}

impl Credited {
    /// The credit of an attributed conversion; `None` unless campaign, influencer and
    /// `via` are all known.
    pub fn of(
        campaign_id: Option<i64>,
        influencer_id: Option<i64>,
        via: Option<&str>,
        link_id: Option<i64>,
    ) -> Option<Self> {
        Some(Credited {
            campaign_id: campaign_id?,
            influencer_id: influencer_id?,
            via: via?.to_owned(),
            link_id,
        })
    }
}

/// What a conversion counts in the rollups at one moment: its refunds (a cancellation
/// counts what was left as refunded), whether it was cancelled, and whether it no longer
/// counts as a conversion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionState {
    pub refunded_minor: i64,
    pub cancelled: bool,
    pub voided: bool,
}

/// Refunds have reached the amount (a conversion of no amount is never refunded in full):
/// the conversion no longer counts.
pub fn fully_refunded(amount_minor: i64, refunded_minor: i64) -> bool {
    amount_minor > 0 && refunded_minor == amount_minor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_positive_amount_is_ever_fully_refunded() {
        assert!(fully_refunded(100, 100));
        assert!(!fully_refunded(100, 99));
        assert!(!fully_refunded(0, 0));
    }
}
