//! SQL of conversions: recording them with their attribution, refunds and cancellations
//! (each with its event in the outbox, in the same transaction), and the worker's
//! idempotent ingest of those events into `conversion_events` and `conversion_rollups`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use super::StorageError;
use crate::{
    domain::{
        attribution::{AttributionRule, ConversionStatus, Decision, Via},
        click_id::ClickId,
        code::PromoCode,
        conversion::{ConversionEvent, Credited},
        fraud::ConversionFlags,
        money::Currency,
        rollup,
    },
    ids::{id_string, opt_id_string},
};

/// Whether a conversion still counts is a rollup rule; named here too for the refund and
/// cancellation SQL below and for `reattribution`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversionEventType {
    Conversion,
    Refund,
    Cancellation,
    Reattribution,
}

impl ConversionEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversionEventType::Conversion => "conversion",
            ConversionEventType::Refund => "refund",
            ConversionEventType::Cancellation => "cancellation",
            ConversionEventType::Reattribution => "reattribution",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ConversionRow {
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub id: i64,
    pub order_id: String,
    pub kind: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub discount_minor: i64,
    pub refunded_minor: i64,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub status: ConversionStatus,
    #[serde(serialize_with = "opt_id_string")]
    #[schema(value_type = Option<String>)]
    pub campaign_id: Option<i64>,
    #[serde(serialize_with = "opt_id_string")]
    #[schema(value_type = Option<String>)]
    pub influencer_id: Option<i64>,
    #[serde(serialize_with = "opt_id_string")]
    #[schema(value_type = Option<String>)]
    pub link_id: Option<i64>,
    pub via: Option<Via>,
    pub rule: AttributionRule,
    pub code: Option<PromoCode>,
    pub click_id: Option<ClickId>,
    pub customer_ref: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, order_id, kind, amount_minor, currency::text AS currency,
    discount_minor, refunded_minor, cancelled_at, status, campaign_id, influencer_id, link_id,
    via, rule, code, click_id, customer_ref, occurred_at, created_at";

#[derive(Debug, Clone)]
pub struct NewConversion {
    pub order_id: String,
    pub kind: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub discount_minor: i64,
    pub code: Option<PromoCode>,
    pub click_id: Option<ClickId>,
    pub customer_ref: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub decision: Decision,
    pub redemption_id: Option<i64>,
}

pub async fn by_order(
    db: impl sqlx::PgExecutor<'_>,
    order_id: &str,
) -> Result<Option<ConversionRow>, StorageError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM conversions WHERE order_id = $1"
    ))
    .bind(order_id)
    .fetch_optional(db)
    .await?)
}

async fn fetch(tx: &mut Transaction<'_, Postgres>, id: i64) -> Result<ConversionRow, StorageError> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM conversions WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// Inserts the conversion unless its order has one already (`None`); its event is the
/// caller's to enqueue in the same transaction.
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    new: &NewConversion,
) -> Result<Option<ConversionRow>, StorageError> {
    let credit = new.decision.credit;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO conversions (order_id, kind, amount_minor, currency, discount_minor, status,
                                  campaign_id, influencer_id, link_id, via, rule, code, click_id,
                                  customer_ref, redemption_id, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT (order_id) DO NOTHING
         RETURNING id",
    )
    .bind(&new.order_id)
    .bind(&new.kind)
    .bind(new.amount_minor)
    .bind(new.currency)
    .bind(new.discount_minor)
    .bind(new.decision.status)
    .bind(credit.map(|c| c.campaign_id))
    .bind(credit.map(|c| c.influencer_id))
    .bind(credit.and_then(|c| c.link_id))
    .bind(credit.map(|c| c.via))
    .bind(new.decision.rule)
    .bind(&new.code)
    .bind(&new.click_id)
    .bind(&new.customer_ref)
    .bind(new.redemption_id)
    .bind(new.occurred_at)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(Some(fetch(tx, id).await?))
}

#[derive(Debug)]
pub enum RefundOutcome {
    Refunded {
        row: Box<ConversionRow>,
        refund_id: i64,
        /// What this refund took.
        amount_minor: i64,
    },
    NotFound,
    Cancelled,
    /// The amount is more than what is left (`left`), or nothing is left.
    Exceeds {
        left: i64,
    },
}

