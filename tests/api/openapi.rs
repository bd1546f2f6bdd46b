//! The API description against the server: the same routes, each served, each guarded by
//! the scopes it names, and `attrib openapi` printing what `/openapi.json` serves.

use std::collections::BTreeSet;

use attrib::{auth::Scope, http};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{create_key, spawn_app, TestApp};

const METHODS: [&str; 5] = ["get", "head", "post", "patch", "delete"];

fn document() -> Value {
    serde_json::from_str(http::openapi::json()).expect("the description is JSON")
}

/// Every (method, path) the description documents.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// A concrete path for a template: ids that exist nowhere, a slug and a code no one made.
fn concrete(template: &str) -> String {
    template
        .replace("{slug}", "no-such-link")
        .replace("{format}", "svg")
        .replace("{code}", "NOSUCHCODE")
        .replace("{order_id}", "no-such-order")
        .replace("{influencer_id}", "987654321")
        .replace("{id}", "987654321")
}

/// The 404 of a path no route matches, as opposed to a route's own "no such resource".
fn is_unrouted(reply: &crate::helpers::Reply) -> bool {
    reply.status == 404 && reply.body["error"]["message"] == "route not found"
}

#[tokio::test]
async fn the_description_documents_exactly_the_routes_the_server_registers() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let registered: Vec<(String, String)> = http::routes::registered(&http::sections())
        .into_iter()
        .map(|(method, path)| (method.as_str().to_owned(), path))
        .collect();
    let unique: BTreeSet<(String, String)> = registered.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        registered.len(),
        "a route is registered twice"
    );
    let documented = documented(&doc);
    let undocumented: Vec<_> = unique.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&unique).collect();
    assert!(
        undocumented.is_empty(),
        "served, not documented: {undocumented:?}"
    );
    assert!(unserved.is_empty(), "documented, not served: {unserved:?}");
}

#[tokio::test]
async fn every_documented_operation_is_served_and_answers_a_documented_status() {
    let app = spawn_app().await;
    let doc = document();
    for (method, path) in documented(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let body = operation.get("requestBody").map(|_| json!({}));
        let reply = send(
            &app,
            method.clone(),
            &concrete(&path),
            Some(&app.admin_key),
            body,
        )
        .await;
        assert!(!is_unrouted(&reply), "{method} {path} is not served");
        assert_ne!(reply.status, 405, "{method} {path} refuses its own method");
        let status = reply.status.as_u16().to_string();
        assert!(
            operation["responses"].get(&status).is_some(),
            "{method} {path} answered {status}, which it does not document: {}",
            reply.body
        );
        assert!(
            operation["responses"][&status]["headers"]
                .get("X-Request-Id")
                .is_some(),
            "{method} {path} {status} does not document X-Request-Id"
        );
    }
}

#[tokio::test]
async fn every_secured_operation_refuses_no_key_and_a_key_of_a_scope_it_does_not_name() {
    let app = spawn_app().await;
    let keys = [
        (Scope::Admin, app.admin_key.clone()),
        (
            Scope::Checkout,
            create_key(&app.db, "checkout", Scope::Checkout).await,
        ),
        (
            Scope::Analyst,
            create_key(&app.db, "analyst", Scope::Analyst).await,
        ),
    ];
    let doc = document();
    let mut secured = 0;
    for (method, path) in documented(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        let Some(requirements) = operation["security"].as_array() else {
            assert!(
                !path.starts_with("/v1/"),
                "{method} {path} documents no key"
            );
            continue;
        };
        secured += 1;
        let scopes: Vec<&str> = requirements
            .iter()
            .flat_map(|r| r["bearer"].as_array().expect("bearer scopes").iter())
            .map(|s| s.as_str().expect("scope name"))
            .collect();
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let target = concrete(&path);
        let body = operation.get("requestBody").map(|_| json!({}));
        let reply = send(&app, method.clone(), &target, None, body.clone()).await;
        assert_eq!(reply.status, 401, "{method} {path} without a key");
        for (scope, key) in &keys {
            let reply = send(&app, method.clone(), &target, Some(key), body.clone()).await;
            if scopes.contains(&scope.as_str()) {
                assert!(
                    reply.status != 401 && reply.status != 403,
                    "{method} {path} refused a {} key it documents: {}",
                    scope.as_str(),
                    reply.body
                );
            } else {
                assert_eq!(
                    reply.status,
                    403,
                    "{method} {path} with a {} key, which it does not name",
                    scope.as_str()
                );
            }
        }
    }
    assert!(secured > 40, "only {secured} secured operations");
}

#[tokio::test]
async fn a_method_a_route_does_not_take_is_a_405_naming_those_it_does() {
    let app = spawn_app().await;
    for (path, allow) in [
        ("/v1/links/1", "GET, PATCH, DELETE"),
        ("/v1/campaigns", "POST, GET"),
        ("/healthz", "GET"),
        ("/some-link", "GET, HEAD"),
    ] {
        let response = app
            .client
            .request(Method::PUT, format!("{}{path}", app.address))
            .bearer_auth(&app.admin_key)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 405, "PUT {path}");
        assert_eq!(response.headers()["allow"], allow, "PUT {path}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
}

#[tokio::test]
async fn the_cli_prints_the_document_the_server_serves() {
    let app = spawn_app().await;
    let served = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .expect("request sent");
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "application/json");
    let served: Value = served.json().await.expect("JSON");
    // No settings at all: the description is the same for every deployment.
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_attrib"))
        .arg("openapi")
        .env_clear()
        .output()
        .expect("attrib openapi runs");
    assert!(printed.status.success());
    let printed: Value = serde_json::from_slice(&printed.stdout).expect("JSON on stdout");
    assert_eq!(printed, served);
    assert_eq!(
        served["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// Any answer, JSON or not (`/metrics`, a QR image, a `HEAD`).
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> crate::helpers::Reply {
    let mut request = app.client.request(method, format!("{}{path}", app.address));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    crate::helpers::Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}
