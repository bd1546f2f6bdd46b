//! Costs of a campaign beyond its enrollments' compensation.

use serde::{Deserialize, Serialize};

/// What a cost line paid for. Stored as its wire name in a `text` column; a stored value
/// that is none of them does not decode.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CostKind {
    Gifting,
    Shipping,
    AgencyFee,
    Other,
}

impl CostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CostKind::Gifting => "gifting",
            CostKind::Shipping => "shipping",
            CostKind::AgencyFee => "agency_fee",
            CostKind::Other => "other",
        }
    }
}
