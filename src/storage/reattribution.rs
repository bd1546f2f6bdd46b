//! Re-attribution: deciding a campaign's conversions again from their immutable facts
//! (code, click id, time, amount) under the rules the campaigns have now.
//!
//! The conversions examined are those credited to the campaign, or carrying one of its
//! codes or a click on one of its links. Each batch is one transaction holding the rows
//! locked, so a refund or cancellation arriving meanwhile waits and then sees the new
//! credit. A conversion whose credit moves gets a `reattribution` event in the outbox with
//! what it counted when it moved; the worker moves exactly that in the rollups, so reports
//! follow whatever order the events arrive in. Running it again moves nothing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{outbox, StorageError};
use crate::domain::{
    attribution::{self, ClickOwner, CodeOwner, ConversionStatus, Credit, Priority, Via},
    click_id::ClickId,
    code::PromoCode,
    conversion::{fully_refunded, ConversionState, Credited},
    money::Currency,
};

/// A conversion whose credit moved, with what its event must carry.
#[derive(Debug, Clone)]
pub struct Moved {
    pub conversion_id: i64,
    /// The conversion's attribution version after the move: one event per version.
    pub version: i32,
    pub kind: String,
    pub amount_minor: i64,
    pub discount_minor: i64,
    pub currency: Currency,
    pub occurred_at: DateTime<Utc>,
    pub code: Option<PromoCode>,
    pub click_id: Option<ClickId>,
    pub from: Option<Credited>,
    pub to: Option<Credited>,
    /// What it counted in the rollups when it moved.
    pub state: ConversionState,
}

/// The finished event (JSON) of a move, as the outbox stores it.
pub type EventOf = fn(&Moved) -> String;

const BATCH: i64 = 500;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    /// Conversions decided again.
    pub examined: u64,
    /// Whose credit (or status) changed.
    pub moved: u64,
    /// Left as they were because the new credit's campaign has another currency.
    pub kept_for_currency: u64,
}

#[derive(Debug, sqlx::FromRow)]
struct Fact {
    id: i64,
    kind: String,
    amount_minor: i64,
    currency: Currency,
    discount_minor: i64,
    refunded_minor: i64,
    cancelled: bool,
    status: ConversionStatus,
    campaign_id: Option<i64>,
    influencer_id: Option<i64>,
    link_id: Option<i64>,
    via: Option<Via>,
    code: Option<PromoCode>,
    click_id: Option<ClickId>,
    occurred_at: DateTime<Utc>,
}

impl Fact {
    fn credited(&self) -> Option<Credited> {
        Credited::of(
            self.campaign_id,
            self.influencer_id,
            self.via.map(Via::as_str),
            self.link_id,
        )
    }

    /// What the conversion counts in the rollups now.
    fn state(&self) -> ConversionState {
        let fully_refunded = fully_refunded(self.amount_minor, self.refunded_minor);
        ConversionState {
            // A cancellation counted what was left as refunded.
            refunded_minor: if self.cancelled {
                self.amount_minor
            } else {
                self.refunded_minor
            },
            cancelled: self.cancelled,
            voided: self.cancelled || fully_refunded,
        }
    }
}

/// Who owns a code, and under which rules and currency.
struct CodeTerms {
    owner: CodeOwner,
    currency: Currency,
}

struct LinkTerms {
    campaign_id: i64,
    influencer_id: i64,
    window_days: i32,
    currency: Currency,
}

/// Decides the campaign's conversions again; each move's event, made by `event_of`, is
/// enqueued in the transaction that moves it.
pub async fn reattribute(
    db: &PgPool,
    campaign_id: i64,
    event_of: EventOf,
) -> Result<Outcome, StorageError> {
    let mut outcome = Outcome::default();
    let mut after = 0_i64;
    loop {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM (
               SELECT id FROM conversions WHERE campaign_id = $1
               UNION
               SELECT c.id FROM conversions c JOIN promo_codes p ON p.code = c.code
               WHERE p.campaign_id = $1
               UNION
               SELECT c.id FROM conversions c JOIN links l ON l.id = click_link_id(c.click_id)
               WHERE l.campaign_id = $1 AND c.click_id IS NOT NULL) ids
             WHERE id > $2 ORDER BY id LIMIT $3",
        )
        .bind(campaign_id)
        .bind(after)
        .bind(BATCH)
        .fetch_all(db)
        .await?;
        let Some(&last) = ids.last() else {
            return Ok(outcome);
        };
        after = last;
        let batch = decide_batch(db, &ids, event_of).await?;
        outcome.examined += batch.examined;
        outcome.moved += batch.moved;
        outcome.kept_for_currency += batch.kept_for_currency;
    }
}

