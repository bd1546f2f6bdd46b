use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp, PUBLIC_URL};

async fn link(
    app: &TestApp,
    campaign: &str,
    influencer: &str,
    extra: Value,
) -> crate::helpers::Reply {
    let mut body = json!({
        "campaign_id": campaign,
        "influencer_id": influencer,
        "destination": "https://shop.example.com/summer?ref=ig",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post("/v1/links", body).await
}

#[tokio::test]
async fn a_link_gets_a_generated_slug_short_url_and_utm_defaults() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer-26", "emma").await;
    let reply = link(&app, &campaign, &influencer, json!({})).await;
    let body = reply.assert_status(201).clone();
    let slug = body["slug"].as_str().unwrap();
    assert_eq!(slug.len(), 7);
    assert_eq!(body["short_url"], format!("{PUBLIC_URL}/{slug}"));
    assert_eq!(
        body["utm"],
        json!({"source": "emma", "medium": "influencer", "campaign": "summer-26"})
    );
    assert_eq!(
        body["destination"],
        "https://shop.example.com/summer?ref=ig"
    );
    assert_eq!(body["enabled"], true);
    assert_eq!(body["forward_query"], false);
    assert_eq!(body["rules"], json!([]));
    assert_eq!(
        app.get(&format!("/v1/links/{}", reply.id())).await.body,
        body
    );
}

#[tokio::test]
async fn a_custom_slug_is_kept_lower_case_and_must_be_free() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let reply = link(&app, &campaign, &influencer, json!({"slug": "Emma"})).await;
    assert_eq!(reply.assert_status(201)["slug"], "emma");
    assert_eq!(reply.body["short_url"], format!("{PUBLIC_URL}/emma"));
    link(&app, &campaign, &influencer, json!({"slug": "EMMA"}))
        .await
        .assert_error(409, "slug_taken");
}

#[tokio::test]
async fn slugs_outside_the_rules_are_refused() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    for reserved in ["v1", "healthz", "readyz", "metrics", "API"] {
        link(&app, &campaign, &influencer, json!({"slug": reserved}))
            .await
            .assert_error(422, "slug_reserved");
    }
    for bad in ["", "em ma", "emma/x", "-emma", "x".repeat(65).as_str()] {
        link(&app, &campaign, &influencer, json!({"slug": bad}))
            .await
            .assert_error(400, "invalid_slug");
    }
}

#[tokio::test]
async fn unsafe_destinations_are_refused() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let cases = [
        (
            "javascript:alert(document.cookie)",
            400,
            "invalid_url_scheme",
        ),
        (
            "data:text/html;base64,PHNjcmlwdD4=",
            400,
            "invalid_url_scheme",
        ),
        ("ftp://files.example.com/x", 400, "invalid_url_scheme"),
        (
            "https://user:secret@shop.example.com/",
            400,
            "url_has_credentials",
        ),
        ("/relative/path", 400, "invalid_url"),
        ("shop.example.com", 400, "invalid_url"),
        ("https://go.test/emma", 422, "redirect_loop"),
        ("https://GO.TEST./x", 422, "redirect_loop"),
        ("https://go.test:8443/x", 422, "redirect_loop"),
    ];
    for (destination, status, code) in cases {
        link(
            &app,
            &campaign,
            &influencer,
            json!({"destination": destination}),
        )
        .await
        .assert_error(status, code);
    }
    let too_long = format!("https://shop.example.com/{}", "a".repeat(2048));
    link(
        &app,
        &campaign,
        &influencer,
        json!({"destination": too_long}),
    )
    .await
    .assert_error(400, "invalid_url");
    link(
        &app,
        &campaign,
        &influencer,
        json!({"fallback_url": "javascript:x"}),
    )
    .await
    .assert_error(400, "invalid_url_scheme");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM links")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn a_link_needs_an_enrolled_influencer() {
    let app = spawn_app().await;
    let campaign = app.campaign("summer").await;
    let outsider = app.influencer("outsider").await;
    link(&app, &campaign, &outsider, json!({}))
        .await
        .assert_error(422, "not_enrolled");
    link(&app, "999999", &outsider, json!({}))
        .await
        .assert_error(422, "campaign_not_found");
    link(&app, &campaign, "999999", json!({}))
        .await
        .assert_error(422, "influencer_not_found");
}

