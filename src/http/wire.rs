//! Shapes shared by every route: opaque string ids, nullable PATCH fields, lists.

use serde::{Deserialize, Deserializer, Serialize};

use super::error::ApiError;

/// For PATCH: absent → `None` (leave as is), `null` → `Some(None)` (clear), value → `Some(Some(v))`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The id in a path: an id that cannot exist is simply not found.
pub fn path_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(what))
}

/// An id in a body or query naming another resource.
pub fn reference_id(
    field: &'static str,
    not_found_code: &'static str,
    raw: &str,
) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::unprocessable(not_found_code, format!("{field} {raw:?} names nothing"))
                .with_field(field)
        })
}

/// A list filter id. Ids are opaque to clients, so one that cannot exist is not an error:
/// it becomes 0, which no row has, and the list is empty.
pub fn filter_id(raw: Option<&str>) -> Option<i64> {
    raw.map(|r| r.trim().parse().unwrap_or(0))
}

/// A page of a list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
    /// The `cursor` of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}
