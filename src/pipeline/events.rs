//! The one definition of the events carried by the Redis streams.
//!
//! An entry holds one field, `e`: one or more events as JSON, one per line (compact JSON
//! never contains a raw newline). Packing everything a producer flushes to one stream into
//! one entry costs Redis one `XADD` per batch instead of one per event. Every event carries
//! a unique id (for a click: its click id) and a schema version, so the worker can write it
//! idempotently and refuse what it does not understand.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::domain::conversion::{ConversionEvent, ConversionState, Credited};
use crate::{
    domain::conversion::fully_refunded,
    storage::{
        conversions::{ConversionRow, NewConversion},
        reattribution::Moved,
    },
};

pub const SCHEMA_VERSION: u32 = 1;
pub const FIELD: &str = "e";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Click(ClickEvent),
    /// A new conversion (reported, or created by a committed redemption).
    Conversion(ConversionEvent),
    /// Part of a conversion's amount refunded (`amount_minor`: this refund).
    Refund(ConversionEvent),
    /// A conversion cancelled (`amount_minor`: what was not yet refunded).
    Cancellation(ConversionEvent),
    /// A conversion's credit moved (re-attribution): its attribution fields name the new
    /// credit, `moved_from` the old one, `state` what it counted when it moved.
    Reattribution(ConversionEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Link,
    Qr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClickEvent {
    pub v: u32,
    /// The click id handed to the visitor's destination; unique per click.
    pub id: String,
    pub link_id: i64,
    pub at: DateTime<Utc>,
    /// First-party cookie of the short domain, else a keyed hash of address, agent and day (`domain::visitor`).
    pub visitor: String,
    /// For enrichment only; the worker stores a truncated prefix, never this.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub trigger: Trigger,
}

/// One `XADD` per stream, each entry carrying that stream's events (compact JSON, one per
/// line) in the order given: how the producer and the outbox relay write.
pub fn packed_xadds<'a>(events: impl Iterator<Item = (&'a str, &'a str)>) -> redis::Pipeline {
    xadds(&pack(events), true)
}

/// Like [`packed_xadds`], but the pipeline answers each new entry's id, in the order of the
/// streams returned.
pub fn packed_xadds_naming_entries<'a>(
    events: impl Iterator<Item = (&'a str, &'a str)>,
) -> (redis::Pipeline, Vec<&'a str>) {
    let entries = pack(events);
    let pipe = xadds(&entries, false);
    (
        pipe,
        entries.into_iter().map(|(stream, _)| stream).collect(),
    )
}

/// One `XADD` per entry; `ignore`: the new entries' ids are not wanted.
fn xadds(entries: &[(&str, String)], ignore: bool) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    for (stream, lines) in entries {
        pipe.cmd("XADD").arg(*stream).arg("*").arg(FIELD).arg(lines);
        if ignore {
            pipe.ignore();
        }
    }
    pipe
}

/// Each stream's events, one per line, streams in the order they first appear.
fn pack<'a>(events: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(&'a str, String)> {
    let mut entries: Vec<(&str, String)> = Vec::new();
    for (stream, payload) in events {
        match entries.iter_mut().find(|(s, _)| *s == stream) {
            Some((_, lines)) => {
                lines.push('\n');
                lines.push_str(payload);
            }
            None => entries.push((stream, payload.to_owned())),
        }
    }
    entries
}

impl Event {
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The events of one stream entry's `e` field, each still to decode.
    pub fn lines_of(field: &[u8]) -> impl Iterator<Item = &[u8]> {
        field.split(|&b| b == b'\n').filter(|line| !line.is_empty())
    }

    pub fn from_json(raw: &[u8]) -> Result<Event, String> {
        // Reading the tag first and then the event's own struct avoids serde's buffering of
        // internally tagged enums, which copied every field of every event once more.
        let header: Header = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
        if header.v != SCHEMA_VERSION {
            return Err(format!("unknown schema version {}", header.v));
        }
        match header.kind.as_ref() {
            "click" => serde_json::from_slice(raw)
                .map(Event::Click)
                .map_err(|e| e.to_string()),
            "conversion" => serde_json::from_slice(raw)
                .map(Event::Conversion)
                .map_err(|e| e.to_string()),
            "refund" => serde_json::from_slice(raw)
                .map(Event::Refund)
                .map_err(|e| e.to_string()),
            "cancellation" => serde_json::from_slice(raw)
                .map(Event::Cancellation)
                .map_err(|e| e.to_string()),
            "reattribution" => serde_json::from_slice(raw)
                .map(Event::Reattribution)
                .map_err(|e| e.to_string()),
            other => Err(format!("unknown event type `{other}`")),
        }
    }
}

