//! The redirect hot path: `GET /{slug}`.
//!
//! Read top to bottom: find the link in the in-process cache, decide where the visitor
//! goes (rules, expiry, click limit, fallback), issue a signed click id, hand the click
//! event to the producer and wait until it is durable (in Redis, or in the local spool
//! when Redis is away), then answer `302`. No Postgres I/O on a cache hit; everything
//! else about the click is worked out later by the worker.
//!
//! `HEAD` answers like `GET` and records nothing.

pub mod qr;

use std::net::IpAddr;

use actix_web::{
    http::{header, Method, StatusCode},
    web, HttpRequest, HttpResponse, ResponseError,
};
use chrono::Utc;

use crate::{
    cache::links::CachedLink,
    domain::{destination, device, link::Rule, slug::LinkSlug, visitor::VisitorKey},
    http::{
        client_ip::client_ip,
        error::{ApiError, Body as ErrorBody},
        rate_limit::MissLimits,
    },
    pipeline::{
        events::{ClickEvent, Event, Trigger, SCHEMA_VERSION},
        producer::Producer,
    },
    state::AppState,
    storage::{links::Link, StorageError},
};

/// `HEAD /{slug}`: answers as `GET` would, and records no click.
#[utoipa::path(
    head,
    path = "/{slug}",
    tag = "redirect",
    params(("slug" = String, Path, description = "The short link's slug."), ("qr" = Option<String>, Query, description = "As for `GET`.")),
    responses(
        (status = 302, description = "As for `GET`.", headers(
                ("Location" = String, description = "The destination, with UTM parameters and the click id appended."),
                ("Cache-Control" = String, description = "`no-store`: every visit reaches the server and is counted."),
            )),
        (status = 404, description = "No link has this slug."),
        (status = 410, description = "The link is disabled, expired or used up, and has no fallback URL."),
    )
)]
pub async fn follow_head(
    req: HttpRequest,
    state: web::Data<AppState>,
    producer: web::Data<Producer>,
    slug: web::Path<String>,
) -> HttpResponse {
    follow(req, state, producer, slug).await
}

pub const VISITOR_COOKIE: &str = "atv";
const VISITOR_COOKIE_DAYS: i64 = 365;
const MAX_HEADER_CHARS: usize = 1024;

/// Follow a short link: `302` to its destination (or the rule that matches the visitor),
/// with UTM parameters and a signed click id. The click is durable before the answer.
#[utoipa::path(
    get,
    path = "/{slug}",
    tag = "redirect",
    params(("slug" = String, Path, description = "The short link's slug."), ("qr" = Option<String>, Query, description = "`1`: the visit came from the link's QR code.")),
    responses(
        (status = 302, description = "To the destination; or, for a disabled, expired or used-up link, to its fallback URL.", headers(
                ("Location" = String, description = "The destination, with UTM parameters and the click id appended."),
                ("Cache-Control" = String, description = "`no-store`: every visit reaches the server and is counted."),
            )),
        (status = 404, description = "No link has this slug (`not_found`).", body = ErrorBody),
        (status = 410, description = "The link is disabled, expired or used up, and has no fallback URL (`link_gone`).", body = ErrorBody),
    )
)]
pub async fn follow(
    req: HttpRequest,
    state: web::Data<AppState>,
    producer: web::Data<Producer>,
    slug: web::Path<String>,
) -> HttpResponse {
    let counted = &state.metrics.redirects;
    let Ok(slug) = LinkSlug::parse(&slug) else {
        counted.not_found.inc();
        return ApiError::not_found("link").error_response();
    };
    let found = match state.links.peek(slug.as_str()) {
        Some(fresh) => {
            state.metrics.link_cache_hits.inc();
            Ok(fresh)
        }
        None => match state.misses.refuse_lookup(&req) {
            Some(limited) => return limited.error_response(),
            None => {
                state.metrics.link_cache_misses.inc();
                state.links.get(&slug).await
            }
        },
    };
    let cached = match found {
        Ok(Some(cached)) => cached,
        Ok(None) => {
            counted.not_found.inc();
            return state.misses.not_found(&req, "link");
        }
        Err(e) => return lookup_failed(&e),
    };
    let link = &cached.link;
    let recording = req.method() == Method::GET;
    let ip = client_ip(&req, &state.settings.trusted_proxies);
    let user_agent = header_text(&req, header::USER_AGENT);

    if !link.enabled || link.expires_at.is_some_and(|t| t <= Utc::now()) {
        return gone(link, &state);
    }
    if let Some(max) = link.max_clicks.filter(|_| recording) {
        let count = state
            .redis_commands
            .incr(&state.keys.link_clicks(link.id))
            .await;
        // Without Redis the limit cannot be checked; the redirect must still work.
        if count.is_some_and(|n| n > max) {
            return gone(link, &state);
        }
    }

    let now = Utc::now();
    let click_id = recording.then(|| state.signer.issue(link.id, now));
    let (location, by_rule) = location(
        &state,
        &req,
        &cached,
        ip,
        user_agent.as_deref(),
        click_id.as_ref().map(|c| c.as_str()),
    );

    let visitor = visitor_id(&state.visitor_key, &req, ip, user_agent.as_deref(), now);
    if let Some(click_id) = click_id {
        let event = Event::Click(ClickEvent {
            v: SCHEMA_VERSION,
            id: click_id.as_str().to_owned(),
            link_id: link.id,
            at: now,
            visitor: visitor.clone(),
            ip: ip.map(|ip| ip.to_string()),
            user_agent,
            referrer: header_text(&req, header::REFERER),
            trigger: if query_flag(&req, "qr") {
                Trigger::Qr
            } else {
                Trigger::Link
            },
        });
        let shard = state.keys.shard_of(link.id);
        if let Err(e) = producer.send(shard, event.to_json()).await {
            // The visitor still gets where they were going; the click is lost and said so.
            state.metrics.clicks_unrecorded.inc();
            tracing::error!(error = %e, link_id = link.id, "click not recorded");
        }
    }

    if by_rule {
        counted.rule.inc();
    } else {
        counted.redirect.inc();
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::SET_COOKIE,
            visitor_cookie(&visitor, state.settings.public_url.scheme() == "https"),
        ))
        .finish()
}

