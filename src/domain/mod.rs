//! Pure domain types and rules: no I/O. A value of one of these types has passed its
//! `parse`, or was read back from a column through the check of its stored shape (see
//! `stored`; the closed sets derive their `sqlx` encoding), so code past the HTTP boundary
//! never re-checks it and storage takes and returns these types, not strings.

pub mod attribution;
pub mod campaign;
pub mod checkout;
pub mod click_id;
pub mod code;
pub mod conversion;
pub mod cost;
pub mod destination;
pub mod device;
pub mod discount;
pub mod enrollment;
pub mod fraud;
pub mod hex;
pub mod kpi;
pub mod link;
pub mod money;
pub mod post;
pub mod report;
pub mod rollup;
pub mod slug;
mod stored;
pub mod text;
pub mod time;
pub mod url;
pub mod visitor;

#[cfg(test)]
mod hostile_input;

/// Why a client-supplied value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The JSON field (or query parameter) at fault.
    pub field: &'static str,
    /// Machine-readable reason, e.g. `invalid_slug`.
    pub code: &'static str,
    pub message: String,
    /// `Malformed` values are 400s; `NotAllowed` ones are well-formed but refused (422).
    pub kind: InvalidKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidKind {
    Malformed,
    NotAllowed,
}

impl Invalid {
    pub fn malformed(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Invalid {
            field,
            code,
            message: message.into(),
            kind: InvalidKind::Malformed,
        }
    }

    pub fn not_allowed(
        field: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Invalid {
            field,
            code,
            message: message.into(),
            kind: InvalidKind::NotAllowed,
        }
    }
}

#[cfg(test)]
mod stored_names {
    //! The closed sets stored in `text` columns are written by their `sqlx` derive and
    //! shown by `as_str` and serde: all three must spell every value the same way, or a
    //! row written by one would not read back as the value shown.

    use serde::Serialize;

    use super::{
        attribution::{AttributionRule, ConversionStatus, Priority, Via},
        campaign::{CampaignStatus, Goal},
        checkout::RedemptionStatus,
        cost::CostKind,
        discount::DiscountKind,
        enrollment::FlatFeeBasis,
        post::MetricSource,
    };

    fn same<T: Serialize + Copy>(values: &[T], as_str: fn(T) -> &'static str) {
        for &v in values {
            assert_eq!(serde_json::to_value(v).unwrap(), as_str(v));
        }
    }

    #[test]
    fn wire_names_are_the_stored_names() {
        same(
            &[
                Goal::Awareness,
                Goal::Traffic,
                Goal::Conversions,
                Goal::Revenue,
            ],
            Goal::as_str,
        );
        same(
            &[
                CampaignStatus::Draft,
                CampaignStatus::Active,
                CampaignStatus::Ended,
            ],
            CampaignStatus::as_str,
        );
        same(&[Priority::Code, Priority::Click], Priority::as_str);
        same(
            &[
                AttributionRule::CodeOverClick,
                AttributionRule::ClickOverCode,
                AttributionRule::Code,
                AttributionRule::LastClickInWindow,
                AttributionRule::ClickOutsideWindow,
                AttributionRule::NoCodeOrClick,
                AttributionRule::Redemption,
            ],
            AttributionRule::as_str,
        );
        same(&[Via::Code, Via::Click], Via::as_str);
        same(
            &[
                ConversionStatus::Attributed,
                ConversionStatus::Unattributed,
                ConversionStatus::Unqualified,
            ],
            ConversionStatus::as_str,
        );
        same(
            &[
                DiscountKind::Percent,
                DiscountKind::Fixed,
                DiscountKind::FreeShipping,
            ],
            DiscountKind::as_str,
        );
        same(
            &[
                RedemptionStatus::Reserved,
                RedemptionStatus::Committed,
                RedemptionStatus::Released,
                RedemptionStatus::Expired,
                RedemptionStatus::Cancelled,
            ],
            RedemptionStatus::as_str,
        );
        same(
            &[FlatFeeBasis::Campaign, FlatFeeBasis::Post],
            FlatFeeBasis::as_str,
        );
        same(
            &[
                CostKind::Gifting,
                CostKind::Shipping,
                CostKind::AgencyFee,
                CostKind::Other,
            ],
            CostKind::as_str,
        );
        same(
            &[
                MetricSource::SelfReported,
                MetricSource::Verified,
                MetricSource::Api,
            ],
            MetricSource::as_str,
        );
    }
}
