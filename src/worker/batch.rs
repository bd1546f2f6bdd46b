//! Turning stream entries into rows: decoding, enrichment, and sorting out what cannot be
//! ingested (dead letters, with the reason).
//!
//! Owns the decoding of entries, the enrichment of clicks (owners, geo, user agent, burst
//! flags) and of conversion-type events (fraud signals, and their rollup contributions as
//! [`crate::domain::rollup`] computes them). Guarantees: every event of every entry ends up
//! either to be stored or dead-lettered, so each entry of a batch can be acknowledged once
//! that is done; a dead letter never holds a visitor's full address. No I/O.

use std::{collections::HashMap, net::IpAddr};

use chrono::Duration;
use redis::streams::StreamId;

use crate::{
    domain::{
        click_id,
        fraud::{BurstDetector, ConversionFacts, ConversionFlags},
        rollup::{self, Amounts, Change, Counted},
    },
    enrich::{self, agent, geo::GeoIp},
    pipeline::events::{ClickEvent, ConversionEvent, Credited, Event, Trigger, FIELD},
    storage::{
        clicks::ClickRow,
        conversions::{ConversionEventType, Ingested},
    },
};

pub struct Decoded {
    pub entry_id: String,
    pub event: ClickEvent,
}

/// An event the worker gives up on, kept in the shard's dead-letter stream with the reason.
/// `raw` never holds a visitor's address: at most the /24 or /48 prefix stored with clicks.
pub struct DeadEntry {
    pub entry_id: String,
    /// The id of a conversion-type event, whose outbox row must go with it.
    pub outboxed: Option<String>,
    pub why: DeadReason,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// Why an event was dead-lettered: the `reason` label of `attrib_dead_letters_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadReason {
    /// Not an event of this schema.
    Undecodable,
    /// A click of a link that does not exist.
    UnknownLink,
    /// Postgres refused the event on its own (a value out of range, a constraint).
    Refused,
}

impl DeadReason {
    pub const ALL: [DeadReason; 3] = [
        DeadReason::Undecodable,
        DeadReason::UnknownLink,
        DeadReason::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeadReason::Undecodable => "undecodable",
            DeadReason::UnknownLink => "unknown_link",
            DeadReason::Refused => "refused",
        }
    }
}

pub struct DecodedConversion {
    pub entry_id: String,
    pub event_type: ConversionEventType,
    pub event: ConversionEvent,
}

pub struct DecodedBatch {
    pub clicks: Vec<Decoded>,
    /// Conversions, refunds, cancellations and re-attributions.
    pub conversions: Vec<DecodedConversion>,
    pub dead: Vec<DeadEntry>,
    /// Every entry of the batch, to acknowledge once it is stored or dead-lettered.
    pub entry_ids: Vec<String>,
}

pub struct Prepared {
    pub rows: Vec<ClickRow>,
    /// The entry each row came from, for a dead letter should Postgres refuse the row.
    pub row_entries: Vec<String>,
    /// The address each row's click came from, for burst detection only: never stored.
    pub addresses: Vec<Option<String>>,
    pub conversions: Vec<Ingested>,
    pub conversion_entries: Vec<String>,
    pub dead: Vec<DeadEntry>,
    pub entry_ids: Vec<String>,
}

fn keep_where<T>(items: &mut Vec<T>, keep: &[bool]) {
    let mut kept = keep.iter().copied();
    items.retain(|_| kept.next().unwrap_or(true));
}

impl Prepared {
    /// Leaves out the clicks made before `cutoff` (older than the click retention: their
    /// month's partition is dropped, or about to be); returns how many.
    pub fn drop_clicks_before(&mut self, cutoff: chrono::DateTime<chrono::Utc>) -> usize {
        let keep: Vec<bool> = self.rows.iter().map(|r| r.clicked_at >= cutoff).collect();
        let dropped = keep.iter().filter(|k| !**k).count();
        if dropped > 0 {
            // The three lists are index-aligned: each keeps the same positions.
            keep_where(&mut self.rows, &keep);
            keep_where(&mut self.row_entries, &keep);
            keep_where(&mut self.addresses, &keep);
        }
        dropped
    }

    /// The dead letter of the `index`th thing to store (rows first, then conversions),
    /// which Postgres refused for `reason`.
    pub fn refused(&self, index: usize, reason: String) -> Option<DeadEntry> {
        let (entry_id, raw, outboxed) = match index.checked_sub(self.rows.len()) {
            None => (
                self.row_entries.get(index)?,
                serde_json::to_vec(self.rows.get(index)?).unwrap_or_default(),
                None,
            ),
            Some(conversion) => {
                let ingested = self.conversions.get(conversion)?;
                let event = event_of(ingested.event_type, ingested.event.clone());
                (
                    self.conversion_entries.get(conversion)?,
                    event.to_json().into_bytes(),
                    Some(ingested.event.id.clone()),
                )
            }
        };
        Some(DeadEntry {
            entry_id: entry_id.clone(),
            outboxed,
            why: DeadReason::Refused,
            reason,
            raw,
        })
    }
}

