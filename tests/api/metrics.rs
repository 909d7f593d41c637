use reqwest::Method;
use serde_json::json;

use crate::helpers::{numbers_path, spawn_app, spawn_app_with, TestApp};

/// One sample of the Prometheus text format: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Parses the text format; panics on a line that is not a comment or a sample.
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let rest = rest
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                    let labels = rest
                        .split("\",")
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("bad label: {line}"));
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
                None => (series.to_string(), vec![]),
            };
            (name, labels, value)
        })
        .collect()
}

/// The sum of `name`'s samples that carry every label of `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v)))
        .map(|(_, _, v)| v)
        .sum()
}

/// `GET /metrics` on `base`, without a key.
async fn scrape(base: &str) -> (u16, String) {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

pub async fn samples(app: &TestApp) -> Vec<Sample> {
    let (status, text) = scrape(&app.address).await;
    assert_eq!(status, 200, "{text}");
    parse(&text)
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_status_without_a_key() {
    let app = spawn_app().await;
    let route = [
        ("route", "/api/v1/workflows/{workflow_id}"),
        ("method", "GET"),
        ("status", "404"),
    ];
    let before = samples(&app).await;
    for _ in 0..3 {
        app.call(Method::GET, "/api/v1/workflows/987654", None, 404).await;
    }
    let (_, text) = scrape(&app.address).await;
    let after = parse(&text);
    // Other tests share the process's recorder: counts only grow.
    let counted =
        value(&after, "telebind_http_requests_total", &route) - value(&before, "telebind_http_requests_total", &route);
    assert!(counted >= 3.0, "{counted}");
    let timed = value(&after, "telebind_http_request_duration_seconds_count", &route)
        - value(&before, "telebind_http_request_duration_seconds_count", &route);
    assert!(timed >= 3.0, "{timed}");
    assert!(
        value(&after, "telebind_http_request_duration_seconds_bucket", &route) > 0.0,
        "a histogram with buckets"
    );
    assert!(!text.contains("987654"), "raw paths are not labels");
    assert!(value(&after, "telebind_api_key_cache_lookups_total", &[("result", "hit")]) >= 2.0);
}

#[tokio::test]
async fn metrics_count_carrier_pushes_and_writer_batches() {
    let app = spawn_app().await;
    let labels = [("carrier", "ari"), ("action", "attach"), ("outcome", "ok")];
    let before = samples(&app).await;
    let ari = json!({"provider": "ari", "ari_endpoint": "http://pbx.example:8088", "app_name": "tb",
                     "app_password": "pw-123456"});
    let cfg = app.create_config("PBX", ari).await["id"].clone();
    let workflow = app.create_workflow("W").await;
    let body = json!({"address": "+14155550100", "inbound_workflow_id": workflow["id"]});
    let bound = app.call(Method::POST, &numbers_path(&cfg), Some(body), 200).await;
    assert_eq!(bound["provider_sync"]["ok"], true);
    let after = samples(&app).await;
    let pushed = value(&after, "telebind_carrier_pushes_total", &labels)
        - value(&before, "telebind_carrier_pushes_total", &labels);
    assert!(pushed >= 1.0, "{pushed}");
    assert!(value(&after, "telebind_carrier_push_duration_seconds_count", &labels) >= 1.0);
    assert!(value(&after, "telebind_writer_batch_size_count", &[]) >= 3.0);
    assert!(
        after.iter().any(|(n, _, _)| n == "telebind_writer_queue_depth"),
        "the queue depth is reported"
    );
}

#[tokio::test]
async fn metrics_bind_serves_metrics_on_its_own_address_only() {
    let app = spawn_app_with(|c| c.server.metrics_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    let own = app.metrics_address.clone().expect("a metrics address");
    assert_eq!(scrape(&app.address).await.0, 404, "not on the API's address");
    app.call(Method::GET, "/api/v1/workflows", None, 200).await;
    let (status, text) = scrape(&own).await;
    assert_eq!(status, 200);
    let route = [("route", "/api/v1/workflows"), ("status", "200")];
    assert!(value(&parse(&text), "telebind_http_requests_total", &route) >= 1.0);
}