/// The event of a conversion just recorded as `conversion_id`: reported, or created by a
/// committed redemption (whose conversion the database inserts with this id).
pub fn conversion_recorded(conversion_id: i64, new: &NewConversion) -> Event {
    let credit = new.decision.credit;
    Event::Conversion(ConversionEvent {
        v: SCHEMA_VERSION,
        id: format!("conversion:{conversion_id}"),
        conversion_id,
        campaign_id: credit.map(|c| c.campaign_id),
        influencer_id: credit.map(|c| c.influencer_id),
        link_id: credit.and_then(|c| c.link_id),
        via: credit.map(|c| c.via.as_str().to_owned()),
        kind: new.kind.clone(),
        amount_minor: new.amount_minor,
        discount_minor: new.discount_minor,
        currency: new.currency.code().to_owned(),
        occurred_at: new.occurred_at,
        code: new.code.as_ref().map(|c| c.as_str().to_owned()),
        voids: false,
        click_id: new.click_id.as_ref().map(|c| c.as_str().to_owned()),
        moved_from: None,
        state: None,
    })
}

/// The event of refund `refund_id` taking `amount_minor` of `row` (read after the refund).
pub fn refund_recorded(row: &ConversionRow, refund_id: i64, amount_minor: i64) -> Event {
    // This refund took something: if the refunds are full now, it made them so.
    let voids = fully_refunded(row.amount_minor, row.refunded_minor);
    Event::Refund(of_row(
        row,
        format!("refund:{refund_id}"),
        amount_minor,
        voids,
    ))
}

/// The event of `row`'s cancellation (read after it): what was not yet refunded goes.
pub fn cancellation_recorded(row: &ConversionRow) -> Event {
    let left = row.amount_minor - row.refunded_minor;
    // A conversion refunded in full stopped counting with its last refund.
    let voids = !fully_refunded(row.amount_minor, row.refunded_minor);
    Event::Cancellation(of_row(row, format!("cancellation:{}", row.id), left, voids))
}

/// The event of a conversion whose credit moved (re-attribution).
pub fn reattributed(moved: &Moved) -> Event {
    let to = moved.to.as_ref();
    Event::Reattribution(ConversionEvent {
        v: SCHEMA_VERSION,
        id: format!("reattribution:{}:{}", moved.conversion_id, moved.version),
        conversion_id: moved.conversion_id,
        campaign_id: to.map(|c| c.campaign_id),
        influencer_id: to.map(|c| c.influencer_id),
        link_id: to.and_then(|c| c.link_id),
        via: to.map(|c| c.via.clone()),
        kind: moved.kind.clone(),
        amount_minor: moved.amount_minor,
        discount_minor: moved.discount_minor,
        currency: moved.currency.code().to_owned(),
        occurred_at: moved.occurred_at,
        code: moved.code.as_ref().map(|c| c.as_str().to_owned()),
        voids: false,
        click_id: moved.click_id.as_ref().map(|c| c.as_str().to_owned()),
        moved_from: moved.from.clone(),
        state: Some(moved.state),
    })
}

fn of_row(row: &ConversionRow, id: String, amount_minor: i64, voids: bool) -> ConversionEvent {
    ConversionEvent {
        v: SCHEMA_VERSION,
        id,
        conversion_id: row.id,
        campaign_id: row.campaign_id,
        influencer_id: row.influencer_id,
        link_id: row.link_id,
        via: row.via.map(|v| v.as_str().to_owned()),
        kind: row.kind.clone(),
        amount_minor,
        discount_minor: row.discount_minor,
        currency: row.currency.code().to_owned(),
        occurred_at: row.occurred_at,
        code: row.code.as_ref().map(|c| c.as_str().to_owned()),
        voids,
        click_id: row.click_id.as_ref().map(|c| c.as_str().to_owned()),
        moved_from: None,
        state: None,
    }
}

/// What every event starts with; its other fields are skipped without being copied.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    v: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json() {
        let event = Event::Click(ClickEvent {
            v: SCHEMA_VERSION,
            id: "abc".into(),
            link_id: 7,
            at: Utc::now(),
            visitor: "v1".into(),
            ip: Some("81.2.69.142".into()),
            user_agent: Some("curl/8".into()),
            referrer: None,
            trigger: Trigger::Qr,
        });
        assert_eq!(Event::from_json(event.to_json().as_bytes()).unwrap(), event);
    }

    #[test]
    fn an_entry_carries_events_one_per_line() {
        let field = b"{\"a\":1}\n{\"b\":\"x\\ny\"}\n";
        let lines: Vec<&[u8]> = Event::lines_of(field).collect();
        assert_eq!(lines, vec![&b"{\"a\":1}"[..], &b"{\"b\":\"x\\ny\"}"[..]]);
    }

    #[test]
    fn other_versions_and_garbage_are_refused() {
        assert!(Event::from_json(b"not json").is_err());
        let future = r#"{"type":"click","v":99,"id":"a","link_id":1,"at":"2026-01-01T00:00:00Z","visitor":"v","ip":null,"user_agent":null,"referrer":null,"trigger":"link"}"#;
        assert!(Event::from_json(future.as_bytes())
            .unwrap_err()
            .contains("version"));
        let unknown = future
            .replace("\"click\"", "\"teleport\"")
            .replace("99", "1");
        assert!(Event::from_json(unknown.as_bytes())
            .unwrap_err()
            .contains("teleport"));
        let missing_field = r#"{"type":"click","v":1,"id":"a"}"#;
        assert!(Event::from_json(missing_field.as_bytes())
            .unwrap_err()
            .contains("missing field"));
    }
}
