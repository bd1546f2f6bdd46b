//! Fixtures: the smallest valid objects a test needs (campaign, influencer, enrollment,
//! link), made through the API like a client would, each returning its id.

use serde_json::json;

use super::app::TestApp;

impl TestApp {
    pub async fn campaign(&self, slug: &str) -> String {
        self.post(
            "/v1/campaigns",
            json!({"name": format!("Campaign {slug}"), "slug": slug, "currency": "EUR",
                   "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}),
        )
        .await
        .id()
    }

    pub async fn influencer(&self, handle: &str) -> String {
        self.post("/v1/influencers", json!({"handle": handle}))
            .await
            .id()
    }

    pub async fn enroll(&self, campaign_id: &str, influencer_id: &str) {
        self.post(
            &format!("/v1/campaigns/{campaign_id}/enrollments"),
            json!({"influencer_id": influencer_id}),
        )
        .await
        .assert_status(201);
    }

    /// A campaign with one enrolled influencer: (campaign_id, influencer_id).
    pub async fn enrolled(&self, campaign_slug: &str, handle: &str) -> (String, String) {
        let campaign = self.campaign(campaign_slug).await;
        let influencer = self.influencer(handle).await;
        self.enroll(&campaign, &influencer).await;
        (campaign, influencer)
    }

    /// Campaign `summer`, influencer `emma` enrolled in it, and a link with `slug` to
    /// `https://shop.example.com/`; returns the link's id.
    pub async fn short_link(&self, slug: &str) -> String {
        let (campaign, influencer) = self.enrolled("summer", "emma").await;
        self.post(
            "/v1/links",
            json!({"campaign_id": campaign, "influencer_id": influencer, "slug": slug,
                   "destination": "https://shop.example.com/"}),
        )
        .await
        .id()
    }

    /// A visitor on a phone following the short link `slug` (redirects are not followed).
    pub async fn visit(&self, slug: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/{slug}", self.address))
            .header("user-agent", "Mozilla/5.0 (iPhone)")
            .send()
            .await
            .expect("a redirect answer")
    }
}
