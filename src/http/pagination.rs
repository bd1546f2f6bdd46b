//! `limit` and `cursor` of list routes. The cursor is opaque to clients; it encodes the
//! last id of the page, so pages stay stable while rows are added.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    error::ApiError,
    wire::{filter_id, List},
};
use crate::storage::{finish_page, PageRequest, ParentFilter};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// The query string of a plain list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        page(self.limit, self.cursor.as_deref())
    }
}

/// The query string of a list of a campaign's or an influencer's children.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChildrenQuery {
    /// Only this campaign's.
    campaign_id: Option<String>,
    /// Only this influencer's.
    influencer_id: Option<String>,
    /// Rows per page, 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl ChildrenQuery {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        page(self.limit, self.cursor.as_deref())
    }

    pub fn filter(&self) -> ParentFilter {
        ParentFilter {
            campaign_id: filter_id(self.campaign_id.as_deref()),
            influencer_id: filter_id(self.influencer_id.as_deref()),
        }
    }
}

pub fn page(limit: Option<i64>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1 to {MAX_LIMIT}"),
        )
        .with_field("limit"));
    }
    let after = match cursor.filter(|c| !c.is_empty()) {
        None => 0,
        Some(cursor) => decode(cursor).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "cursor is not one this service issued")
                .with_field("cursor")
        })?,
    };
    Ok(PageRequest { after, limit })
}

pub fn list<T>(rows: Vec<T>, page: PageRequest, id_of: impl Fn(&T) -> i64) -> List<T> {
    let (data, next) = finish_page(rows, page, id_of);
    List {
        data,
        next_cursor: next.map(encode),
    }
}

fn encode(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

fn decode(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("id:")?.parse().ok().filter(|id| *id >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        assert_eq!(decode(&encode(42)), Some(42));
        assert_eq!(decode("42"), None);
        assert_eq!(decode("!!"), None);
        assert!(page(None, Some("garbage")).is_err());
    }

    #[test]
    fn limit_is_bounded() {
        assert_eq!(page(None, None).unwrap().limit, DEFAULT_LIMIT);
        assert!(page(Some(0), None).is_err());
        assert!(page(Some(501), None).is_err());
        assert_eq!(page(Some(500), None).unwrap().limit, 500);
    }
}
