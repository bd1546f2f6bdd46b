use attrib::auth::Scope;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{create_key, fresh_database, spawn_app, spawn_app_on, spawn_app_with};

#[tokio::test]
async fn a_request_without_a_key_is_401() {
    let app = spawn_app().await;
    app.send(Method::GET, "/v1/campaigns", None, None)
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn an_unknown_or_malformed_key_is_401() {
    let app = spawn_app().await;
    for key in ["atk_doesnotexist0000000000000000000000000000", "x", "atk_"] {
        app.send(Method::GET, "/v1/campaigns", Some(key), None)
            .await
            .assert_error(401, "unauthorized");
    }
    let response = app
        .client
        .get(format!("{}/v1/campaigns", app.address))
        .header("authorization", format!("Basic {}", app.admin_key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_key_differing_only_after_its_prefix_is_401() {
    let app = spawn_app().await;
    let mut forged = app.admin_key.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'a' { 'b' } else { 'a' });
    app.send(Method::GET, "/v1/campaigns", Some(&forged), None)
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn a_key_of_another_scope_is_403_on_admin_routes() {
    let app = spawn_app().await;
    for scope in [Scope::Checkout, Scope::Analyst] {
        let key = create_key(&app.db, "other", scope).await;
        app.send(Method::GET, "/v1/campaigns", Some(&key), None)
            .await
            .assert_error(403, "forbidden");
        app.send(
            Method::POST,
            "/v1/influencers",
            Some(&key),
            Some(&json!({"handle": "emma"})),
        )
        .await
        .assert_error(403, "forbidden");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM influencers")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0, "a refused request changes nothing");
}

#[tokio::test]
async fn a_revoked_key_is_401_from_the_next_request_on() {
    let app = spawn_app().await;
    let created = app
        .post("/v1/api-keys", json!({"name": "ops", "scope": "admin"}))
        .await;
    let key = created.assert_status(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.send(Method::GET, "/v1/campaigns", Some(&key), None)
        .await
        .assert_status(200);

    app.delete(&format!("/v1/api-keys/{}", created.id()))
        .await
        .assert_status(200);

    app.send(Method::GET, "/v1/campaigns", Some(&key), None)
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn a_key_revoked_in_one_process_is_refused_by_another_that_had_it_cached() {
    // Given two processes on one database and one Redis prefix
    let first = spawn_app().await;
    let prefix = first.settings.redis_prefix.clone();
    let second = spawn_app_on(
        &first.settings.database_url,
        &[("ATTRIB_REDIS_PREFIX", prefix.as_str())],
    )
    .await;
    let created = first
        .post("/v1/api-keys", json!({"name": "ops", "scope": "admin"}))
        .await;
    let key = created.assert_status(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    // and the second has used (and cached) the key
    second
        .send(Method::GET, "/v1/campaigns", Some(&key), None)
        .await
        .assert_status(200);

    // When the first revokes it
    first
        .delete(&format!("/v1/api-keys/{}", created.id()))
        .await
        .assert_status(200);

    // Then the second refuses it too, well before its cache entry would expire
    let mut status = 200;
    for _ in 0..50 {
        status = second
            .send(Method::GET, "/v1/campaigns", Some(&key), None)
            .await
            .status
            .as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 401);
}

#[tokio::test]
async fn authentication_comes_before_body_parsing() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/v1/campaigns", app.address))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_bootstrap_admin_key_works_and_survives_a_restart() {
    let secret = "bootstrap-secret-for-tests-0123456789abcdef";
    let database_url = fresh_database().await;
    let app = spawn_app_on(&database_url, &[("ATTRIB_BOOTSTRAP_ADMIN_KEY", secret)]).await;
    app.send(Method::GET, "/v1/campaigns", Some(secret), None)
        .await
        .assert_status(200);

    // A second start with the same variable (a restart, a second replica) is fine.
    let again = spawn_app_on(&database_url, &[("ATTRIB_BOOTSTRAP_ADMIN_KEY", secret)]).await;
    again
        .send(Method::GET, "/v1/campaigns", Some(secret), None)
        .await
        .assert_status(200);
    let bootstrap_keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE name = 'bootstrap'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(bootstrap_keys, 1);
}

#[tokio::test]
async fn secrets_are_stored_only_as_hashes() {
    let app = spawn_app_with(&[]).await;
    let created = app
        .post("/v1/api-keys", json!({"name": "shop", "scope": "checkout"}))
        .await;
    let key = created.assert_status(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT prefix, secret_hash FROM api_keys")
        .fetch_all(&app.db)
        .await
        .unwrap();
    for (prefix, hash) in stored {
        assert!(!hash.windows(key.len()).any(|w| w == key.as_bytes()));
        assert_ne!(prefix, key);
    }
}