#[tokio::test]
async fn options_and_rules_are_stored_and_validated() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let reply = link(
        &app,
        &campaign,
        &influencer,
        json!({
            "utm": {"medium": "story", "content": "reel-1"},
            "expires_at": "2026-12-31T23:00:00-01:00",
            "max_clicks": 1000,
            "fallback_url": "https://shop.example.com/",
            "forward_query": true,
            "rules": [
                {"device": "ios", "destination": "https://apps.apple.com/app/id1"},
                {"country": "se", "destination": "https://shop.example.se/"}
            ]
        }),
    )
    .await;
    let body = reply.assert_status(201);
    assert_eq!(body["utm"]["medium"], "story");
    assert_eq!(body["utm"]["source"], "emma");
    assert_eq!(body["utm"]["content"], "reel-1");
    assert_eq!(body["expires_at"], "2027-01-01T00:00:00Z");
    assert_eq!(body["max_clicks"], 1000);
    assert_eq!(body["forward_query"], true);
    assert_eq!(body["rules"][0]["device"], "ios");
    assert_eq!(body["rules"][1]["country"], "SE");

    let bad = [
        (json!({"max_clicks": 0}), 400, "invalid_number"),
        (json!({"expires_at": "tomorrow"}), 400, "invalid_datetime"),
        (
            json!({"rules": [{"destination": "https://a.example.com"}]}),
            400,
            "invalid_rule",
        ),
        (
            json!({"rules": [{"country": "XX", "destination": "https://a.example.com"}]}),
            400,
            "invalid_country",
        ),
        (
            json!({"rules": [{"device": "fridge", "destination": "https://a.example.com"}]}),
            400,
            "invalid_body",
        ),
        (
            json!({"rules": [{"device": "ios", "destination": "javascript:x"}]}),
            400,
            "invalid_url_scheme",
        ),
        (json!({"utm": {"source": ""}}), 400, "invalid_text"),
        (json!({"utm": {"channel": "x"}}), 400, "invalid_body"),
        (json!({"clicks": 5}), 400, "invalid_body"),
    ];
    for (extra, status, code) in bad {
        link(&app, &campaign, &influencer, extra)
            .await
            .assert_error(status, code);
    }
}