fn event_of(event_type: ConversionEventType, event: ConversionEvent) -> Event {
    match event_type {
        ConversionEventType::Conversion => Event::Conversion(event),
        ConversionEventType::Refund => Event::Refund(event),
        ConversionEventType::Cancellation => Event::Cancellation(event),
        ConversionEventType::Reattribution => Event::Reattribution(event),
    }
}

/// The id of an undecodable line that still reads as a conversion-type event: it came
/// from the outbox, whose row must not be sent again.
fn outboxed_id(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Tagged {
        #[serde(rename = "type")]
        kind: String,
        id: String,
    }
    let tagged: Tagged = serde_json::from_slice(line).ok()?;
    (tagged.kind != "click").then_some(tagged.id)
}

/// An undecodable line as it may be kept: an `ip` field of a JSON object is cut to its
/// prefix (or dropped), and anything else is kept only up to a bound.
fn without_address(line: &[u8]) -> Vec<u8> {
    const KEPT: usize = 4096;
    if let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(line) {
        if let Some(ip) = fields.get_mut("ip") {
            *ip = ip
                .as_str()
                .and_then(|ip| ip.parse().ok())
                .map(|ip| serde_json::Value::String(enrich::ip_prefix(ip)))
                .unwrap_or(serde_json::Value::Null);
        }
        return serde_json::to_vec(&fields).unwrap_or_default();
    }
    line[..line.len().min(KEPT)].to_vec()
}

/// Every event of every entry; an entry carries one or more (see
/// [`crate::pipeline::events`]).
pub fn decode(entries: Vec<StreamId>) -> DecodedBatch {
    let mut batch = DecodedBatch {
        clicks: Vec::with_capacity(entries.len()),
        conversions: Vec::new(),
        dead: Vec::new(),
        entry_ids: Vec::with_capacity(entries.len()),
    };
    for mut entry in entries {
        batch.entry_ids.push(entry.id.clone());
        // Taken rather than read: an entry carries up to hundreds of events, and reading
        // copied them all once more.
        let field = entry
            .map
            .remove(FIELD)
            .and_then(|value| redis::from_redis_value::<Vec<u8>>(value).ok());
        let Some(field) = field else {
            batch.dead.push(DeadEntry {
                entry_id: entry.id,
                outboxed: None,
                why: DeadReason::Undecodable,
                reason: format!("no `{FIELD}` field"),
                raw: Vec::new(),
            });
            continue;
        };
        for line in Event::lines_of(&field) {
            let (event_type, event) = match Event::from_json(line) {
                Ok(Event::Click(event)) => {
                    batch.clicks.push(Decoded {
                        entry_id: entry.id.clone(),
                        event,
                    });
                    continue;
                }
                Ok(Event::Conversion(event)) => (ConversionEventType::Conversion, event),
                Ok(Event::Refund(event)) => (ConversionEventType::Refund, event),
                Ok(Event::Cancellation(event)) => (ConversionEventType::Cancellation, event),
                Ok(Event::Reattribution(event)) => (ConversionEventType::Reattribution, event),
                Err(reason) => {
                    batch.dead.push(DeadEntry {
                        entry_id: entry.id.clone(),
                        outboxed: outboxed_id(line),
                        why: DeadReason::Undecodable,
                        reason,
                        raw: without_address(line),
                    });
                    continue;
                }
            };
            batch.conversions.push(DecodedConversion {
                entry_id: entry.id.clone(),
                event_type,
                event,
            });
        }
    }
    batch
}

