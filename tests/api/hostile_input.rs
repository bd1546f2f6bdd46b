//! Whatever a client sends, the answer is never a 5xx.
//!
//! Property tests over every route's body, query and path: each field is either a value
//! the route accepts or a hostile one (NUL and other control characters, very long or
//! non-ASCII strings, whitespace, i64 extremes, negatives, years Postgres cannot store,
//! values of the wrong type). Mostly valid bodies with one or two hostile fields get past
//! the first checks, so the hostile value reaches the deepest parser that would let it
//! through to Postgres. Postgres refusing a value shows up as a 500, so `status < 500`
//! is the property.
//!
//! The cases run through proptest's runner (with shrinking) against one real app per test;
//! each request is sent from the runner's thread on the app's runtime.

use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use reqwest::Method;
use serde_json::{json, Map, Value};
use tokio::runtime::Runtime;

use crate::helpers::{create_key, spawn_app, TestApp};
use attrib::auth::Scope;

/// Cases per route; `PROPTEST_CASES` asks for more (a longer hunt).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

#[derive(Debug, Clone, Copy)]
enum Key {
    Admin,
    Checkout,
}

#[derive(Debug)]
struct Probe {
    key: Key,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
}

/// A running app with one of everything, so a mostly valid request gets far.
struct World {
    runtime: Runtime,
    app: TestApp,
    checkout_key: String,
    campaign: String,
    influencer: String,
    link: String,
    post: String,
    redemption: String,
}

const CODE: &str = "EMMA20";
const ORDER: &str = "order-1";

impl World {
    fn open() -> World {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (app, checkout_key, campaign, influencer, link, post, redemption) =
            runtime.block_on(async {
                let app = spawn_app().await;
                let checkout_key = create_key(&app.db, "shop", Scope::Checkout).await;
                let (campaign, influencer) = app.enrolled("summer", "emma").await;
                let link = app
                    .post(
                        "/v1/links",
                        json!({"campaign_id": campaign, "influencer_id": influencer,
                               "slug": "emma", "destination": "https://shop.example.com/"}),
                    )
                    .await
                    .id();
                app.post(
                    "/v1/codes",
                    json!({"code": CODE, "campaign_id": campaign, "influencer_id": influencer,
                           "discount_kind": "percent", "discount_value": 20}),
                )
                .await
                .assert_status(201);
                let post = app
                    .post(
                        "/v1/posts",
                        json!({"campaign_id": campaign, "influencer_id": influencer}),
                    )
                    .await
                    .id();
                let redemption = app
                    .send(
                        Method::POST,
                        "/v1/redemptions",
                        Some(&checkout_key),
                        Some(&json!({"code": CODE, "order_id": "order-0",
                                     "subtotal_minor": 5000, "currency": "EUR"})),
                    )
                    .await
                    .id();
                app.send(
                    Method::POST,
                    "/v1/conversions",
                    Some(&checkout_key),
                    Some(
                        &json!({"order_id": ORDER, "amount_minor": 5000, "currency": "EUR",
                                 "code": CODE}),
                    ),
                )
                .await
                .assert_status(202);
                (
                    app,
                    checkout_key,
                    campaign,
                    influencer,
                    link,
                    post,
                    redemption,
                )
            });
        World {
            runtime,
            app,
            checkout_key,
            campaign,
            influencer,
            link,
            post,
            redemption,
        }
    }

    /// The status and body of `probe`'s answer.
    fn send(&self, probe: &Probe) -> (u16, String) {
        let key = match probe.key {
            Key::Admin => &self.app.admin_key,
            Key::Checkout => &self.checkout_key,
        };
        self.runtime.block_on(async {
            let mut request = self
                .app
                .client
                .request(
                    probe.method.clone(),
                    format!("{}{}", self.app.address, probe.path),
                )
                .bearer_auth(key)
                .query(&probe.query);
            if let Some(body) = &probe.body {
                request = request.json(body);
            }
            let response = request.send().await.expect("request sent");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        })
    }