async fn decide_batch(
    db: &PgPool,
    ids: &[i64],
    event_of: EventOf,
) -> Result<Outcome, StorageError> {
    let mut tx = db.begin().await?;
    let facts: Vec<Fact> = sqlx::query_as(
        "SELECT id, kind, amount_minor, currency::text AS currency, discount_minor,
                refunded_minor, cancelled_at IS NOT NULL AS cancelled, status, campaign_id,
                influencer_id, link_id, via, code, click_id, occurred_at
         FROM conversions WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;

    let codes: Vec<&PromoCode> = facts.iter().filter_map(|f| f.code.as_ref()).collect();
    let code_terms: HashMap<PromoCode, CodeTerms> = sqlx::query_as::<
        _,
        (PromoCode, i64, i64, Priority, Currency),
    >(
        "SELECT p.code, p.campaign_id, p.influencer_id, c.attribution_priority, c.currency::text
         FROM promo_codes p JOIN campaigns c ON c.id = p.campaign_id WHERE p.code = ANY($1)",
    )
    .bind(&codes)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(code, campaign_id, influencer_id, priority, currency)| {
        let owner = CodeOwner {
            campaign_id,
            influencer_id,
            priority,
        };
        (code, CodeTerms { owner, currency })
    })
    .collect();

    let clicks: HashMap<i64, (i64, DateTime<Utc>)> = facts
        .iter()
        .filter_map(|f| {
            let click = f.click_id.as_ref()?;
            Some((f.id, (click.link_id, click.clicked_at)))
        })
        .collect();
    let link_ids: Vec<i64> = clicks.values().map(|(link, _)| *link).collect();
    let link_terms: HashMap<i64, LinkTerms> = sqlx::query_as::<_, (i64, i64, i64, i32, Currency)>(
        "SELECT l.id, l.campaign_id, l.influencer_id, c.attribution_window_days,
                c.currency::text
         FROM links l JOIN campaigns c ON c.id = l.campaign_id WHERE l.id = ANY($1)",
    )
    .bind(&link_ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(id, campaign_id, influencer_id, window_days, currency)| {
        let terms = LinkTerms {
            campaign_id,
            influencer_id,
            window_days,
            currency,
        };
        (id, terms)
    })
    .collect();

    let mut outcome = Outcome::default();
    for fact in &facts {
        outcome.examined += 1;
        let code = fact.code.as_ref().and_then(|c| code_terms.get(c));
        let click = clicks.get(&fact.id).and_then(|&(link_id, clicked_at)| {
            link_terms.get(&link_id).map(|terms| {
                let owner = ClickOwner {
                    link_id,
                    campaign_id: terms.campaign_id,
                    influencer_id: terms.influencer_id,
                    clicked_at,
                    window_days: terms.window_days,
                };
                (owner, terms.currency)
            })
        });
        let decision = attribution::decide(
            code.map(|c| c.owner),
            click.map(|(owner, _)| owner),
            fact.occurred_at,
        );
        let credit_currency = match decision.credit.map(|c| c.via) {
            Some(Via::Code) => code.map(|c| c.currency),
            Some(Via::Click) => click.map(|(_, currency)| currency),
            None => None,
        };
        if credit_currency.is_some_and(|c| c != fact.currency) {
            outcome.kept_for_currency += 1;
            continue;
        }
        let new = decision.credit.map(credited);
        if new == fact.credited() && decision.status == fact.status {
            continue;
        }
        let version: i32 = sqlx::query_scalar(
            "UPDATE conversions
             SET status = $2, campaign_id = $3, influencer_id = $4, link_id = $5, via = $6,
                 rule = $7, attribution_version = attribution_version + 1, updated_at = now()
             WHERE id = $1 RETURNING attribution_version",
        )
        .bind(fact.id)
        .bind(decision.status)
        .bind(new.as_ref().map(|c| c.campaign_id))
        .bind(new.as_ref().map(|c| c.influencer_id))
        .bind(new.as_ref().and_then(|c| c.link_id))
        .bind(new.as_ref().map(|c| c.via.as_str()))
        .bind(decision.rule)
        .fetch_one(&mut *tx)
        .await?;
        let moved = Moved {
            conversion_id: fact.id,
            version,
            kind: fact.kind.clone(),
            amount_minor: fact.amount_minor,
            discount_minor: fact.discount_minor,
            currency: fact.currency,
            occurred_at: fact.occurred_at,
            code: fact.code.clone(),
            click_id: fact.click_id.clone(),
            from: fact.credited(),
            to: new,
            state: fact.state(),
        };
        outbox::enqueue(&mut tx, fact.id, &event_of(&moved)).await?;
        outcome.moved += 1;
    }
    tx.commit().await?;
    Ok(outcome)
}

fn credited(credit: Credit) -> Credited {
    Credited {
        campaign_id: credit.campaign_id,
        influencer_id: credit.influencer_id,
        via: credit.via.as_str().to_owned(),
        link_id: credit.link_id,
    }
}