#[tokio::test]
async fn patch_edits_a_link_and_null_clears_options() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let id = link(
        &app,
        &campaign,
        &influencer,
        json!({"fallback_url": "https://shop.example.com/", "max_clicks": 5}),
    )
    .await
    .id();
    let path = format!("/v1/links/{id}");
    let reply = app
        .patch(
            &path,
            json!({"destination": "https://shop.example.com/autumn", "fallback_url": null,
                   "max_clicks": null, "slug": "emma-autumn", "utm": {"term": "boots"},
                   "rules": [{"device": "android", "destination": "https://play.example.com/"}]}),
        )
        .await;
    let body = reply.assert_status(200);
    assert_eq!(body["destination"], "https://shop.example.com/autumn");
    assert!(body["fallback_url"].is_null());
    assert!(body["max_clicks"].is_null());
    assert_eq!(body["slug"], "emma-autumn");
    assert_eq!(body["short_url"], format!("{PUBLIC_URL}/emma-autumn"));
    assert_eq!(body["utm"]["term"], "boots");
    assert_eq!(body["utm"]["source"], "emma");
    assert_eq!(body["rules"][0]["device"], "android");

    app.patch(&path, json!({"destination": "javascript:x"}))
        .await
        .assert_error(400, "invalid_url_scheme");
    app.patch(&path, json!({"campaign_id": "1"}))
        .await
        .assert_error(400, "invalid_body");
    let other = link(&app, &campaign, &influencer, json!({"slug": "taken"}))
        .await
        .id();
    app.patch(
        &format!("/v1/links/{other}"),
        json!({"slug": "emma-autumn"}),
    )
    .await
    .assert_error(409, "slug_taken");
    app.patch("/v1/links/999999", json!({"enabled": false}))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn delete_disables_the_link_and_keeps_it() {
    let app = spawn_app().await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;
    let id = link(&app, &campaign, &influencer, json!({})).await.id();
    let deleted = app.delete(&format!("/v1/links/{id}")).await;
    assert_eq!(deleted.assert_status(200)["enabled"], false);
    let fetched = app.get(&format!("/v1/links/{id}")).await;
    assert_eq!(fetched.assert_status(200)["enabled"], false);
    app.delete("/v1/links/999999")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn links_are_listed_by_campaign_and_influencer() {
    let app = spawn_app().await;
    let (summer, emma) = app.enrolled("summer", "emma").await;
    let noah = app.influencer("noah").await;
    app.enroll(&summer, &noah).await;
    let winter = app.campaign("winter").await;
    app.enroll(&winter, &emma).await;
    for (campaign, influencer) in [
        (&summer, &emma),
        (&summer, &emma),
        (&summer, &noah),
        (&winter, &emma),
    ] {
        link(&app, campaign, influencer, json!({}))
            .await
            .assert_status(201);
    }
    assert_eq!(app.collect_pages("/v1/links", 2).await.len(), 4);
    assert_eq!(
        app.collect_pages(&format!("/v1/links?campaign_id={summer}"), 2)
            .await
            .len(),
        3
    );
    assert_eq!(
        app.collect_pages(
            &format!("/v1/links?campaign_id={summer}&influencer_id={emma}"),
            1
        )
        .await
        .len(),
        2
    );
    assert_eq!(
        app.collect_pages("/v1/links?campaign_id=nonsense", 2)
            .await
            .len(),
        0
    );
}

#[tokio::test]
async fn bulk_generation_makes_one_link_per_enrolled_influencer() {
    let app = spawn_app().await;
    let (campaign, _) = app.enrolled("summer", "emma").await;
    for handle in ["noah", "mia"] {
        let id = app.influencer(handle).await;
        app.enroll(&campaign, &id).await;
    }
    app.influencer("not-enrolled").await;
    let reply = app
        .post(
            &format!("/v1/campaigns/{campaign}/links/generate"),
            json!({"destination": "https://shop.example.com/", "utm": {"medium": "video"}}),
        )
        .await;
    let body = reply.assert_status(201);
    assert_eq!(body["count"], 3);
    let links = body["data"].as_array().unwrap();
    let mut sources: Vec<&str> = links
        .iter()
        .map(|l| l["utm"]["source"].as_str().unwrap())
        .collect();
    sources.sort();
    assert_eq!(sources, ["emma", "mia", "noah"]);
    assert!(links.iter().all(|l| l["utm"]["medium"] == "video"));
    let mut slugs: Vec<&str> = links.iter().map(|l| l["slug"].as_str().unwrap()).collect();
    slugs.dedup();
    assert_eq!(slugs.len(), 3);
}

#[tokio::test]
async fn bulk_generation_with_a_bad_option_creates_nothing() {
    let app = spawn_app().await;
    let (campaign, _) = app.enrolled("summer", "emma").await;
    let path = format!("/v1/campaigns/{campaign}/links/generate");
    app.post(&path, json!({"destination": "javascript:x"}))
        .await
        .assert_error(400, "invalid_url_scheme");
    app.post(
        &path,
        json!({"destination": "https://a.example.com", "slug": "x"}),
    )
    .await
    .assert_error(400, "invalid_body");
    app.post(
        "/v1/campaigns/999999/links/generate",
        json!({"destination": "https://a.example.com"}),
    )
    .await
    .assert_error(404, "not_found");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM links")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn with_a_loopback_public_url_every_loopback_destination_is_a_loop() {
    // Given a service whose short links live on 127.0.0.1
    let app = spawn_app_with(&[("ATTRIB_PUBLIC_URL", "http://127.0.0.1:8080")]).await;
    let (campaign, influencer) = app.enrolled("summer", "emma").await;

    // Then any other name or address of this machine is refused as a loop, in every field
    for destination in [
        "http://localhost:8080/x",
        "http://127.0.0.2/x",
        "http://[::1]:8080/x",
        "http://0.0.0.0:8080/x",
    ] {
        link(
            &app,
            &campaign,
            &influencer,
            json!({"destination": destination}),
        )
        .await
        .assert_error(422, "redirect_loop");
    }
    link(
        &app,
        &campaign,
        &influencer,
        json!({"fallback_url": "http://LOCALHOST./gone"}),
    )
    .await
    .assert_error(422, "redirect_loop");
    // And a destination elsewhere is still fine
    link(&app, &campaign, &influencer, json!({}))
        .await
        .assert_status(201);
}