    /// Runs [`cases`] probes from `strategy`; any 5xx fails the test with the (shrunk) probe.
    fn never_5xx(&self, route: &str, strategy: impl Strategy<Value = Probe>) {
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        let outcome = runner.run(&strategy, |probe| {
            let (status, body) = self.send(&probe);
            if status >= 500 {
                return Err(TestCaseError::fail(format!("{status}: {body}")));
            }
            Ok(())
        });
        if let Err(e) = outcome {
            panic!("{route}: {e}");
        }
    }
}

// Hostile values.

/// Strings no column should take as they are.
fn hostile() -> BoxedStrategy<String> {
    prop_oneof![
        Just("\u{0}".to_owned()),
        "[a-z0-9]{0,8}\\x00[a-z0-9]{0,8}",
        "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}]{1,4}",
        any::<String>(),
        "\\PC{1,40}",
        "[a-z0-9_-]{190,260}",
        "[A-Z0-9]{2000,4000}",
        "é{100,300}",
        Just("   ".to_owned()),
        Just(String::new()),
    ]
    .boxed()
}

/// A field of a body or query: the value the route accepts, and hostile ones.
#[derive(Clone)]
struct Field {
    valid: Value,
    hostile: BoxedStrategy<Value>,
    /// Always sent (unless hostile): without it the body is refused before it is read.
    required: bool,
}

impl Field {
    fn required(self) -> Field {
        Field {
            required: true,
            ..self
        }
    }
}

/// Text: hostile values are `valid` spoiled by a hostile suffix, or hostile strings.
fn text(valid: &str) -> Field {
    let spoiled = valid.to_owned();
    Field {
        valid: Value::String(valid.to_owned()),
        hostile: prop_oneof![
            1 => hostile().prop_map(move |h| format!("{spoiled}{h}")),
            2 => hostile(),
        ]
        .prop_map(Value::String)
        .boxed(),
        required: false,
    }
}

/// Values of the wrong type or beyond what JSON numbers map to.
fn odd() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!(null)),
        Just(json!(1.5)),
        Just(json!(1e300)),
        Just(json!(u64::MAX)),
        Just(json!("12")),
        Just(json!([])),
        Just(json!({})),
    ]
    .boxed()
}

fn int(valid: i64) -> Field {
    Field {
        valid: json!(valid),
        hostile: prop_oneof![
            2 => any::<i64>().prop_map(|n| json!(n)),
            1 => (-1_000i64..1_000).prop_map(|n| json!(n)),
            3 => prop_oneof![
                Just(i64::MIN),
                Just(i64::MAX),
                Just(-1),
                Just(0),
                Just(i64::from(i32::MAX) + 1),
                Just(i64::from(i32::MIN) - 1),
                Just(1_000_000_000_000_000),
                Just(1_000_000_000_000_001),
            ]
            .prop_map(|n| json!(n)),
            1 => odd(),
        ]
        .boxed(),
        required: false,
    }
}

/// Dates and timestamps in years Postgres takes, does not take, or chrono cannot read.
fn year_like() -> BoxedStrategy<String> {
    let year = || prop_oneof![-300_000i32..300_000, -10i32..10, 9_990i32..10_010];
    prop_oneof![
        year().prop_map(|y| format!("{y:04}-05-01T00:00:00Z")),
        year().prop_map(|y| format!("{y:04}-05-01")),
        year().prop_map(|y| format!("{y:+}-12-31")),
        Just("-5000-01-01".to_owned()),
        Just("0000-01-01T00:00:00Z".to_owned()),
        Just("0001-01-01T00:00:00+14:00".to_owned()),
        Just("9999-12-31T23:59:59-14:00".to_owned()),
        Just("9999-12-31".to_owned()),
        Just("+262143-12-31".to_owned()),
    ]
    .boxed()
}

fn when(valid: &str) -> Field {
    Field {
        valid: Value::String(valid.to_owned()),
        hostile: prop_oneof![
            1 => hostile().prop_map(Value::String),
            3 => year_like().prop_map(Value::String),
        ]
        .boxed(),
        required: false,
    }
}