/// The answer when the link could not be read: Postgres away is worth trying again, a
/// stored link that does not decode (a destination that is no web URL) is not.
fn lookup_failed(e: &StorageError) -> HttpResponse {
    if e.undecodable() {
        return ApiError::internal(e).error_response();
    }
    tracing::error!(error = %e, "link lookup failed");
    ApiError::unavailable("link_lookup_failed", "try again shortly").error_response()
}

/// Disabled, expired or exhausted: the fallback URL if there is one, else 410.
fn gone(link: &Link, state: &AppState) -> HttpResponse {
    let counted = &state.metrics.redirects;
    match &link.fallback_url {
        Some(fallback) => {
            counted.fallback.inc();
            HttpResponse::Found()
                .insert_header((header::LOCATION, fallback.as_str()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        None => {
            counted.gone.inc();
            ApiError::new(
                StatusCode::GONE,
                "link_gone",
                "this link is no longer active",
            )
            .error_response()
        }
    }
}

/// Where this visitor goes: the first rule matching their device and country, else the
/// link's destination, with UTM parameters and the click id. Without forwarded parameters
/// this only appends the click id to a location prepared when the link was cached.
fn location(
    state: &AppState,
    req: &HttpRequest,
    cached: &CachedLink,
    ip: Option<IpAddr>,
    user_agent: Option<&str>,
    click_id: Option<&str>,
) -> (String, bool) {
    let link = &cached.link;
    let rule = matching_rule(state, link, ip, user_agent);
    let (destination, prepared) = match rule {
        Some(index) => (
            &link.rules.0[index].destination,
            cached.rule_destinations.get(index),
        ),
        None => (&link.destination, Some(&cached.destination)),
    };
    let param = &state.settings.click_id_param;
    let forwarded = link
        .forward_query
        .then(|| req.query_string())
        .filter(|q| !q.is_empty());
    let location = match (forwarded, prepared, click_id) {
        (None, Some(prepared), Some(id)) => prepared.with_click(param, id),
        (None, Some(prepared), None) => prepared.without_click(),
        _ => destination::build(destination, &link.utm.0, forwarded, param, click_id),
    };
    (location, rule.is_some())
}

/// The index of the first rule matching the visitor's device and country.
fn matching_rule(
    state: &AppState,
    link: &Link,
    ip: Option<IpAddr>,
    user_agent: Option<&str>,
) -> Option<usize> {
    if link.rules.0.is_empty() {
        return None;
    }
    let device = device::classify(user_agent.unwrap_or_default());
    let needs_country = link.rules.0.iter().any(|r| r.country.is_some());
    let country = match (&state.geoip, ip) {
        (Some(geo), Some(ip)) if needs_country => geo.lookup(ip).country,
        _ => None,
    };
    let applies = |rule: &Rule| {
        rule.device
            .is_none_or(|wanted| device::matches(wanted, device))
            && rule
                .country
                .as_deref()
                .is_none_or(|wanted| country.as_deref() == Some(wanted))
    };
    link.rules.0.iter().position(applies)
}

/// The visitor's first-party cookie, or — on a first visit — the keyed hash of address,
/// agent and day ([`VisitorKey`]), which then becomes the cookie so later clicks count as
/// the same visitor.
fn visitor_id(
    key: &VisitorKey,
    req: &HttpRequest,
    ip: Option<IpAddr>,
    user_agent: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> String {
    if let Some(cookie) = req.cookie(VISITOR_COOKIE) {
        let value = cookie.value();
        if (8..=64).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric()) {
            return value.to_owned();
        }
    }
    key.id(ip, user_agent, now.date_naive())
}

/// The `Set-Cookie` value of the visitor cookie, written out rather than built with
/// `Cookie`, whose formatting showed in redirect profiles; the test below checks both agree.
fn visitor_cookie(visitor: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{VISITOR_COOKIE}={visitor}; HttpOnly; SameSite=Lax{secure}; Path=/; Max-Age={}",
        VISITOR_COOKIE_DAYS * 86_400
    )
}

fn header_text(req: &HttpRequest, name: header::HeaderName) -> Option<String> {
    let value = req.headers().get(name)?.to_str().ok()?;
    let value: String = value.chars().take(MAX_HEADER_CHARS).collect();
    (!value.is_empty()).then_some(value)
}

fn query_flag(req: &HttpRequest, name: &str) -> bool {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .any(|(k, v)| k == name && (v == "1" || v == "true"))
}

#[cfg(test)]
mod tests {
    use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};

    use super::*;

    #[test]
    fn the_visitor_cookie_is_what_the_cookie_crate_writes() {
        for secure in [false, true] {
            let built = Cookie::build(VISITOR_COOKIE, "abc123def456")
                .path("/")
                .http_only(true)
                .secure(secure)
                .same_site(SameSite::Lax)
                .max_age(CookieDuration::days(VISITOR_COOKIE_DAYS))
                .finish();
            assert_eq!(visitor_cookie("abc123def456", secure), built.to_string());
        }
    }
}
