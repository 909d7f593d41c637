//! SIP trunks through the real server (TRUNKS.md §8, items 1–35, and W10–W12)
//! against the Cloudonix fake of `cloudonix.rs`, or against answers a test
//! sets when it needs Cloudonix to fail in one particular way.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use wiremock::Request;

use crate::cloudonix::{
    assert_token_only_in_authorization, config as cloudonix_config, domain_found, header, FakeCloudonix, Shape, BEARER,
    HANG, NOW,
};
use crate::helpers::{calls, json_body, numbers_path, spawn_app_with, Answer, MockCarrier, TestApp, SYNC_TIMEOUT_MS};

const CONFIGS: &str = "/api/v1/organizations/telephony-configs";
/// The domain's trunk collection at Cloudonix, as requested and as matched.
const COL: &str = "/domains/acme.cloudonix.net/trunks";
const COL_RE: &str = "^/domains/acme\\.cloudonix\\.net/trunks$";
const ITEM_RE: &str = "^/domains/acme\\.cloudonix\\.net/trunks/[^/]+$";
const TRUNK_NOT_FOUND: &str = "Trunk not found";
const NUMBER_TRUNK_NOT_FOUND: &str = "Trunk not found on this telephony configuration";

/// `S` of the fixture: India, `sip.example.com`.
fn india() -> Value {
    json!({"region": "India", "sip_domain": "sip.example.com"})
}

/// The payload Cloudonix gets for trunk `name` in India at `sip.example.com`.
fn india_payload(name: &str) -> Value {
    json!({"name": name, "ip": "128.199.27.19", "port": 9060, "transport": "udp", "prefix": "",
           "direction": "public-outbound", "profile": {"domain": "sip.example.com", "ruri-domain": "sip.example.com"}})
}

fn trunks_path(cfg: &Value) -> String {
    format!("{CONFIGS}/{cfg}/trunks")
}

pub fn trunk_path(cfg: &Value, trunk: &Value) -> String {
    format!("{}/{}", trunks_path(cfg), trunk["id"])
}

/// Org A with Cloudonix configurations CX and CX2 on domain `acme` and a
/// Twilio one, TW; carriers on one mock, ownership checks off, nothing
/// answered or recorded yet.
pub struct Fixture {
    pub app: TestApp,
    pub carrier: MockCarrier,
    pub cx: Value,
    pub cx2: Value,
    pub tw: Value,
}

/// The UUID of domain `acme` at Cloudonix.
pub const DOMAIN_UUID: &str = "24f9423e-6902-4a48-b1f2-d5953106d4ae";

pub async fn fixture() -> Fixture {
    let carrier = MockCarrier::start().await;
    let url = carrier.url();
    let app = spawn_app_with(|c| {
        c.sync.timeout_ms = SYNC_TIMEOUT_MS;
        c.sync.verify_ownership = false;
        for (_, base) in c.providers.base_urls_mut() {
            *base = url.clone();
        }
    })
    .await;
    let domain = "^/customers/self/domains/acme\\.cloudonix\\.net$";
    carrier
        .answer_each(vec![("GET", domain, 200, json!({ "uuid": DOMAIN_UUID }).into(), NOW)])
        .await;
    let cx = app.create_config("cx", cloudonix_config(Some("app-1"))).await["id"].clone();
    let cx2 = app.create_config("cx2", cloudonix_config(Some("app-1"))).await["id"].clone();
    let twilio = json!({"provider": "twilio", "account_sid": "AC0123456789abcdef0123456789abcd",
                        "auth_token": "tw-token-0123456789"});
    let tw = app.create_config("tw", twilio).await["id"].clone();
    carrier.server.reset().await;
    Fixture {
        app,
        carrier,
        cx,
        cx2,
        tw,
    }
}

/// The fixture with Cloudonix played by the fake.
pub async fn with_fake() -> (Fixture, FakeCloudonix) {
    let f = fixture().await;
    let fake = FakeCloudonix::new(Shape::Application);
    fake.serve(&f.carrier).await;
    (f, fake)
}

impl Fixture {
    pub async fn create(&self, cfg: &Value, body: Value) -> Value {
        self.app.call(Method::POST, &trunks_path(cfg), Some(body), 200).await
    }

    /// Trunk `name` with settings `S` on `cfg`.
    pub async fn trunk(&self, cfg: &Value, name: &str) -> Value {
        self.create(cfg, json!({"name": name, "settings": india()})).await
    }

    async fn listed(&self, cfg: &Value) -> Vec<Value> {
        let list = self.app.call(Method::GET, &trunks_path(cfg), None, 200).await;
        list["trunks"].as_array().unwrap().clone()
    }

    async fn names(&self, cfg: &Value) -> Vec<String> {
        let listed = self.listed(cfg).await;
        listed.iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
    }

    async fn requests(&self) -> Vec<Request> {
        self.carrier.requests().await
    }

    async fn requests_after(&self, skip: usize) -> Vec<Request> {
        self.requests().await.into_iter().skip(skip).collect()
    }

    /// The stored carrier id of trunk `id`.
    fn external_id(&self, id: &Value) -> Option<String> {
        let conn = rusqlite::Connection::open(self.app.db_path()).unwrap();
        conn.query_row(
            "SELECT external_id FROM telephony_trunks WHERE id = ?1",
            [id.as_i64().unwrap()],
            |r| r.get(0),
        )
        .unwrap()
    }

    pub async fn number(&self, cfg: &Value, body: Value) -> (Value, String) {
        let number = self.app.create_number(cfg, body).await;
        let path = format!("{}/{}", numbers_path(cfg), number["id"]);
        (number, path)
    }
}

fn call(method: &str, path: &str) -> (String, String) {
    (method.to_string(), path.to_string())
}

/// Asserts that a request answered within the deadline with generous slack.
fn assert_within_deadline(started: Instant) {
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(SYNC_TIMEOUT_MS + 1000),
        "answered in {elapsed:?}"
    );
}

// ------------------------------------------------------------ list, create

#[tokio::test]
async fn trunks_are_listed_empty_and_only_cloudonix_configurations_take_new_ones() {
    let f = fixture().await;
    for cfg in [&f.cx, &f.tw] {
        assert_eq!(
            f.app.call(Method::GET, &trunks_path(cfg), None, 200).await,
            json!({"trunks": []})
        );
    }
    let refused = f
        .app
        .call(
            Method::POST,
            &trunks_path(&f.tw),
            Some(json!({"name": "carrier-a", "settings": india()})),
            400,
        )
        .await;
    assert_eq!(
        refused,
        json!({"detail": "telebind does not model trunks on twilio configurations \u{2014} calls route through the provider account itself. Numbers on this configuration need no trunk."})
    );
    assert!(f.requests().await.is_empty(), "no carrier was asked");
}

