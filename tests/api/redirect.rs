use std::time::Duration;

use attrib::{
    domain::click_id::ClickSigner,
    pipeline::events::{ClickEvent, Trigger},
};
use reqwest::{header, Method, Response};
use serde_json::{json, Value};
use url::Url;

use crate::helpers::{
    spawn_app, spawn_app_on, spawn_app_with, stream_clicks, TestApp, CLICK_SECRET, PUBLIC_URL,
};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

async fn link(app: &TestApp, extra: Value) -> Value {
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let mut body = json!({
        "campaign_id": campaign, "influencer_id": influencer,
        "destination": "https://shop.example.com/summer?color=red",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post("/v1/links", body).await.assert_status(201).clone()
}

async fn visit(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = app.client.get(format!("{}{path}", app.address));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

fn location(response: &Response) -> Url {
    let raw = response
        .headers()
        .get(header::LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap();
    Url::parse(raw).unwrap()
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Every click event in the app's streams.
async fn recorded_clicks(app: &TestApp) -> Vec<ClickEvent> {
    stream_clicks(app, &app.settings.redis_url).await
}

#[tokio::test]
async fn a_click_is_redirected_with_utm_and_a_signed_click_id_after_it_is_in_redis() {
    let app = spawn_app().await;
    let link = link(&app, json!({"slug": "emma"})).await;

    let response = visit(
        &app,
        "/emma",
        &[
            ("user-agent", IPHONE),
            ("referer", "https://instagram.com/"),
        ],
    )
    .await;

    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with("atv=") && cookie.contains("HttpOnly") && cookie.contains("Secure"),
        "{cookie}"
    );
    let target = location(&response);
    assert_eq!(target.host_str(), Some("shop.example.com"));
    assert_eq!(param(&target, "color").as_deref(), Some("red"));
    assert_eq!(param(&target, "utm_source").as_deref(), Some("emma"));
    assert_eq!(param(&target, "utm_medium").as_deref(), Some("influencer"));
    assert_eq!(param(&target, "utm_campaign").as_deref(), Some("summer"));
    let click_id = param(&target, "atid").expect("click id parameter");
    let decoded = ClickSigner::new(CLICK_SECRET.as_bytes())
        .verify(&click_id)
        .unwrap();
    assert_eq!(decoded.link_id.to_string(), link["id"].as_str().unwrap());

    // The 302 was only sent once the event was in the stream: no waiting needed.
    let clicks = recorded_clicks(&app).await;
    assert_eq!(clicks.len(), 1);
    assert_eq!(clicks[0].id, click_id);
    assert_eq!(clicks[0].user_agent.as_deref(), Some(IPHONE));
    assert_eq!(
        clicks[0].referrer.as_deref(),
        Some("https://instagram.com/")
    );
    assert_eq!(clicks[0].ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(clicks[0].trigger, Trigger::Link);
}

#[tokio::test]
async fn head_answers_like_get_and_records_nothing() {
    let app = spawn_app().await;
    link(&app, json!({"slug": "emma"})).await;
    let response = app
        .client
        .request(Method::HEAD, format!("{}/emma", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response).host_str(), Some("shop.example.com"));
    assert!(param(&location(&response), "atid").is_none());
    assert!(recorded_clicks(&app).await.is_empty());
}

#[tokio::test]
async fn unknown_slugs_are_404_and_the_slug_is_case_insensitive() {
    let app = spawn_app().await;
    link(&app, json!({"slug": "emma"})).await;
    assert_eq!(visit(&app, "/nobody", &[]).await.status(), 404);
    assert_eq!(visit(&app, "/no%20body", &[]).await.status(), 404);
    assert_eq!(visit(&app, "/EMMA", &[]).await.status(), 302);
}

#[tokio::test]
async fn qr_visits_are_marked_and_the_visitor_cookie_is_reused() {
    let app = spawn_app().await;
    link(&app, json!({"slug": "emma"})).await;
    visit(&app, "/emma?qr=1", &[("cookie", "atv=0123456789abcdef")]).await;
    visit(&app, "/emma", &[("cookie", "atv=0123456789abcdef")]).await;
    let clicks = recorded_clicks(&app).await;
    assert_eq!(clicks.len(), 2);
    assert!(clicks.iter().any(|c| c.trigger == Trigger::Qr));
    assert!(clicks.iter().all(|c| c.visitor == "0123456789abcdef"));
}

#[tokio::test]
async fn a_first_visit_gets_a_cookie_matching_its_recorded_visitor() {
    let app = spawn_app().await;
    link(&app, json!({"slug": "emma"})).await;
    let response = visit(&app, "/emma", &[]).await;
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    let value = cookie.trim_start_matches("atv=").split(';').next().unwrap();
    assert_eq!(recorded_clicks(&app).await[0].visitor, value);
}

#[tokio::test]
async fn the_query_is_forwarded_only_when_the_link_says_so() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    for (slug, forward) in [("fwd", true), ("nofwd", false)] {
        app.post(
            "/v1/links",
            json!({"campaign_id": campaign, "influencer_id": influencer, "slug": slug,
                   "destination": "https://shop.example.com/", "forward_query": forward}),
        )
        .await
        .assert_status(201);
    }
    let forwarded = location(&visit(&app, "/fwd?gclid=abc&atid=forged", &[]).await);
    assert_eq!(param(&forwarded, "gclid").as_deref(), Some("abc"));
    assert_ne!(param(&forwarded, "atid").as_deref(), Some("forged"));
    let kept = location(&visit(&app, "/nofwd?gclid=abc", &[]).await);
    assert_eq!(param(&kept, "gclid"), None);
}

#[tokio::test]
async fn device_rules_send_phones_elsewhere() {
    let app = spawn_app().await;
    link(
        &app,
        json!({"slug": "app", "rules": [{"device": "ios", "destination": "https://apps.apple.com/app/id1"}]}),
    )
    .await;
    let phone = location(&visit(&app, "/app", &[("user-agent", IPHONE)]).await);
    assert_eq!(phone.host_str(), Some("apps.apple.com"));
    assert_eq!(param(&phone, "utm_source").as_deref(), Some("emma"));
    let desktop = location(
        &visit(
            &app,
            "/app",
            &[("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")],
        )
        .await,
    );
    assert_eq!(desktop.host_str(), Some("shop.example.com"));
}

#[tokio::test]
async fn country_rules_use_the_forwarded_address_of_a_trusted_proxy() {
    let geoip = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/geoip/GeoIP2-City-Test.mmdb"
    );
    let app = spawn_app_with(&[
        ("ATTRIB_GEOIP_DB", geoip),
        ("ATTRIB_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    link(
        &app,
        json!({"slug": "se", "rules": [{"country": "SE", "destination": "https://shop.example.se/"}]}),
    )
    .await;
    let swede = location(&visit(&app, "/se", &[("x-forwarded-for", "89.160.20.112")]).await);
    assert_eq!(swede.host_str(), Some("shop.example.se"));
    let briton = location(&visit(&app, "/se", &[("x-forwarded-for", "81.2.69.142")]).await);
    assert_eq!(briton.host_str(), Some("shop.example.com"));
    let clicks = recorded_clicks(&app).await;
    assert!(clicks
        .iter()
        .any(|c| c.ip.as_deref() == Some("89.160.20.112")));
}

#[tokio::test]
async fn disabled_and_expired_links_use_the_fallback_or_are_gone() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let make = |slug: &str, extra: Value| {
        let mut body = json!({"campaign_id": campaign, "influencer_id": influencer, "slug": slug,
                              "destination": "https://shop.example.com/"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let off = app.post("/v1/links", make("off", json!({}))).await.id();
    app.delete(&format!("/v1/links/{off}"))
        .await
        .assert_status(200);
    app.post(
        "/v1/links",
        make("old", json!({"expires_at": "2020-01-01T00:00:00Z"})),
    )
    .await
    .assert_status(201);
    app.post(
        "/v1/links",
        make("old-fb", json!({"expires_at": "2020-01-01T00:00:00Z", "fallback_url": "https://shop.example.com/sorry"})),
    )
    .await
    .assert_status(201);

    let response = visit(&app, "/off", &[]).await;
    assert_eq!(response.status(), 410);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "link_gone");
    assert_eq!(visit(&app, "/old", &[]).await.status(), 410);
    let fallback = visit(&app, "/old-fb", &[]).await;
    assert_eq!(fallback.status(), 302);
    assert_eq!(location(&fallback).path(), "/sorry");
    assert!(
        recorded_clicks(&app).await.is_empty(),
        "dead links record no clicks"
    );
}

#[tokio::test]
async fn a_link_stops_after_max_clicks() {
    let app = spawn_app().await;
    link(&app, json!({"slug": "limited", "max_clicks": 2, "fallback_url": "https://shop.example.com/over"})).await;
    for _ in 0..2 {
        let response = visit(&app, "/limited", &[]).await;
        assert_eq!(location(&response).path(), "/summer");
    }
    let third = visit(&app, "/limited", &[]).await;
    assert_eq!(location(&third).path(), "/over");
    assert_eq!(recorded_clicks(&app).await.len(), 2);
}

#[tokio::test]
async fn an_edited_link_redirects_to_its_new_destination_at_once() {
    let app = spawn_app().await;
    let link = link(&app, json!({"slug": "emma"})).await;
    visit(&app, "/emma", &[]).await; // now cached
    visit(&app, "/later", &[]).await; // cached as unknown
    app.patch(
        &format!("/v1/links/{}", link["id"].as_str().unwrap()),
        json!({"destination": "https://shop.example.com/autumn"}),
    )
    .await
    .assert_status(200);
    assert_eq!(location(&visit(&app, "/emma", &[]).await).path(), "/autumn");

    let (campaign, influencer) = (link["campaign_id"].clone(), link["influencer_id"].clone());
    app.post(
        "/v1/links",
        json!({"campaign_id": campaign, "influencer_id": influencer, "slug": "later",
               "destination": "https://shop.example.com/later"}),
    )
    .await
    .assert_status(201);
    assert_eq!(visit(&app, "/later", &[]).await.status(), 302);
}

#[tokio::test]
async fn another_process_learns_of_a_link_change_through_redis() {
    // Given two processes on one database and one Redis prefix
    let first = spawn_app().await;
    let prefix = first.settings.redis_prefix.clone();
    let second = spawn_app_on(
        &first.settings.database_url,
        &[("ATTRIB_REDIS_PREFIX", prefix.as_str())],
    )
    .await;
    let link = link(&first, json!({"slug": "emma"})).await;
    // and the second has the link cached
    assert_eq!(
        location(&visit(&second, "/emma", &[]).await).path(),
        "/summer"
    );

    // When the first changes the link
    first
        .patch(
            &format!("/v1/links/{}", link["id"].as_str().unwrap()),
            json!({"destination": "https://shop.example.com/autumn"}),
        )
        .await
        .assert_status(200);

    // Then the second follows well before its cache would expire
    let mut followed = false;
    for _ in 0..50 {
        if location(&visit(&second, "/emma", &[]).await).path() == "/autumn" {
            followed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(followed, "the change did not reach the other process");
}

#[tokio::test]
async fn short_urls_of_links_point_at_the_redirect() {
    let app = spawn_app().await;
    let link = link(&app, json!({})).await;
    let short = link["short_url"].as_str().unwrap();
    let path = short.strip_prefix(PUBLIC_URL).unwrap();
    assert_eq!(visit(&app, path, &[]).await.status(), 302);
}

#[tokio::test]
async fn the_qr_png_decodes_to_the_short_url_marked_as_a_scan() {
    let app = spawn_app().await;
    link(&app, json!({"slug": "emma"})).await;
    let response = visit(&app, "/emma/qr.png", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/png");
    let bytes = response.bytes().await.unwrap();

    let decoder = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let (width, height) = (info.width as usize, info.height as usize);
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, format!("{PUBLIC_URL}/emma?qr=1"));
}

#[tokio::test]
async fn the_qr_svg_is_an_svg_and_unknown_links_or_formats_are_404() {
    let app = spawn_app().await;
    link(&app, json!({"slug": "emma"})).await;
    let svg = visit(&app, "/emma/qr.svg", &[]).await;
    assert_eq!(svg.status(), 200);
    assert_eq!(svg.headers()[header::CONTENT_TYPE], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));
    assert_eq!(visit(&app, "/nobody/qr.svg", &[]).await.status(), 404);
    assert_eq!(visit(&app, "/emma/qr.gif", &[]).await.status(), 404);
    assert!(
        recorded_clicks(&app).await.is_empty(),
        "rendering a QR code is not a click"
    );
}
