//! An enrollment's closed sets. Stored as wire names in `text` columns; a stored value that
//! is none of them does not decode.

use serde::{Deserialize, Serialize};

/// Whether an enrollment's flat fee is paid once for the campaign or for every post.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum FlatFeeBasis {
    Campaign,
    Post,
}

impl FlatFeeBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            FlatFeeBasis::Campaign => "campaign",
            FlatFeeBasis::Post => "post",
        }
    }
}
