//! CSV exports a spreadsheet opens as data: text that visitors control never runs as a
//! formula.

use serde_json::json;

use crate::reports::Desk;

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

#[tokio::test]
async fn a_referrer_host_that_looks_like_a_formula_is_exported_as_text() {
    // Given a campaign whose link was clicked from a referrer whose host is `=1+2`
    let desk = Desk::open().await;
    let campaign = desk
        .created(
            "/v1/campaigns",
            json!({"name": "Launch", "slug": "launch", "currency": "EUR",
                   "starts_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    let emma = desk.influencer(&campaign, "emma", json!({})).await;
    desk.link(&campaign, &emma, "emma-launch").await;
    let response = desk
        .app
        .client
        .get(format!("{}/emma-launch", desk.app.address))
        .header("referer", "https://=1+2/p/1")
        .header("user-agent", BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    desk.ingest().await;
    let path = format!("/v1/reports/breakdown?campaign_id={campaign}&by=referrer");
    let json = desk.report(&path).await;
    assert_eq!(
        json.assert_status(200)["data"][0]["value"],
        "=1+2",
        "{}",
        json.body
    );

    // When the breakdown by referrer is exported as CSV
    let (_, rows) = desk.csv(&format!("{path}&format=csv")).await;

    // Then the host is a text cell, and the click count still a number
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["value"], "'=1+2");
    assert_eq!(rows[0]["clicks"], "1");
}