/// Within `tx`: refunds `amount` (default: all that is left) of the order's conversion,
/// locking it; `Refunded` carries the row as it is after, the refund's id and what it took.
/// Any other outcome changed nothing.
pub async fn refund(
    tx: &mut Transaction<'_, Postgres>,
    order_id: &str,
    amount: Option<i64>,
) -> Result<RefundOutcome, StorageError> {
    // The amount this refund takes is decided on the locked row: what was asked, or all
    // that is left.
    let refunded: Option<(i64, i64)> = sqlx::query_as(
        "WITH asked AS (
           SELECT id, coalesce($2, amount_minor - refunded_minor) AS take
           FROM conversions WHERE order_id = $1 AND cancelled_at IS NULL FOR UPDATE)
         UPDATE conversions c
         SET refunded_minor = c.refunded_minor + asked.take, updated_at = now()
         FROM asked
         WHERE c.id = asked.id AND asked.take > 0
           AND c.refunded_minor + asked.take <= c.amount_minor
         RETURNING c.id, asked.take",
    )
    .bind(order_id)
    .bind(amount)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id, this_refund)) = refunded else {
        return Ok(match by_order(&mut **tx, order_id).await? {
            None => RefundOutcome::NotFound,
            Some(row) if row.cancelled_at.is_some() => RefundOutcome::Cancelled,
            Some(row) => RefundOutcome::Exceeds {
                left: row.amount_minor - row.refunded_minor,
            },
        });
    };
    let row = fetch(tx, id).await?;
    let refund_id: i64 = sqlx::query_scalar(
        "INSERT INTO conversion_refunds (conversion_id, amount_minor) VALUES ($1, $2) RETURNING id",
    )
    .bind(id)
    .bind(this_refund)
    .fetch_one(&mut **tx)
    .await?;
    Ok(RefundOutcome::Refunded {
        row: Box::new(row),
        refund_id,
        amount_minor: this_refund,
    })
}

/// Within `tx`: cancels the conversion of an order, or the one a redemption created, and
/// returns it as it is after; `None` when there is none or it was cancelled before.
pub async fn cancel(
    tx: &mut Transaction<'_, Postgres>,
    of: Cancelling<'_>,
) -> Result<Option<ConversionRow>, StorageError> {
    let (order_id, redemption_id) = match of {
        Cancelling::Order(order_id) => (Some(order_id), None),
        Cancelling::Redemption(id) => (None, Some(id)),
    };
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE conversions SET cancelled_at = now(), updated_at = now()
         WHERE (order_id = $1 OR redemption_id = $2) AND cancelled_at IS NULL RETURNING id",
    )
    .bind(order_id)
    .bind(redemption_id)
    .fetch_optional(&mut **tx)
    .await?;
    match id {
        Some(id) => Ok(Some(fetch(tx, id).await?)),
        None => Ok(None),
    }
}

/// Which conversion to cancel.
#[derive(Debug, Clone, Copy)]
pub enum Cancelling<'a> {
    Order(&'a str),
    /// The one a redemption created.
    Redemption(i64),
}

/// `n` conversion ids, taken now from the table's identity sequence, for conversions
/// inserted later with their id given (a redemption's, whose event must name it before
/// the database function that inserts it runs).
pub async fn allocate_ids(db: &PgPool, n: usize) -> Result<Vec<i64>, StorageError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('conversions', 'id'))
         FROM generate_series(1, $1)",
    )
    .bind(n as i64)
    .fetch_all(db)
    .await?)
}

/// What one event changes in one rollup row of a credit (a re-attribution changes two);
/// computed by [`crate::domain::rollup::contributions`].
pub type Contribution = rollup::Contribution<Credited>;

/// An event to store, with its fraud signals and what it adds to the rollups.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub event_type: ConversionEventType,
    pub event: ConversionEvent,
    pub flags: ConversionFlags,
    pub contributions: Vec<Contribution>,
}