/// The links whose owners `enrich` needs: the clicks' links, and those of the clicks
/// conversions carry.
pub fn links_of(batch: &DecodedBatch) -> Vec<i64> {
    let clicked = batch.clicks.iter().map(|c| c.event.link_id);
    let converted = batch
        .conversions
        .iter()
        .filter_map(|c| c.event.click_id.as_deref().and_then(click_id::peek))
        .map(|(link_id, _)| link_id);
    let mut ids: Vec<i64> = clicked.chain(converted).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Rows for the clicks whose link exists (the others become dead letters), not yet
/// flagged for bursts ([`flag_bursts`]); conversion events with their fraud signals.
pub fn enrich(
    batch: DecodedBatch,
    owners: &HashMap<i64, (i64, i64)>,
    geo: Option<&GeoIp>,
    fast_conversion: Duration,
) -> Prepared {
    let mut conversions = Vec::with_capacity(batch.conversions.len());
    let mut conversion_entries = Vec::with_capacity(batch.conversions.len());
    for decoded in batch.conversions {
        conversion_entries.push(decoded.entry_id);
        conversions.push(ingested(
            decoded.event_type,
            decoded.event,
            owners,
            fast_conversion,
        ));
    }
    let mut prepared = Prepared {
        rows: Vec::with_capacity(batch.clicks.len()),
        row_entries: Vec::with_capacity(batch.clicks.len()),
        addresses: Vec::with_capacity(batch.clicks.len()),
        conversions,
        conversion_entries,
        dead: batch.dead,
        entry_ids: batch.entry_ids,
    };
    // A batch repeats the same few agents and addresses many times over; parse each once.
    let mut agents: foldhash::HashMap<Option<String>, agent::Agent> = Default::default();
    let mut locations: foldhash::HashMap<IpAddr, enrich::geo::Location> = Default::default();
    for Decoded { entry_id, event } in batch.clicks {
        let ip: Option<IpAddr> = event.ip.as_deref().and_then(|ip| ip.parse().ok());
        let Some(&(campaign_id, influencer_id)) = owners.get(&event.link_id) else {
            let kept = ClickEvent {
                ip: ip.map(enrich::ip_prefix),
                ..event
            };
            prepared.dead.push(DeadEntry {
                outboxed: None,
                why: DeadReason::UnknownLink,
                reason: format!("link {} does not exist", kept.link_id),
                raw: Event::Click(kept).to_json().into_bytes(),
                entry_id,
            });
            continue;
        };
        let location = match (geo, ip) {
            (Some(geo), Some(ip)) => locations
                .entry(ip)
                .or_insert_with(|| geo.lookup(ip))
                .clone(),
            _ => Default::default(),
        };
        let agent = match agents.get(&event.user_agent) {
            Some(known) => known.clone(),
            None => agents
                .entry(event.user_agent.clone())
                .or_insert_with(|| agent::classify(event.user_agent.as_deref()))
                .clone(),
        };
        prepared.addresses.push(event.ip);
        prepared.row_entries.push(entry_id);
        prepared.rows.push(ClickRow {
            click_id: event.id,
            clicked_at: event.at,
            link_id: event.link_id,
            campaign_id,
            influencer_id,
            visitor: event.visitor,
            ip_prefix: ip.map(enrich::ip_prefix),
            country: location.country,
            region: location.region,
            city: location.city,
            device: agent.device.to_owned(),
            browser: agent.browser,
            os: agent.os,
            referrer_host: event.referrer.as_deref().and_then(enrich::referrer_host),
            trigger: match event.trigger {
                Trigger::Link => "link",
                Trigger::Qr => "qr",
            }
            .to_owned(),
            is_bot: agent.is_bot,
            burst: false,
        });
    }
    prepared
}

/// Flags the non-bot clicks past the burst limit. Apart from `enrich`, so the detector,
/// which every shard shares, is held only for this.
pub fn flag_bursts(prepared: &mut Prepared, bursts: &mut BurstDetector) {
    for (row, address) in prepared.rows.iter_mut().zip(&prepared.addresses) {
        row.burst = !row.is_bot
            && bursts.is_burst(
                row.link_id,
                &row.visitor,
                address.as_deref(),
                &row.click_id,
                row.clicked_at,
            );
    }
}

/// A conversion event with its signals and what it changes in the rollups (see
/// [`rollup::contributions`]).
fn ingested(
    event_type: ConversionEventType,
    event: ConversionEvent,
    owners: &HashMap<i64, (i64, i64)>,
    fast_conversion: Duration,
) -> Ingested {
    let click =
        event
            .click_id
            .as_deref()
            .and_then(click_id::peek)
            .and_then(|(link_id, clicked_at)| {
                owners
                    .get(&link_id)
                    .map(|&(_, link_influencer)| (link_influencer, clicked_at))
            });
    let flags_for = |credit: &Credited| {
        ConversionFlags::of(
            &ConversionFacts {
                via_code: credit.via == "code",
                credited_influencer: credit.influencer_id,
                occurred_at: event.occurred_at,
                click,
            },
            fast_conversion,
        )
    };
    let credit = Credited::of(
        event.campaign_id,
        event.influencer_id,
        event.via.as_deref(),
        event.link_id,
    );
    let flags = credit.as_ref().map(flags_for).unwrap_or_default();
    let change = match event_type {
        ConversionEventType::Conversion => Change::Conversion,
        ConversionEventType::Refund => Change::Refund,
        ConversionEventType::Cancellation => Change::Cancellation,
        ConversionEventType::Reattribution => {
            let state = event.state.unwrap_or_default();
            Change::Reattribution(Counted {
                refunded_minor: state.refunded_minor,
                cancelled: state.cancelled,
                voided: state.voided,
            })
        }
    };
    let amounts = Amounts {
        amount_minor: event.amount_minor,
        discount_minor: event.discount_minor,
        voids: event.voids,
    };
    let contributions = rollup::contributions(
        change,
        amounts,
        credit.as_ref().map(|c| (c, flags.any())),
        event
            .moved_from
            .as_ref()
            .map(|old| (old, flags_for(old).any())),
    );
    Ingested {
        event_type,
        event,
        flags,
        contributions,
    }
}