#[tokio::test]
async fn a_new_trunk_is_made_a_public_outbound_trunk_at_cloudonix_before_it_is_stored() {
    let (f, fake) = with_fake().await;
    let created = f.trunk(&f.cx, "carrier-a").await;

    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "enabled",
            "id",
            "name",
            "phone_number_count",
            "settings",
            "updated_at"
        ],
        "no external_id"
    );
    assert_eq!(
        (
            &created["name"],
            &created["enabled"],
            &created["settings"],
            &created["phone_number_count"]
        ),
        (&json!("carrier-a"), &json!(true), &india(), &json!(0))
    );
    let requests = f.requests().await;
    assert_eq!(calls(&requests), [call("GET", COL), call("POST", COL)]);
    for request in &requests {
        assert_eq!(header(request, "accept"), "application/json");
        assert_eq!(header(request, "content-type"), "application/json");
    }
    assert_token_only_in_authorization(&requests);
    assert_eq!(header(&requests[0], "authorization"), BEARER);
    assert_eq!(json_body(&requests[1]), india_payload("carrier-a"));

    let remote = fake.trunks();
    assert_eq!(remote.len(), 1);
    assert_eq!(
        (&remote[0]["name"], &remote[0]["direction"], &remote[0]["active"]),
        (&json!("carrier-a"), &json!("public-outbound"), &json!(true))
    );
    assert_eq!(
        f.external_id(&created["id"]).as_deref(),
        remote[0]["uuid"].as_str(),
        "the row names Cloudonix's trunk"
    );
    assert_eq!(f.listed(&f.cx).await, [created]);
}

#[tokio::test]
async fn settings_are_stored_canonical_and_pick_the_regions_edge() {
    let (f, _) = with_fake().await;
    let body =
        json!({"name": "carrier-b", "settings": {"region": " global ", "sip_domain": "  sip.b.example  ", "x": 1}});
    let created = f.create(&f.cx, body).await;
    assert_eq!(
        created["settings"],
        json!({"region": "Global", "sip_domain": "sip.b.example"})
    );
    let sent = json_body(&f.requests().await[1]);
    assert_eq!((&sent["ip"], &sent["port"]), (&json!("18.219.128.166"), &json!(5060)));
    assert_eq!(
        sent["profile"],
        json!({"domain": "sip.b.example", "ruri-domain": "sip.b.example"})
    );
}