/// Stores each event once and adds the contributions of the new ones to the hourly and
/// daily rollups, and to the campaign's hourly totals.
pub async fn ingest_batch(
    tx: &mut Transaction<'_, Postgres>,
    events: &[Ingested],
) -> Result<u64, StorageError> {
    let ids: Vec<&str> = events.iter().map(|i| i.event.id.as_str()).collect();
    let types: Vec<&str> = events.iter().map(|i| i.event_type.as_str()).collect();
    let e = |f: fn(&ConversionEvent) -> Option<i64>| {
        events.iter().map(|i| f(&i.event)).collect::<Vec<_>>()
    };
    let conversion_ids: Vec<i64> = events.iter().map(|i| i.event.conversion_id).collect();
    let vias: Vec<Option<&str>> = events.iter().map(|i| i.event.via.as_deref()).collect();
    let kinds: Vec<&str> = events.iter().map(|i| i.event.kind.as_str()).collect();
    let amounts: Vec<i64> = events.iter().map(|i| i.event.amount_minor).collect();
    let discounts: Vec<i64> = events.iter().map(|i| i.event.discount_minor).collect();
    let currencies: Vec<&str> = events.iter().map(|i| i.event.currency.as_str()).collect();
    let times: Vec<DateTime<Utc>> = events.iter().map(|i| i.event.occurred_at).collect();
    let codes: Vec<Option<&str>> = events.iter().map(|i| i.event.code.as_deref()).collect();
    let voids: Vec<bool> = events.iter().map(|i| i.event.voids).collect();
    let click_ids: Vec<Option<&str>> = events.iter().map(|i| i.event.click_id.as_deref()).collect();
    let fast: Vec<bool> = events.iter().map(|i| i.flags.fast).collect();
    let leaked: Vec<bool> = events.iter().map(|i| i.flags.leaked_code).collect();

    let parts: Vec<(&Ingested, &Contribution)> = events
        .iter()
        .flat_map(|i| i.contributions.iter().map(move |c| (i, c)))
        .collect();
    // One array per column of the rollup rows, in `parts` order.
    fn column<'a, T>(
        parts: &[(&'a Ingested, &'a Contribution)],
        f: impl Fn(&'a Ingested, &'a Contribution) -> T,
    ) -> Vec<T> {
        parts.iter().map(|&(i, c)| f(i, c)).collect()
    }

    let inserted: i64 = sqlx::query_scalar(
        "WITH inserted AS (
           INSERT INTO conversion_events (event_id, event_type, conversion_id, campaign_id,
                                          influencer_id, link_id, via, kind, amount_minor,
                                          discount_minor, currency, occurred_at, code, voids,
                                          click_id, fast_conversion, leaked_code)
           -- Unnested in the select list, as in `clicks::insert_batch`: `FROM unnest(…)`
           -- would copy every array into a tuple store first.
           SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::bigint[]),
                  unnest($4::bigint[]), unnest($5::bigint[]), unnest($6::bigint[]),
                  unnest($7::text[]), unnest($8::text[]), unnest($9::bigint[]),
                  unnest($10::bigint[]), unnest($11::text[]), unnest($12::timestamptz[]),
                  unnest($13::text[]), unnest($14::bool[]), unnest($15::text[]),
                  unnest($16::bool[]), unnest($17::bool[])
           ON CONFLICT (event_id) DO NOTHING
           RETURNING event_id),
         parts AS (
           SELECT * FROM unnest($18::text[], $19::bigint[], $20::bigint[], $21::text[],
                                $22::bigint[], $23::text[], $24::timestamptz[], $25::text[],
                                $26::bigint[], $27::bigint[], $28::bigint[], $29::bigint[],
                                $30::bigint[], $31::bigint[], $32::bigint[])
             AS p(event_id, campaign_id, influencer_id, via, link_id, kind, occurred_at, code,
                  conversions, revenue_minor, discount_minor, refunded_minor, cancelled,
                  voided, flagged)),
         rolled AS (
           INSERT INTO conversion_rollups AS r (campaign_id, influencer_id, hour, via, kind,
                                                link_id, code, conversions, revenue_minor,
                                                discount_minor, refunded_minor, cancelled,
                                                voided, flagged)
           SELECT p.campaign_id, p.influencer_id, date_trunc('hour', p.occurred_at, 'UTC'),
                  p.via, p.kind, coalesce(p.link_id, 0), coalesce(p.code, ''),
                  sum(p.conversions), sum(p.revenue_minor), sum(p.discount_minor),
                  sum(p.refunded_minor), sum(p.cancelled), sum(p.voided), sum(p.flagged)
           FROM parts p JOIN inserted USING (event_id)
           GROUP BY 1, 2, 3, 4, 5, 6, 7
           -- One lock order for every batch, so concurrent ones cannot deadlock.
           ORDER BY 1, 2, 3, 4, 5, 6, 7
           ON CONFLICT (campaign_id, influencer_id, hour, via, kind, link_id, code) DO UPDATE
             SET conversions = r.conversions + EXCLUDED.conversions,
                 revenue_minor = r.revenue_minor + EXCLUDED.revenue_minor,
                 discount_minor = r.discount_minor + EXCLUDED.discount_minor,
                 refunded_minor = r.refunded_minor + EXCLUDED.refunded_minor,
                 cancelled = r.cancelled + EXCLUDED.cancelled,
                 voided = r.voided + EXCLUDED.voided,
                 flagged = r.flagged + EXCLUDED.flagged),
         daily AS (
           INSERT INTO conversion_daily AS d (campaign_id, influencer_id, day, via, kind,
                                              link_id, code, conversions, revenue_minor,
                                              discount_minor, refunded_minor, cancelled,
                                              voided, flagged)
           SELECT p.campaign_id, p.influencer_id, (p.occurred_at AT TIME ZONE 'UTC')::date,
                  p.via, p.kind, coalesce(p.link_id, 0), coalesce(p.code, ''),
                  sum(p.conversions), sum(p.revenue_minor), sum(p.discount_minor),
                  sum(p.refunded_minor), sum(p.cancelled), sum(p.voided), sum(p.flagged)
           FROM parts p JOIN inserted USING (event_id)
           GROUP BY 1, 2, 3, 4, 5, 6, 7
           ORDER BY 1, 2, 3, 4, 5, 6, 7
           ON CONFLICT (campaign_id, influencer_id, day, via, kind, link_id, code) DO UPDATE
             SET conversions = d.conversions + EXCLUDED.conversions,
                 revenue_minor = d.revenue_minor + EXCLUDED.revenue_minor,
                 discount_minor = d.discount_minor + EXCLUDED.discount_minor,
                 refunded_minor = d.refunded_minor + EXCLUDED.refunded_minor,
                 cancelled = d.cancelled + EXCLUDED.cancelled,
                 voided = d.voided + EXCLUDED.voided,
                 flagged = d.flagged + EXCLUDED.flagged),
         -- Stored now: the relay no longer needs to keep it (see `storage::outbox`).
         relayed AS (DELETE FROM outbox WHERE event_id = ANY($1::text[])),
         campaign_hours AS (
           INSERT INTO conversion_hourly AS h (campaign_id, hour, kind, conversions,
                                               revenue_minor, refunded_minor, voided)
           SELECT p.campaign_id, date_trunc('hour', p.occurred_at, 'UTC'), p.kind,
                  sum(p.conversions), sum(p.revenue_minor), sum(p.refunded_minor),
                  sum(p.voided)
           FROM parts p JOIN inserted USING (event_id)
           GROUP BY 1, 2, 3
           ORDER BY 1, 2, 3
           ON CONFLICT (campaign_id, hour, kind) DO UPDATE
             SET conversions = h.conversions + EXCLUDED.conversions,
                 revenue_minor = h.revenue_minor + EXCLUDED.revenue_minor,
                 refunded_minor = h.refunded_minor + EXCLUDED.refunded_minor,
                 voided = h.voided + EXCLUDED.voided)
         SELECT count(*) FROM inserted",
    )
    .bind(&ids)
    .bind(&types)
    .bind(&conversion_ids)
    .bind(e(|e| e.campaign_id))
    .bind(e(|e| e.influencer_id))
    .bind(e(|e| e.link_id))
    .bind(&vias)
    .bind(&kinds)
    .bind(&amounts)
    .bind(&discounts)
    .bind(&currencies)
    .bind(&times)
    .bind(&codes)
    .bind(&voids)
    .bind(&click_ids)
    .bind(&fast)
    .bind(&leaked)
    .bind(column(&parts, |i, _| i.event.id.as_str()))
    .bind(column(&parts, |_, c| c.credit.campaign_id))
    .bind(column(&parts, |_, c| c.credit.influencer_id))
    .bind(column(&parts, |_, c| c.credit.via.as_str()))
    .bind(column(&parts, |_, c| c.credit.link_id))
    .bind(column(&parts, |i, _| i.event.kind.as_str()))
    .bind(column(&parts, |i, _| i.event.occurred_at))
    .bind(column(&parts, |i, _| i.event.code.as_deref()))
    .bind(column(&parts, |_, c| c.counts.conversions))
    .bind(column(&parts, |_, c| c.counts.revenue_minor))
    .bind(column(&parts, |_, c| c.counts.discount_minor))
    .bind(column(&parts, |_, c| c.counts.refunded_minor))
    .bind(column(&parts, |_, c| c.counts.cancelled))
    .bind(column(&parts, |_, c| c.counts.voided))
    .bind(column(&parts, |_, c| c.counts.flagged))
    .fetch_one(&mut **tx)
    .await?;
    Ok(u64::try_from(inserted).unwrap_or(0))
}
