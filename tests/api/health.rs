use crate::helpers::{spawn_app, spawn_app_with};
use reqwest::Method;

#[tokio::test]
async fn healthz_answers_without_a_key() {
    let app = spawn_app().await;
    let reply = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(reply.assert_status(200)["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_postgres_and_redis_reachable() {
    let app = spawn_app().await;
    let reply = app.send(Method::GET, "/readyz", None, None).await;
    let body = reply.assert_status(200);
    assert_eq!(body["postgres"], "ok");
    assert_eq!(body["redis"], "ok");
}

#[tokio::test]
async fn readyz_is_503_and_names_redis_when_redis_is_unreachable() {
    // Given a Redis URL where nothing listens (port 1 is never a Redis server)
    let app = spawn_app_with(&[("ATTRIB_REDIS_URL", "redis://127.0.0.1:1")]).await;
    // When the readiness probe runs
    let reply = app.send(Method::GET, "/readyz", None, None).await;
    // Then it is not ready, and says which dependency is missing
    let body = reply.assert_status(503);
    assert_eq!(body["postgres"], "ok");
    assert_eq!(body["redis"], "unreachable");
}