/// Each body is refused with 422 and the errors' `(type, loc)`; nothing is
/// stored and no carrier is asked.
#[tokio::test]
async fn bad_trunk_input_is_a_422_that_reaches_no_carrier() {
    let f = fixture().await;
    let long = "a".repeat(65);
    let cases: Vec<(Value, Vec<(&str, Value)>)> = vec![
        (
            json!({"name": "carrier-a", "settings": {}}),
            vec![
                ("missing", json!(["body", "settings", "region"])),
                ("missing", json!(["body", "settings", "sip_domain"])),
            ],
        ),
        (
            json!({"name": "carrier-a", "settings": {"region": "Mars", "sip_domain": "x"}}),
            vec![("value_error", json!(["body", "settings", "region"]))],
        ),
        (
            json!({"name": "carrier-a", "settings": {"region": "India", "sip_domain": "   "}}),
            vec![("value_error", json!(["body", "settings", "sip_domain"]))],
        ),
        (
            json!({"name": "carrier-a", "settings": {"region": 5, "sip_domain": ["x"]}}),
            vec![
                ("string_type", json!(["body", "settings", "region"])),
                ("string_type", json!(["body", "settings", "sip_domain"])),
            ],
        ),
        (
            json!({"name": "carrier-a", "settings": "India"}),
            vec![("dict_type", json!(["body", "settings"]))],
        ),
        (
            json!({"name": "my trunk", "settings": india()}),
            vec![("value_error", json!(["body", "name"]))],
        ),
        (
            json!({"name": "   ", "settings": india()}),
            vec![("string_too_short", json!(["body", "name"]))],
        ),
        (
            json!({"name": long, "settings": india()}),
            vec![("string_too_long", json!(["body", "name"]))],
        ),
        (
            json!({"settings": india(), "enabled": "maybe"}),
            vec![
                ("missing", json!(["body", "name"])),
                ("bool_parsing", json!(["body", "enabled"])),
            ],
        ),
        (
            json!({"name": "carrier-a", "enabled": null, "settings": null}),
            vec![
                ("bool_type", json!(["body", "enabled"])),
                ("dict_type", json!(["body", "settings"])),
            ],
        ),
    ];
    for (body, expected) in cases {
        let answer = f
            .app
            .call(Method::POST, &trunks_path(&f.cx), Some(body.clone()), 422)
            .await;
        let got: Vec<(&str, Value)> = answer["detail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["type"].as_str().unwrap(), e["loc"].clone()))
            .collect();
        assert_eq!(got, expected, "{body}");
    }
    let mars = f
        .app
        .call(
            Method::POST,
            &trunks_path(&f.cx),
            Some(json!({"name": "carrier-a", "settings": {"region": "Mars", "sip_domain": "x"}})),
            422,
        )
        .await;
    assert_eq!(
        mars["detail"],
        json!([{"type": "value_error", "loc": ["body", "settings", "region"],
                "msg": "Value error, Unknown Cloudonix region 'Mars'. Expected one of: India, UAE, Global",
                "input": "Mars", "ctx": {"error": {}}}])
    );
    let named = f
        .app
        .call(
            Method::POST,
            &trunks_path(&f.cx),
            Some(json!({"name": "my trunk", "settings": india()})),
            422,
        )
        .await;
    assert_eq!(
        named["detail"][0]["msg"],
        "Value error, Outbound trunk name may only contain letters, digits and hyphens"
    );
    assert!(f.listed(&f.cx).await.is_empty());
    assert!(f.requests().await.is_empty(), "no carrier was asked");
}

#[tokio::test]
async fn a_taken_name_is_a_409_before_any_carrier_call_but_only_within_one_configuration() {
    let (f, fake) = with_fake().await;
    f.trunk(&f.cx, "carrier-a").await;
    let before = f.requests().await.len();
    let taken = f
        .app
        .call(
            Method::POST,
            &trunks_path(&f.cx),
            Some(json!({"name": " carrier-a ", "settings": india()})),
            409,
        )
        .await;
    assert_eq!(
        taken,
        json!({"detail": "A trunk named 'carrier-a' already exists on this configuration."})
    );
    assert_eq!(f.requests().await.len(), before, "no carrier request");

    // CX2 shares the domain: CX's carrier-b is Cloudonix's, recorded by CX,
    // so CX2 may not take it over (W10 (c)) and writes nothing.
    f.trunk(&f.cx, "carrier-b").await;
    let before = f.requests().await.len();
    let held = f
        .app
        .call(
            Method::POST,
            &trunks_path(&f.cx2),
            Some(json!({"name": "carrier-b", "settings": india()})),
            409,
        )
        .await;
    assert_eq!(
        held,
        json!({"detail": "A Cloudonix trunk named 'carrier-b' already exists"})
    );
    assert_eq!(calls(&f.requests_after(before).await), [call("GET", COL)]);
    assert_eq!(fake.trunks().len(), 2);

    // When Cloudonix does not list it, the local name is CX2's to use.
    f.carrier.server.reset().await;
    f.carrier
        .answer_each(vec![
            ("GET", COL_RE, 200, json!([]).into(), NOW),
            ("POST", COL_RE, 200, json!({"uuid": "U2"}).into(), NOW),
        ])
        .await;
    f.trunk(&f.cx2, "carrier-b").await;
    assert_eq!(f.names(&f.cx).await, ["carrier-a", "carrier-b"]);
    assert_eq!(f.names(&f.cx2).await, ["carrier-b"]);
}

#[tokio::test]
async fn a_disabled_new_trunk_is_stored_without_asking_cloudonix() {
    let f = fixture().await;
    // Every carrier request would fail.
    f.carrier.answer("GET", "^/", 500, "down", Duration::ZERO).await;
    let body = json!({"name": "off-1", "enabled": false, "settings": india()});
    let created = f.create(&f.cx, body).await;
    assert_eq!(created["enabled"], false);
    assert!(f.requests().await.is_empty());
    assert_eq!(f.external_id(&created["id"]), None);
}

/// Creating trunk `name` while Cloudonix answers only `answers`: refused with
/// 502 within the deadline and nothing stored; returns the detail.
async fn refused_create(f: &Fixture, name: &str, answers: Vec<Answer>) -> String {
    f.carrier.server.reset().await;
    f.carrier.answer_each(answers).await;
    let started = Instant::now();
    let answer = f
        .app
        .call(
            Method::POST,
            &trunks_path(&f.cx),
            Some(json!({"name": name, "settings": india()})),
            502,
        )
        .await;
    assert_within_deadline(started);
    assert!(
        !f.names(&f.cx).await.contains(&name.to_string()),
        "{name}: nothing stored"
    );
    answer["detail"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_cloudonix_fault_refuses_a_new_trunk_with_502_within_the_deadline_and_stores_nothing() {
    let f = fixture().await;
    let empty = || ("GET", COL_RE, 200, json!([]).into(), NOW);
    let cases: Vec<(Vec<Answer>, &str)> = vec![
        (
            vec![("GET", COL_RE, 500, "boom".into(), NOW)],
            "Failed to list Cloudonix voice trunks: HTTP 500",
        ),
        (
            vec![("GET", COL_RE, 401, "no".into(), NOW)],
            "Failed to list Cloudonix voice trunks: HTTP 401",
        ),
        (
            vec![("GET", COL_RE, 200, "<html>".into(), NOW)],
            "Cloudonix trunksList returned an invalid response",
        ),
        (
            vec![("GET", COL_RE, 200, json!({"trunks": []}).into(), NOW)],
            "Cloudonix trunksList returned an invalid response",
        ),
        (
            vec![("GET", COL_RE, 200, json!(["x"]).into(), NOW)],
            "Cloudonix trunksList returned an invalid response",
        ),
        (
            vec![empty(), ("POST", COL_RE, 403, "forbidden".into(), NOW)],
            "Failed to create Cloudonix outbound trunk: HTTP 403",
        ),
        (
            vec![empty(), ("POST", COL_RE, 503, "<html>".into(), NOW)],
            "Failed to create Cloudonix outbound trunk: HTTP 503",
        ),
        // Created, but no UUID in the answer nor in the listing after it.
        (
            vec![empty(), ("POST", COL_RE, 201, "".into(), NOW)],
            "Cloudonix trunkCreate response did not include a UUID",
        ),
        (
            vec![empty(), ("POST", COL_RE, 200, json!({"uuid": "U1"}).into(), HANG)],
            "Failed to reach Cloudonix to configure outbound trunk: timed out after 1000 ms",
        ),
    ];
    for (n, (answers, expected)) in cases.into_iter().enumerate() {
        let detail = refused_create(&f, &format!("carrier-{n}"), answers).await;
        assert_eq!(detail, expected);
    }
    let hung = refused_create(&f, "hung", vec![("GET", COL_RE, 200, json!([]).into(), 3000)]).await;
    assert!(
        hung.starts_with("Failed to reach Cloudonix to configure outbound trunk:") && hung.contains("timed out"),
        "{hung}"
    );

    // Cloudonix unreachable altogether.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut app = f.app;
    app.config.providers.cloudonix_base_url = url;
    let f = Fixture {
        app: app.restart().await,
        ..f
    };
    let started = Instant::now();
    let refused = f
        .app
        .call(
            Method::POST,
            &trunks_path(&f.cx),
            Some(json!({"name": "carrier-x", "settings": india()})),
            502,
        )
        .await;
    assert_within_deadline(started);
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Failed to reach Cloudonix to configure outbound trunk: "),
        "{detail}"
    );
    assert!(f.listed(&f.cx).await.is_empty());
}

#[tokio::test]
async fn a_created_trunk_whose_answer_has_no_uuid_is_found_by_listing_again() {
    let f = fixture().await;
    let again = json!([{"uuid": "U9", "name": "carrier-c", "direction": "public-outbound", "active": true}]);
    f.carrier
        .fail_after(
            "GET",
            COL_RE,
            1,
            wiremock::ResponseTemplate::new(200).set_body_json(json!([])),
            wiremock::ResponseTemplate::new(200).set_body_json(again),
        )
        .await;
    f.carrier.answer("POST", COL_RE, 201, "", Duration::ZERO).await;
    f.carrier.answer("PUT", ITEM_RE, 200, json!({}), Duration::ZERO).await;
    let created = f.trunk(&f.cx, "carrier-c").await;
    assert_eq!(f.external_id(&created["id"]).as_deref(), Some("U9"));

    let before = f.requests().await.len();
    let deleted = f
        .app
        .call(Method::DELETE, &trunk_path(&f.cx, &created), None, 200)
        .await;
    assert_eq!(
        deleted,
        json!({"success": true, "provider_sync": {"ok": true, "message": null}})
    );
    let requests = f.requests_after(before).await;
    assert_eq!(calls(&requests), [call("GET", COL), call("PUT", &format!("{COL}/U9"))]);
    assert_eq!(json_body(&requests[1]), json!({"active": false}));
}

#[tokio::test]
async fn a_same_named_trunk_of_another_direction_is_a_409_and_nothing_is_written() {
    let (f, fake) = with_fake().await;
    fake.with_trunk(json!({"name": "carrier-d", "direction": "public-inbound", "ip": "1.2.3.4"}));
    let refused = f
        .app
        .call(
            Method::POST,
            &trunks_path(&f.cx),
            Some(json!({"name": "carrier-d", "settings": india()})),
            409,
        )
        .await;
    assert_eq!(
        refused,
        json!({"detail": "A Cloudonix trunk named 'carrier-d' already exists with a different direction"})
    );
    assert_eq!(calls(&f.requests().await), [call("GET", COL)]);
    assert!(f.listed(&f.cx).await.is_empty());
}

#[tokio::test]
async fn a_matching_outbound_trunk_is_adopted_without_a_write_and_a_hand_made_one_is_left_alone() {
    let (f, fake) = with_fake().await;
    let mut same = india_payload("carrier-e");
    same["port"] = json!("9060");
    same["active"] = json!(true);
    let uuid = fake.with_trunk(same);
    let adopted = f.trunk(&f.cx, "carrier-e").await;
    assert_eq!(calls(&f.requests().await), [call("GET", COL)], "no POST, no PUT");
    assert_eq!(f.external_id(&adopted["id"]), Some(uuid));

    // A profile key set in the Cockpit: the customer's trunk (W10 (b)).
    let mut hand_made = india_payload("carrier-f");
    hand_made["profile"]["authentication"] = json!({"username": "u", "password": "p"});
    hand_made["profile"]["x-codec"] = json!("pcmu");
    let theirs = fake.with_trunk(hand_made);
    let before = f.requests().await.len();
    let refused = f
        .app
        .call(
            Method::POST,
            &trunks_path(&f.cx),
            Some(json!({"name": "carrier-f", "settings": india()})),
            409,
        )
        .await;
    assert_eq!(
        refused,
        json!({"detail": "A Cloudonix trunk named 'carrier-f' already exists"})
    );
    assert_eq!(calls(&f.requests_after(before).await), [call("GET", COL)]);
    assert_eq!(fake.trunk(&theirs).unwrap()["profile"]["x-codec"], "pcmu");
}

// --------------------------------------------------------- update, delete

/// CX with trunk `carrier-a` made at the fake; the recorded requests cleared.
async fn with_carrier_a() -> (Fixture, FakeCloudonix, Value, String) {
    let (f, fake) = with_fake().await;
    let trunk = f.trunk(&f.cx, "carrier-a").await;
    let uuid = f.external_id(&trunk["id"]).unwrap();
    f.carrier.server.reset().await;
    fake.serve(&f.carrier).await;
    (f, fake, trunk, uuid)
}

#[tokio::test]
async fn a_rename_updates_the_same_cloudonix_trunk() {
    let (f, fake, trunk, uuid) = with_carrier_a().await;
    let path = trunk_path(&f.cx, &trunk);
    let renamed = f
        .app
        .call(Method::PUT, &path, Some(json!({"name": "carrier-z"})), 200)
        .await;
    assert_eq!(renamed["name"], "carrier-z");
    assert_ne!(renamed["updated_at"], trunk["updated_at"]);
    let requests = f.requests().await;
    assert_eq!(
        calls(&requests),
        [call("GET", COL), call("PUT", &format!("{COL}/{uuid}"))]
    );
    let mut expected = india_payload("carrier-z");
    expected["active"] = json!(true);
    assert_eq!(json_body(&requests[1]), expected);
    assert_token_only_in_authorization(&requests);
    assert_eq!(fake.trunks().len(), 1, "no second trunk");
    assert_eq!(fake.trunk(&uuid).unwrap()["name"], "carrier-z");
    assert_eq!(f.names(&f.cx).await, ["carrier-z"]);
}

#[tokio::test]
async fn disabling_deactivates_the_cloudonix_trunk_and_enabling_puts_it_back_whole() {
    let (f, fake, trunk, uuid) = with_carrier_a().await;
    let path = trunk_path(&f.cx, &trunk);
    let off = f
        .app
        .call(Method::PUT, &path, Some(json!({"enabled": false})), 200)
        .await;
    assert_eq!(off["enabled"], false);
    let requests = f.requests().await;
    assert_eq!(
        calls(&requests),
        [call("GET", COL), call("PUT", &format!("{COL}/{uuid}"))]
    );
    assert_eq!(json_body(&requests[1]), json!({"active": false}));
    assert_eq!(fake.trunk(&uuid).unwrap()["active"], false);
    assert_eq!(f.external_id(&trunk["id"]), Some(uuid.clone()), "kept for re-enabling");

    let on = f
        .app
        .call(Method::PUT, &path, Some(json!({"enabled": true})), 200)
        .await;
    assert_eq!(on["enabled"], true);
    let requests = f.requests_after(2).await;
    let mut expected = india_payload("carrier-a");
    expected["active"] = json!(true);
    assert_eq!(json_body(&requests[1]), expected);
    assert_eq!(fake.trunk(&uuid).unwrap()["active"], true);
    assert_eq!(fake.trunks().len(), 1);
}

#[tokio::test]
async fn an_empty_update_of_a_trunk_cloudonix_already_matches_only_lists() {
    let (f, _, trunk, _) = with_carrier_a().await;
    let path = trunk_path(&f.cx, &trunk);
    let same = f.app.call(Method::PUT, &path, Some(json!({})), 200).await;
    assert_eq!(same["settings"], india());
    assert_eq!(calls(&f.requests().await), [call("GET", COL)]);
    let kept = f
        .app
        .call(Method::PUT, &path, Some(json!({"settings": null, "name": null})), 200)
        .await;
    assert_eq!((&kept["settings"], &kept["name"]), (&india(), &json!("carrier-a")));
}

#[tokio::test]
async fn trunks_of_other_configurations_and_organizations_are_not_found() {
    let (f, _) = with_fake().await;
    let theirs = f.trunk(&f.cx2, "carrier-b").await;
    let before = f.requests().await.len();
    let through_cx = format!("{}/{}", trunks_path(&f.cx), theirs["id"]);
    for (method, body) in [(Method::PUT, Some(json!({"name": "x"}))), (Method::DELETE, None)] {
        let answer = f.app.call(method, &through_cx, body, 404).await;
        assert_eq!(answer, json!({ "detail": TRUNK_NOT_FOUND }));
    }
    let other = f.app.org_key("b");
    let theirs_path = trunk_path(&f.cx2, &theirs);
    for (method, body) in [(Method::PUT, Some(json!({"name": "x"}))), (Method::DELETE, None)] {
        let answer = f.app.call_as(&other, method, &theirs_path, body, 404).await;
        assert_eq!(answer, json!({"detail": "Telephony configuration not found"}));
    }
    assert_eq!(
        f.app
            .call_as(&other, Method::GET, &trunks_path(&f.cx2), None, 404)
            .await,
        json!({"detail": "Telephony configuration not found"})
    );
    assert_eq!(
        f.app
            .call_as(
                &other,
                Method::POST,
                &trunks_path(&f.cx2),
                Some(json!({"name": "x"})),
                404
            )
            .await,
        json!({"detail": "Telephony configuration not found"})
    );
    assert_eq!(f.requests().await.len(), before, "no carrier request");
    assert_eq!(f.names(&f.cx2).await, ["carrier-b"]);
}

#[tokio::test]
async fn bad_updates_are_refused_before_any_carrier_call() {
    let (f, _) = with_fake().await;
    f.trunk(&f.cx, "carrier-a").await;
    let b = f.trunk(&f.cx, "carrier-b").await;
    let path = trunk_path(&f.cx, &b);
    let before = f.requests().await.len();
    let taken = f
        .app
        .call(Method::PUT, &path, Some(json!({"name": "carrier-a"})), 409)
        .await;
    assert_eq!(
        taken,
        json!({"detail": "A trunk named 'carrier-a' already exists on this configuration."})
    );
    let empty = f.app.call(Method::PUT, &path, Some(json!({"settings": {}})), 422).await;
    assert_eq!(empty["detail"].as_array().unwrap().len(), 2);
    let typed = f
        .app
        .call(
            Method::PUT,
            &path,
            Some(json!({"settings": [], "enabled": "x", "name": 5})),
            422,
        )
        .await;
    let kinds: Vec<&str> = typed["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["string_type", "bool_parsing", "dict_type"]);
    let missing = format!("{}/999999", trunks_path(&f.cx));
    assert_eq!(
        f.app.call(Method::PUT, &missing, Some(json!({})), 404).await,
        json!({ "detail": TRUNK_NOT_FOUND })
    );
    let refused = f
        .app
        .call(Method::PUT, &format!("{}/1", trunks_path(&f.tw)), Some(json!({})), 400)
        .await;
    assert!(refused["detail"]
        .as_str()
        .unwrap()
        .starts_with("telebind does not model trunks on twilio"));
    assert_eq!(f.requests().await.len(), before, "no carrier request");
    assert_eq!(f.names(&f.cx).await, ["carrier-a", "carrier-b"]);
}

#[tokio::test]
async fn every_cloudonix_fault_refuses_an_update_with_502_and_keeps_the_row() {
    let (f, _, trunk, uuid) = with_carrier_a().await;
    let path = trunk_path(&f.cx, &trunk);
    let listed = json!([{"uuid": uuid, "name": "carrier-a", "direction": "public-outbound", "active": true,
                         "ip": "128.199.27.19", "port": 9060, "transport": "udp", "prefix": "",
                         "profile": {"domain": "sip.example.com", "ruri-domain": "sip.example.com"}}]);
    let list = || ("GET", COL_RE, 200, listed.clone().into(), NOW);
    let cases: Vec<(Vec<Answer>, &str)> = vec![
        (
            vec![("GET", COL_RE, 503, "".into(), NOW)],
            "Failed to list Cloudonix voice trunks: HTTP 503",
        ),
        (
            vec![("GET", COL_RE, 200, "[not json".into(), NOW)],
            "Cloudonix trunksList returned an invalid response",
        ),
        (
            vec![list(), ("PUT", ITEM_RE, 404, "gone".into(), NOW)],
            "Failed to update Cloudonix outbound trunk: HTTP 404",
        ),
        (
            vec![list(), ("PUT", ITEM_RE, 500, "".into(), NOW)],
            "Failed to update Cloudonix outbound trunk: HTTP 500",
        ),
        (
            vec![list(), ("PUT", ITEM_RE, 200, json!({}).into(), HANG)],
            "Failed to reach Cloudonix to configure outbound trunk: timed out after 1000 ms",
        ),
    ];
    for (answers, expected) in cases {
        f.carrier.server.reset().await;
        f.carrier.answer_each(answers).await;
        let started = Instant::now();
        let refused = f
            .app
            .call(Method::PUT, &path, Some(json!({"name": "carrier-z"})), 502)
            .await;
        assert_within_deadline(started);
        assert_eq!(refused, json!({ "detail": expected }));
        assert_eq!(f.names(&f.cx).await, ["carrier-a"], "{expected}: the row is kept");
    }
    // Disabling when Cloudonix refuses the deactivation.
    f.carrier.server.reset().await;
    f.carrier
        .answer_each(vec![list(), ("PUT", ITEM_RE, 403, "".into(), NOW)])
        .await;
    let refused = f
        .app
        .call(Method::PUT, &path, Some(json!({"enabled": false})), 502)
        .await;
    assert_eq!(
        refused,
        json!({"detail": "Failed to deactivate Cloudonix outbound trunk: HTTP 403"})
    );
    assert_eq!(f.listed(&f.cx).await[0]["enabled"], true);
}

#[tokio::test]
async fn a_trunk_with_numbers_is_not_deleted_and_without_them_is_deactivated_then_deleted() {
    let (f, fake, trunk, uuid) = with_carrier_a().await;
    let path = trunk_path(&f.cx, &trunk);
    let renamed = f
        .app
        .call(Method::PUT, &path, Some(json!({"name": "carrier-z"})), 200)
        .await;
    let (_, active) = f
        .number(
            &f.cx,
            json!({"address": "+14155550100", "telephony_trunk_id": trunk["id"]}),
        )
        .await;
    let (_, inactive) = f
        .number(
            &f.cx,
            json!({"address": "+14155550101", "telephony_trunk_id": trunk["id"], "is_active": false}),
        )
        .await;
    let before = f.requests().await.len();
    let refused = f.app.call(Method::DELETE, &path, None, 409).await;
    assert_eq!(
        refused,
        json!({"detail": "2 phone number(s) dial out over 'carrier-z'. Move them to another trunk before deleting it."})
    );
    assert_eq!(f.requests().await.len(), before, "no carrier request");

    for number in [&active, &inactive] {
        f.app
            .call(Method::PUT, number, Some(json!({"clear_trunk": true})), 200)
            .await;
    }
    let before = f.requests().await.len();
    let deleted = f.app.call(Method::DELETE, &path, None, 200).await;
    assert_eq!(
        deleted,
        json!({"success": true, "provider_sync": {"ok": true, "message": null}})
    );
    let requests = f.requests_after(before).await;
    assert_eq!(
        calls(&requests),
        [call("GET", COL), call("PUT", &format!("{COL}/{uuid}"))]
    );
    assert_eq!(json_body(&requests[1]), json!({"active": false}));
    assert!(f.listed(&f.cx).await.is_empty());
    let remote = fake.trunk(&uuid).expect("deactivated, never deleted");
    assert_eq!((&remote["active"], &remote["name"]), (&json!(false), &renamed["name"]));
}

#[tokio::test]
async fn a_failed_removal_keeps_the_trunk_unless_forced() {
    let (f, _, trunk, _) = with_carrier_a().await;
    let path = trunk_path(&f.cx, &trunk);
    let cases: Vec<(Answer, String)> = vec![
        (
            ("GET", COL_RE, 500, "".into(), NOW),
            "Failed to list Cloudonix voice trunks: HTTP 500".into(),
        ),
        (
            ("GET", COL_RE, 200, json!({}).into(), NOW),
            "Cloudonix trunksList returned an invalid response".into(),
        ),
        (
            ("GET", COL_RE, 200, json!([]).into(), HANG),
            format!("Failed to reach Cloudonix to remove outbound trunk: timed out after {SYNC_TIMEOUT_MS} ms"),
        ),
    ];
    for (answer, expected) in cases {
        f.carrier.server.reset().await;
        f.carrier.answer_each(vec![answer]).await;
        let started = Instant::now();
        let refused = f.app.call(Method::DELETE, &path, None, 502).await;
        assert_within_deadline(started);
        assert_eq!(refused, json!({ "detail": expected }));
        assert_eq!(f.names(&f.cx).await, ["carrier-a"]);
    }
    f.carrier.server.reset().await;
    let listed = json!([{"uuid": f.external_id(&trunk["id"]), "name": "carrier-a", "active": true}]);
    f.carrier
        .answer_each(vec![
            ("GET", COL_RE, 200, listed.into(), NOW),
            ("PUT", ITEM_RE, 409, "busy".into(), NOW),
        ])
        .await;
    let refused = f.app.call(Method::DELETE, &path, None, 502).await;
    assert_eq!(
        refused,
        json!({"detail": "Failed to deactivate Cloudonix outbound trunk: HTTP 409"})
    );

    f.carrier.server.reset().await;
    f.carrier.answer_each(vec![("GET", COL_RE, 500, "".into(), NOW)]).await;
    let forced = f
        .app
        .call(Method::DELETE, &format!("{path}?force=true"), None, 200)
        .await;
    assert_eq!(
        forced,
        json!({"success": true, "provider_sync": {"ok": false,
               "message": "Failed to list Cloudonix voice trunks: HTTP 500"}})
    );
    assert!(f.listed(&f.cx).await.is_empty());
}

#[tokio::test]
async fn a_trunk_never_provisioned_is_deleted_without_asking_cloudonix() {
    let f = fixture().await;
    let off = f
        .create(&f.cx, json!({"name": "off-1", "enabled": false, "settings": india()}))
        .await;
    for verb in ["GET", "PUT", "POST"] {
        f.carrier.answer(verb, "^/", 500, "down", Duration::ZERO).await;
    }
    // Still disabled and unprovisioned: an update asks nobody either.
    let renamed = f
        .app
        .call(
            Method::PUT,
            &trunk_path(&f.cx, &off),
            Some(json!({"name": "off-2"})),
            200,
        )
        .await;
    assert_eq!(renamed["name"], "off-2");
    let deleted = f.app.call(Method::DELETE, &trunk_path(&f.cx, &off), None, 200).await;
    assert_eq!(deleted, json!({"success": true, "provider_sync": null}));
    assert!(f.requests().await.is_empty());
}

#[tokio::test]
async fn trunk_paths_answer_405_and_422_and_404_as_the_contract_says() {
    let f = fixture().await;
    let method_not_allowed = json!({"detail": "Method Not Allowed"});
    assert_eq!(
        f.app
            .call(Method::GET, &format!("{}/1", trunks_path(&f.cx)), None, 405)
            .await,
        method_not_allowed
    );
    for method in [Method::PUT, Method::DELETE] {
        assert_eq!(
            f.app.call(method, &trunks_path(&f.cx), None, 405).await,
            method_not_allowed
        );
    }
    let bad = f
        .app
        .call(Method::GET, &format!("{CONFIGS}/abc/trunks"), None, 422)
        .await;
    assert_eq!(bad["detail"][0]["loc"], json!(["path", "config_id"]));
    let bad = f
        .app
        .call(Method::PUT, &format!("{}/x1", trunks_path(&f.cx)), Some(json!({})), 422)
        .await;
    assert_eq!(
        (&bad["detail"][0]["loc"], &bad["detail"][0]["type"]),
        (&json!(["path", "trunk_id"]), &json!("int_parsing"))
    );
    for method in [Method::GET, Method::POST] {
        assert_eq!(
            f.app
                .call(
                    method,
                    &format!("{CONFIGS}/999999/trunks"),
                    Some(json!({"name": "a"})),
                    404
                )
                .await,
            json!({"detail": "Telephony configuration not found"})
        );
    }
}

// ------------------------------------------------------ numbers and trunks

#[tokio::test]
async fn a_number_is_pinned_only_to_a_trunk_of_its_own_configuration() {
    let (f, _) = with_fake().await;
    let t = f.trunk(&f.cx, "carrier-a").await;
    let t2 = f.trunk(&f.cx, "carrier-b").await;
    let theirs = f.trunk(&f.cx2, "carrier-c").await;
    let before = f.requests().await.len();

    let (number, path) = f
        .number(&f.cx, json!({"address": "+14155550100", "telephony_trunk_id": t["id"]}))
        .await;
    assert_eq!(number["telephony_trunk_id"], t["id"]);
    assert_eq!(f.listed(&f.cx).await[0]["phone_number_count"], 1);
    let detail = f.app.call(Method::GET, &format!("{CONFIGS}/{}", f.cx), None, 200).await;
    assert_eq!(detail["trunks"][0]["phone_number_count"], 1);
    assert_eq!(detail["trunks"][0]["id"], t["id"]);

    for (cfg, trunk) in [
        (&f.cx, &theirs["id"]),
        (&f.tw, &t["id"]),
        (&f.cx, &json!(0)),
        (&f.cx, &json!(-4)),
    ] {
        let refused = f
            .app
            .call(
                Method::POST,
                &numbers_path(cfg),
                Some(json!({"address": "+14155550111", "telephony_trunk_id": trunk})),
                404,
            )
            .await;
        assert_eq!(refused, json!({ "detail": NUMBER_TRUNK_NOT_FOUND }));
    }
    let cx_numbers = f.app.call(Method::GET, &numbers_path(&f.cx), None, 200).await;
    assert_eq!(cx_numbers["phone_numbers"].as_array().unwrap().len(), 1, "no row");

    let put = |body: Value| {
        let (app, path) = (&f.app, path.clone());
        async move { app.call(Method::PUT, &path, Some(body), 200).await }
    };
    assert_eq!(
        put(json!({"telephony_trunk_id": t2["id"]})).await["telephony_trunk_id"],
        t2["id"]
    );
    assert_eq!(
        put(json!({"clear_trunk": true})).await["telephony_trunk_id"],
        Value::Null
    );
    let both = put(json!({"telephony_trunk_id": t["id"], "clear_trunk": true})).await;
    assert_eq!(both["telephony_trunk_id"], t["id"], "the id wins");
    assert_eq!(both["provider_sync"], Value::Null, "a trunk-only edit asks no carrier");
    let kept = put(json!({"telephony_trunk_id": null, "label": "x"})).await;
    assert_eq!(kept["telephony_trunk_id"], t["id"]);
    let null = f
        .app
        .call(Method::PUT, &path, Some(json!({"clear_trunk": null})), 422)
        .await;
    assert_eq!(
        (&null["detail"][0]["type"], &null["detail"][0]["loc"]),
        (&json!("bool_type"), &json!(["body", "clear_trunk"]))
    );
    let refused = f
        .app
        .call(
            Method::PUT,
            &path,
            Some(json!({"telephony_trunk_id": theirs["id"]})),
            404,
        )
        .await;
    assert_eq!(refused, json!({ "detail": NUMBER_TRUNK_NOT_FOUND }));
    let read = f.app.call(Method::GET, &path, None, 200).await;
    assert_eq!(read["telephony_trunk_id"], t["id"]);
    let listed = f.app.call(Method::GET, &numbers_path(&f.cx), None, 200).await;
    assert_eq!(listed["phone_numbers"][0]["telephony_trunk_id"], t["id"]);
    assert_eq!(f.requests().await.len(), before, "numbers' trunks reach no carrier");
}

/// Deleting a trunk (whose deactivation at Cloudonix takes 300 ms) races a
/// number being pinned to it: either the delete wins and the pin finds no
/// trunk, or the pin wins and the delete is refused; never a number on a
/// missing trunk, never a row whose Cloudonix trunk is in another state.
#[tokio::test]
async fn deleting_a_trunk_and_pinning_a_number_to_it_never_leave_them_disagreeing() {
    let f = fixture().await;
    let fake = FakeCloudonix::new(Shape::Application).with_trunk_update_delay(Duration::from_millis(300));
    fake.serve(&f.carrier).await;
    let (_, number) = f.number(&f.cx, json!({"address": "+14155550100"})).await;
    let mut outcomes = Vec::new();
    for round in 0..50 {
        let trunk = f.trunk(&f.cx, &format!("race-{round}")).await;
        let uuid = f.external_id(&trunk["id"]).unwrap();
        let trunk_at = trunk_path(&f.cx, &trunk);
        let delete = f.app.send(Method::DELETE, &trunk_at, Some(&f.app.key), None);
        let pin = f.app.send(
            Method::PUT,
            &number,
            Some(&f.app.key),
            Some(json!({"telephony_trunk_id": trunk["id"]})),
        );
        // Alternate which is sent first.
        let (deleted, pinned) = if round % 2 == 0 {
            tokio::join!(delete, pin)
        } else {
            let (pinned, deleted) = tokio::join!(pin, delete);
            (deleted, pinned)
        };
        let (deleted, pinned) = (deleted.status().as_u16(), pinned);
        let pinned_status = pinned.status().as_u16();
        let pinned_body: Value = pinned.json().await.unwrap();
        let stored = f.app.call(Method::GET, &number, None, 200).await["telephony_trunk_id"].clone();
        let remote_active = fake.trunk(&uuid).unwrap()["active"].clone();
        match (deleted, pinned_status) {
            (200, 404) => {
                assert_eq!(pinned_body, json!({ "detail": NUMBER_TRUNK_NOT_FOUND }));
                assert_ne!(stored, trunk["id"]);
                assert_eq!(remote_active, false);
                assert!(!f.names(&f.cx).await.contains(&format!("race-{round}")));
            }
            (409, 200) => {
                assert_eq!(stored, trunk["id"]);
                assert_eq!(remote_active, true, "a kept trunk stays active at Cloudonix");
                f.app
                    .call(Method::PUT, &number, Some(json!({"clear_trunk": true})), 200)
                    .await;
            }
            other => panic!("round {round}: delete and pin answered {other:?}"),
        }
        outcomes.push((deleted, pinned_status));
    }
    let conn = rusqlite::Connection::open(f.app.db_path()).unwrap();
    let dangling: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM phone_numbers p WHERE p.telephony_trunk_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM telephony_trunks t WHERE t.id = p.telephony_trunk_id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dangling, 0);
    assert_eq!(outcomes.len(), 50);
}

// --------------------------------------------- configuration delete, domain

#[tokio::test]
async fn deleting_a_configuration_deactivates_its_cloudonix_trunks_first() {
    let (f, fake) = with_fake().await;
    let a = f.trunk(&f.cx, "carrier-a").await;
    let b = f.trunk(&f.cx, "carrier-b").await;
    f.create(&f.cx, json!({"name": "off-1", "enabled": false, "settings": india()}))
        .await;
    let uuids = [f.external_id(&a["id"]).unwrap(), f.external_id(&b["id"]).unwrap()];
    let path = format!("{CONFIGS}/{}", f.cx);

    // Cloudonix down: nothing is deleted.
    f.carrier.server.reset().await;
    f.carrier.answer_each(vec![("GET", COL_RE, 503, "".into(), NOW)]).await;
    let started = Instant::now();
    let refused = f.app.call(Method::DELETE, &path, None, 502).await;
    assert_within_deadline(started);
    assert_eq!(
        refused,
        json!({"detail": "Failed to list Cloudonix voice trunks: HTTP 503"})
    );
    assert_eq!(f.names(&f.cx).await.len(), 3);

    f.carrier.server.reset().await;
    fake.serve(&f.carrier).await;
    let deleted = f.app.call(Method::DELETE, &path, None, 200).await;
    assert_eq!(
        deleted,
        json!({"message": "Telephony configuration deleted", "provider_sync": {"ok": true, "message": null}})
    );
    let requests = f.requests().await;
    assert_eq!(
        calls(&requests),
        [
            call("GET", COL),
            call("PUT", &format!("{COL}/{}", uuids[0])),
            call("PUT", &format!("{COL}/{}", uuids[1])),
        ]
    );
    for uuid in &uuids {
        assert_eq!(fake.trunk(uuid).unwrap()["active"], false);
    }
    f.app.call(Method::GET, &path, None, 404).await;
}

#[tokio::test]
async fn a_forced_configuration_delete_goes_ahead_when_cloudonix_fails() {
    let (f, _) = with_fake().await;
    f.trunk(&f.cx, "carrier-a").await;
    f.carrier.server.reset().await;
    f.carrier
        .answer_each(vec![("GET", COL_RE, 200, json!([]).into(), HANG)])
        .await;
    let path = format!("{CONFIGS}/{}", f.cx);
    let forced = f
        .app
        .call(Method::DELETE, &format!("{path}?force=true"), None, 200)
        .await;
    assert_eq!(forced["provider_sync"]["ok"], false);
    assert_eq!(
        forced["provider_sync"]["message"],
        format!("Failed to reach Cloudonix to remove outbound trunk: timed out after {SYNC_TIMEOUT_MS} ms")
    );
    f.app.call(Method::GET, &path, None, 404).await;
}

#[tokio::test]
async fn a_new_domain_forgets_the_old_domains_trunks_which_are_found_again_by_name() {
    let (f, fake) = with_fake().await;
    let trunk = f.trunk(&f.cx, "carrier-a").await;
    let uuid = f.external_id(&trunk["id"]).unwrap();
    let path = format!("{CONFIGS}/{}", f.cx);
    let moved = |domain: &str| {
        let mut config = cloudonix_config(Some("app-1"));
        config["domain_id"] = json!(domain);
        json!({ "config": config })
    };
    f.carrier.server.reset().await;
    f.carrier
        .answer_each(vec![(
            "GET",
            "^/customers/self/domains/other\\.cloudonix\\.net$",
            200,
            json!({"uuid": "dom-uuid-2"}).into(),
            NOW,
        )])
        .await;
    f.app.call(Method::PUT, &path, Some(moved("other")), 200).await;
    assert_eq!(f.external_id(&trunk["id"]), None);
    assert_eq!(
        fake.trunk(&uuid).unwrap()["active"],
        true,
        "the old domain's trunk is left as it is"
    );

    // Back on acme, the next update finds its trunk by name again.
    f.carrier.server.reset().await;
    f.carrier.answer_each(vec![domain_found()]).await;
    fake.serve(&f.carrier).await;
    f.app.call(Method::PUT, &path, Some(moved("acme")), 200).await;
    f.app
        .call(Method::PUT, &trunk_path(&f.cx, &trunk), Some(json!({})), 200)
        .await;
    assert_eq!(f.external_id(&trunk["id"]), Some(uuid));
    assert_eq!(fake.trunks().len(), 1);
}

#[tokio::test]
async fn a_cloudonix_trunk_made_for_a_row_that_cannot_be_stored_is_deactivated_again() {
    let (f, fake) = with_fake().await;
    // The database refuses the row, as a full disk would.
    let conn = rusqlite::Connection::open(f.app.db_path()).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse_trunks BEFORE INSERT ON telephony_trunks BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    )
    .unwrap();
    let refused = f
        .app
        .call(
            Method::POST,
            &trunks_path(&f.cx),
            Some(json!({"name": "carrier-a", "settings": india()})),
            500,
        )
        .await;
    assert_eq!(refused, json!({"detail": "Internal Server Error"}));
    let made = fake.trunks();
    assert_eq!(made.len(), 1);
    let uuid = made[0]["uuid"].as_str().unwrap();
    assert_eq!(made[0]["active"], false, "deactivated again");
    assert_eq!(
        calls(&f.requests().await),
        [
            call("GET", COL),
            call("POST", COL),
            call("GET", COL),
            call("PUT", &format!("{COL}/{uuid}"))
        ]
    );
    conn.execute_batch("DROP TRIGGER refuse_trunks;").unwrap();
    assert!(f.listed(&f.cx).await.is_empty());
}

/// CX and CX2 share the domain and each make `carrier-b` at once; Cloudonix
/// answers both with the same trunk (as a lost answer, found again by name,
/// would): one records it, the other is refused, and the trunk stays active.
#[tokio::test]
async fn two_configurations_on_one_domain_never_record_the_same_cloudonix_trunk() {
    let f = fixture().await;
    let made = json!([{"uuid": "U1", "name": "carrier-b", "direction": "public-outbound", "active": true}]);
    f.carrier
        .fail_after(
            "GET",
            COL_RE,
            2,
            wiremock::ResponseTemplate::new(200).set_body_json(json!([])),
            wiremock::ResponseTemplate::new(200).set_body_json(made),
        )
        .await;
    f.carrier
        .answer_each(vec![
            ("POST", COL_RE, 200, json!({"uuid": "U1"}).into(), 300),
            ("PUT", ITEM_RE, 200, json!({}).into(), NOW),
        ])
        .await;
    let body = json!({"name": "carrier-b", "settings": india()});
    let (cx, cx2) = (trunks_path(&f.cx), trunks_path(&f.cx2));
    let (first, second) = tokio::join!(
        f.app.send(Method::POST, &cx, Some(&f.app.key), Some(body.clone())),
        f.app.send(Method::POST, &cx2, Some(&f.app.key), Some(body.clone())),
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    let refused: Vec<Value> = [first, second]
        .into_iter()
        .filter(|r| r.status() == 409)
        .map(|r| async move { r.json::<Value>().await.unwrap() })
        .collect::<futures_util::future::JoinAll<_>>()
        .await;
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(
        refused,
        [json!({"detail": "A Cloudonix trunk named 'carrier-b' already exists"})]
    );
    let stored = f.names(&f.cx).await.len() + f.names(&f.cx2).await.len();
    assert_eq!(stored, 1);
    let puts = calls(&f.requests().await)
        .into_iter()
        .filter(|(m, _)| m == "PUT")
        .count();
    assert_eq!(puts, 0, "the recorded trunk is not deactivated");
}
