//! A campaign's closed sets: what it is run for and where it is in its life.
//!
//! Each is stored as its wire name in a `text` column; a stored value that is none of them
//! does not decode (an error, never a guess).

use serde::{Deserialize, Serialize};

/// What a campaign is run for; its scorecard measures progress in the matching KPI.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Goal {
    Awareness,
    Traffic,
    Conversions,
    Revenue,
}

impl Goal {
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Awareness => "awareness",
            Goal::Traffic => "traffic",
            Goal::Conversions => "conversions",
            Goal::Revenue => "revenue",
        }
    }
}

/// Where a campaign is: derived from its dates unless a manager set it explicitly.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    Active,
    Ended,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Active => "active",
            CampaignStatus::Ended => "ended",
        }
    }
}