/// An object field: valid when all its fields are, else a body of its own.
fn nested(fields: Vec<(&'static str, Field)>) -> Field {
    let valid = fields
        .iter()
        .map(|(name, f)| ((*name).to_owned(), f.valid.clone()))
        .collect::<Map<_, _>>();
    Field {
        valid: Value::Object(valid),
        hostile: body(fields),
        required: false,
    }
}

/// A list of one `item`.
fn one_of_list(item: Field) -> Field {
    Field {
        valid: json!([item.valid]),
        hostile: item.hostile.prop_map(|v| json!([v])).boxed(),
        required: item.required,
    }
}

/// A body: one field (sometimes a few) hostile, the others valid or absent, so the
/// hostile value gets past the checks of the others.
fn body(fields: Vec<(&'static str, Field)>) -> BoxedStrategy<Value> {
    let n = fields.len();
    let picks: Vec<_> = fields
        .into_iter()
        .map(|(name, f)| {
            (
                Just((name, f.valid)),
                prop::bool::weighted(if f.required { 1.0 } else { 0.85 }),
                prop::bool::weighted(0.1),
                f.hostile,
            )
        })
        .collect();
    (0..n, picks)
        .prop_map(|(target, picks)| {
            let mut out = Map::new();
            for (i, ((name, valid), present, also_hostile, hostile)) in
                picks.into_iter().enumerate()
            {
                if i == target || also_hostile {
                    out.insert(name.to_owned(), hostile);
                } else if present {
                    out.insert(name.to_owned(), valid);
                }
            }
            Value::Object(out)
        })
        .boxed()
}

/// A query string shaped like [`body`], every value as text.
fn query(params: Vec<(&'static str, Field)>) -> BoxedStrategy<Vec<(String, String)>> {
    body(params)
        .prop_map(|v| match v {
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect(),
            _ => Vec::new(),
        })
        .boxed()
}

/// A path segment: `valid`, hostile text, or any number; percent-encoded.
fn segment(valid: &str) -> BoxedStrategy<String> {
    prop_oneof![
        1 => Just(valid.to_owned()),
        3 => hostile(),
        1 => any::<i64>().prop_map(|n| n.to_string()),
    ]
    .prop_map(|s| url::form_urlencoded::byte_serialize(s.as_bytes()).collect())
    .boxed()
}

fn probe(
    key: Key,
    method: Method,
    path: impl Strategy<Value = String> + 'static,
    query: impl Strategy<Value = Vec<(String, String)>> + 'static,
    body: impl Strategy<Value = Option<Value>> + 'static,
) -> BoxedStrategy<Probe> {
    (path, query, body)
        .prop_map(move |(path, query, body)| Probe {
            key,
            method: method.clone(),
            path,
            query,
            body,
        })
        .boxed()
}

fn fixed(path: &str) -> BoxedStrategy<String> {
    Just(path.to_owned()).boxed()
}

fn no_query() -> BoxedStrategy<Vec<(String, String)>> {
    Just(Vec::new()).boxed()
}

fn page_query() -> BoxedStrategy<Vec<(String, String)>> {
    query(vec![
        ("limit", int(10)),
        ("cursor", text("aWQ6MQ")),
        ("campaign_id", text("1")),
        ("influencer_id", text("1")),
    ])
}

// The routes.

fn campaign_fields() -> Vec<(&'static str, Field)> {
    vec![
        ("name", text("Summer").required()),
        ("slug", text("summer-2").required()),
        ("currency", text("EUR").required()),
        ("starts_at", when("2026-01-01T00:00:00Z")),
        ("ends_at", when("2027-01-01T00:00:00Z")),
        ("budget_minor", int(100_000)),
        ("attribution_window_days", int(30)),
        ("margin_bps", int(2_000)),
    ]
}

fn link_fields(w: &World, with_owner: bool) -> Vec<(&'static str, Field)> {
    let mut fields = vec![
        ("slug", text("emma-2")),
        ("destination", text("https://shop.example.com/x").required()),
        (
            "utm",
            nested(vec![
                ("source", text("emma")),
                ("medium", text("influencer")),
                ("campaign", text("summer")),
                ("content", text("story")),
                ("term", text("shoes")),
            ]),
        ),
        ("expires_at", when("2030-01-01T00:00:00Z")),
        ("max_clicks", int(100)),
        ("fallback_url", text("https://shop.example.com/")),
        (
            "rules",
            one_of_list(nested(vec![
                ("country", text("SE")),
                ("destination", text("https://shop.example.com/se")),
            ])),
        ),
    ];
    if with_owner {
        fields.push(("campaign_id", text(&w.campaign).required()));
        fields.push(("influencer_id", text(&w.influencer).required()));
    }
    fields
}

fn code_fields(w: &World) -> Vec<(&'static str, Field)> {
    vec![
        ("campaign_id", text(&w.campaign).required()),
        ("influencer_id", text(&w.influencer).required()),
        ("discount_kind", text("percent").required()),
        ("discount_value", int(10)),
        ("max_redemptions", int(100)),
        ("max_per_customer", int(1)),
        ("min_subtotal_minor", int(1_000)),
        ("starts_at", when("2026-01-01T00:00:00Z")),
        ("ends_at", when("2027-01-01T00:00:00Z")),
    ]
}

fn report_query(w: &World) -> BoxedStrategy<Vec<(String, String)>> {
    query(vec![
        ("from", when("2026-01-01")),
        ("to", when("2026-01-03T00:00:00Z")),
        ("tz", text("Europe/Stockholm")),
        ("format", text("json")),
        ("campaign_id", text(&w.campaign)),
        ("influencer_id", text(&w.influencer)),
        ("link_id", text(&w.link)),
        ("interval", text("day")),
        ("by", text("country")),
        ("underperforming_percent", text("50")),
    ])
}

#[test]
fn no_management_body_gives_a_server_error() {
    let w = World::open();
    let admin = Key::Admin;
    let c = w.campaign.clone();
    let some = |s: BoxedStrategy<Value>| s.prop_map(Some).boxed();

    w.never_5xx(
        "POST /v1/campaigns",
        probe(
            admin,
            Method::POST,
            fixed("/v1/campaigns"),
            no_query(),
            some(body(campaign_fields())),
        ),
    );
    w.never_5xx(
        "PATCH /v1/campaigns/{id}",
        probe(
            admin,
            Method::PATCH,
            fixed(&format!("/v1/campaigns/{c}")),
            no_query(),
            some(body(
                campaign_fields()
                    .into_iter()
                    .filter(|(f, _)| *f != "currency")
                    .collect(),
            )),
        ),
    );
    let influencer_fields = || {
        body(vec![
            ("handle", text("emma-2").required()),
            ("display_name", text("Emma")),
            ("platform", text("instagram")),
            ("followers", int(1_000)),
            ("contact_email", text("emma@example.com")),
        ])
    };
    w.never_5xx(
        "POST /v1/influencers",
        probe(
            admin,
            Method::POST,
            fixed("/v1/influencers"),
            no_query(),
            some(influencer_fields()),
        ),
    );
    w.never_5xx(
        "PATCH /v1/influencers/{id}",
        probe(
            admin,
            Method::PATCH,
            fixed(&format!("/v1/influencers/{}", w.influencer)),
            no_query(),
            some(influencer_fields()),
        ),
    );
    let enrollment_fields = |with_influencer: bool| {
        let mut fields = vec![
            ("flat_fee_minor", int(1_000)),
            ("flat_fee_basis", text("post")),
            ("cpc_minor", int(10)),
            ("cpa_minor", int(100)),
            ("revenue_share_bps", int(500)),
            ("target_metric", text("cvr")),
            ("target_value", int(2)),
        ];
        if with_influencer {
            fields.push(("influencer_id", text(&w.influencer).required()));
        }
        body(fields)
    };
    w.never_5xx(
        "POST /v1/campaigns/{id}/enrollments",
        probe(
            admin,
            Method::POST,
            fixed(&format!("/v1/campaigns/{c}/enrollments")),
            no_query(),
            some(enrollment_fields(true)),
        ),
    );
    w.never_5xx(
        "PATCH /v1/campaigns/{id}/enrollments/{influencer_id}",
        probe(
            admin,
            Method::PATCH,
            fixed(&format!("/v1/campaigns/{c}/enrollments/{}", w.influencer)),
            no_query(),
            some(enrollment_fields(false)),
        ),
    );
    w.never_5xx(
        "POST /v1/links",
        probe(
            admin,
            Method::POST,
            fixed("/v1/links"),
            no_query(),
            some(body(link_fields(&w, true))),
        ),
    );
    w.never_5xx(
        "PATCH /v1/links/{id}",
        probe(
            admin,
            Method::PATCH,
            fixed(&format!("/v1/links/{}", w.link)),
            no_query(),
            some(body(link_fields(&w, false))),
        ),
    );
    w.never_5xx(
        "POST /v1/campaigns/{id}/links/generate",
        probe(
            admin,
            Method::POST,
            fixed(&format!("/v1/campaigns/{c}/links/generate")),
            no_query(),
            some(body(
                link_fields(&w, false)
                    .into_iter()
                    .filter(|(f, _)| *f != "slug")
                    .collect(),
            )),
        ),
    );
    let mut create_code = code_fields(&w);
    create_code.push(("code", text("SUMMER10").required()));
    w.never_5xx(
        "POST /v1/codes",
        probe(
            admin,
            Method::POST,
            fixed("/v1/codes"),
            no_query(),
            some(body(create_code)),
        ),
    );
    let mut generate = code_fields(&w);
    generate.push(("count", int(2)));
    generate.push(("prefix", text("SUMMER-")));
    generate.push(("length", int(8)));
    w.never_5xx(
        "POST /v1/codes/generate",
        probe(
            admin,
            Method::POST,
            fixed("/v1/codes/generate"),
            no_query(),
            some(body(generate)),
        ),
    );
    w.never_5xx(
        "PATCH /v1/codes/{code}",
        probe(
            admin,
            Method::PATCH,
            fixed(&format!("/v1/codes/{CODE}")),
            no_query(),
            some(body(code_fields(&w).into_iter().skip(2).collect())),
        ),
    );
    w.never_5xx(
        "POST /v1/posts",
        probe(
            admin,
            Method::POST,
            fixed("/v1/posts"),
            no_query(),
            some(body(vec![
                ("campaign_id", text(&c).required()),
                ("influencer_id", text(&w.influencer).required()),
                ("platform", text("tiktok")),
                ("url", text("https://tiktok.example/v/1")),
                ("published_at", when("2026-02-01T00:00:00Z")),
            ])),
        ),
    );
    w.never_5xx(
        "POST /v1/posts/{id}/metrics",
        probe(
            admin,
            Method::POST,
            fixed(&format!("/v1/posts/{}/metrics", w.post)),
            no_query(),
            some(body(vec![
                ("impressions", int(1_000)),
                ("reach", int(900)),
                ("likes", int(100)),
                ("comments", int(10)),
                ("shares", int(5)),
                ("saves", int(3)),
                ("views", int(2_000)),
                ("source", text("self_reported").required()),
                ("captured_at", when("2026-02-02T00:00:00Z")),
            ])),
        ),
    );
    w.never_5xx(
        "POST /v1/costs",
        probe(
            admin,
            Method::POST,
            fixed("/v1/costs"),
            no_query(),
            some(body(vec![
                ("campaign_id", text(&c).required()),
                ("influencer_id", text(&w.influencer)),
                ("kind", text("gifting").required()),
                ("amount_minor", int(5_000).required()),
                ("description", text("A box of shoes")),
                ("incurred_at", when("2026-02-01T00:00:00Z")),
            ])),
        ),
    );
    w.never_5xx(
        "POST /v1/api-keys",
        probe(
            admin,
            Method::POST,
            fixed("/v1/api-keys"),
            no_query(),
            some(body(vec![
                ("name", text("ci").required()),
                ("scope", text("analyst").required()),
            ])),
        ),
    );
}

#[test]
fn no_management_path_or_list_query_gives_a_server_error() {
    let w = World::open();
    let admin = Key::Admin;
    for (route, template, valid) in [
        (
            "GET /v1/campaigns/{id}",
            "/v1/campaigns/{}",
            w.campaign.as_str(),
        ),
        (
            "GET /v1/influencers/{id}",
            "/v1/influencers/{}",
            &w.influencer,
        ),
        ("GET /v1/links/{id}", "/v1/links/{}", &w.link),
        ("GET /v1/codes/{code}", "/v1/codes/{}", CODE),
        ("GET /v1/posts/{id}", "/v1/posts/{}", &w.post),
        (
            "GET /v1/posts/{id}/metrics",
            "/v1/posts/{}/metrics",
            &w.post,
        ),
        (
            "GET /v1/campaigns/{id}/enrollments",
            "/v1/campaigns/{}/enrollments",
            &w.campaign,
        ),
        (
            "GET /v1/reports/campaigns/{id}",
            "/v1/reports/campaigns/{}",
            &w.campaign,
        ),
    ] {
        let path = segment(valid).prop_map(move |s| template.replace("{}", &s));
        w.never_5xx(
            route,
            probe(admin, Method::GET, path, no_query(), Just(None)),
        );
    }
    let enrollment = (segment(&w.campaign), segment(&w.influencer))
        .prop_map(|(c, i)| format!("/v1/campaigns/{c}/enrollments/{i}"));
    w.never_5xx(
        "GET /v1/campaigns/{id}/enrollments/{influencer_id}",
        probe(admin, Method::GET, enrollment, no_query(), Just(None)),
    );
    w.never_5xx(
        "DELETE /v1/api-keys/{id}",
        probe(
            admin,
            Method::DELETE,
            segment("999").prop_map(|s| format!("/v1/api-keys/{s}")),
            no_query(),
            Just(None),
        ),
    );
    for list in ["/v1/campaigns", "/v1/influencers", "/v1/api-keys"] {
        let query = query(vec![("limit", int(10)), ("cursor", text("aWQ6MQ"))]);
        w.never_5xx(
            list,
            probe(admin, Method::GET, fixed(list), query, Just(None)),
        );
    }
    for list in ["/v1/links", "/v1/codes", "/v1/posts", "/v1/costs"] {
        w.never_5xx(
            list,
            probe(admin, Method::GET, fixed(list), page_query(), Just(None)),
        );
    }
    w.never_5xx(
        "GET /{slug}",
        probe(
            admin,
            Method::GET,
            segment("emma").prop_map(|s| format!("/{s}")),
            no_query(),
            Just(None),
        ),
    );
}

#[test]
fn no_checkout_request_gives_a_server_error() {
    let w = World::open();
    let shop = Key::Checkout;
    let some = |s: BoxedStrategy<Value>| s.prop_map(Some).boxed();

    w.never_5xx(
        "POST /v1/codes/{code}/validate",
        probe(
            shop,
            Method::POST,
            segment(CODE).prop_map(|s| format!("/v1/codes/{s}/validate")),
            no_query(),
            some(body(vec![
                ("subtotal_minor", int(5_000).required()),
                ("currency", text("EUR").required()),
                ("customer_ref", text("cust-1")),
            ])),
        ),
    );
    w.never_5xx(
        "POST /v1/redemptions",
        probe(
            shop,
            Method::POST,
            fixed("/v1/redemptions"),
            no_query(),
            some(body(vec![
                ("code", text(CODE).required()),
                ("order_id", text("order-2").required()),
                ("subtotal_minor", int(5_000).required()),
                ("currency", text("EUR").required()),
                ("customer_ref", text("cust-1")),
                ("click_id", text("")),
                ("mode", text("reserve")),
            ])),
        ),
    );
    for action in ["", "/commit", "/release", "/cancel"] {
        let method = if action.is_empty() {
            Method::GET
        } else {
            Method::POST
        };
        w.never_5xx(
            &format!("{method} /v1/redemptions/{{id}}{action}"),
            probe(
                shop,
                method,
                segment(&w.redemption).prop_map(move |s| format!("/v1/redemptions/{s}{action}")),
                no_query(),
                Just(None),
            ),
        );
    }
    w.never_5xx(
        "POST /v1/conversions",
        probe(
            shop,
            Method::POST,
            fixed("/v1/conversions"),
            no_query(),
            some(body(vec![
                ("order_id", text("order-3").required()),
                ("kind", text("sale")),
                ("amount_minor", int(5_000).required()),
                ("currency", text("EUR").required()),
                ("click_id", text("")),
                ("code", text(CODE)),
                ("customer_ref", text("cust-1")),
                ("occurred_at", when("2026-03-01T00:00:00Z")),
            ])),
        ),
    );
    for (action, method) in [("", Method::GET), ("/cancel", Method::POST)] {
        w.never_5xx(
            &format!("{method} /v1/conversions/{{order_id}}{action}"),
            probe(
                shop,
                method,
                segment(ORDER).prop_map(move |s| format!("/v1/conversions/{s}{action}")),
                no_query(),
                Just(None),
            ),
        );
    }
    w.never_5xx(
        "POST /v1/conversions/{order_id}/refunds",
        probe(
            shop,
            Method::POST,
            segment(ORDER).prop_map(|s| format!("/v1/conversions/{s}/refunds")),
            no_query(),
            some(body(vec![("amount_minor", int(1))])),
        ),
    );
}

#[test]
fn no_report_query_gives_a_server_error() {
    let w = World::open();
    let admin = Key::Admin;
    let c = w.campaign.clone();
    for path in [
        format!("/v1/reports/campaigns/{c}"),
        format!("/v1/reports/campaigns/{c}/influencers"),
        "/v1/reports/timeseries".to_owned(),
        "/v1/reports/breakdown".to_owned(),
    ] {
        w.never_5xx(
            &format!("GET {path}"),
            probe(
                admin,
                Method::GET,
                fixed(&path),
                report_query(&w),
                Just(None),
            ),
        );
    }
}

// The inputs that gave 500s, as fixed examples.

#[tokio::test]
async fn an_order_id_path_that_cannot_be_an_order_is_not_found() {
    let app = spawn_app().await;
    let shop = create_key(&app.db, "shop", Scope::Checkout).await;
    let long = "x".repeat(5_000);
    for (method, path) in [
        (Method::GET, "/v1/conversions/%00".to_owned()),
        (Method::GET, "/v1/conversions/order%00".to_owned()),
        (Method::GET, format!("/v1/conversions/{long}")),
        (Method::POST, "/v1/conversions/%00/refunds".to_owned()),
        (Method::POST, "/v1/conversions/%00/cancel".to_owned()),
    ] {
        app.send(method.clone(), &path, Some(&shop), None)
            .await
            .assert_error(404, "not_found");
    }
}

#[tokio::test]
async fn report_dates_outside_years_1_to_9999_are_invalid_datetimes() {
    let app = spawn_app().await;
    let campaign = app.campaign("summer").await;
    for query in [
        "from=-5000-01-01",
        "from=0000-12-31",
        "to=10000-01-01",
        "to=%2B262143-12-31",
        "from=0000-01-01T00:00:00Z",
        "from=0001-01-01T00:00:00%2B01:00",
    ] {
        let reply = app
            .get(&format!("/v1/reports/campaigns/{campaign}?{query}"))
            .await;
        reply.assert_error(400, "invalid_datetime");
    }
    app.get(&format!(
        "/v1/reports/campaigns/{campaign}?from=0001-01-01&to=9999-12-31"
    ))
    .await
    .assert_status(200);
}

#[tokio::test]
async fn body_timestamps_outside_years_1_to_9999_are_invalid_datetimes() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/v1/campaigns",
            json!({"name": "Old", "slug": "old", "currency": "EUR",
                   "starts_at": "0000-06-01T00:00:00Z"}),
        )
        .await;
    reply.assert_error(400, "invalid_datetime");
    assert_eq!(reply.body["error"]["field"], "starts_at");
}
