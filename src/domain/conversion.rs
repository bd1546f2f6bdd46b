//! A conversion as its events describe it: whom it was credited to, what it counts in the
//! rollups at one moment, and when refunds make it stop counting.

use serde::{Deserialize, Serialize};

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
