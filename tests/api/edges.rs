//! The HTTP edges a hostile or sloppy client finds, through the real server
//! and, where a well-behaved client cannot get there, raw TCP.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{expect_json, spawn_app, spawn_app_with, TestApp};

/// `server.request_timeout_ms` of these tests.
const TIMEOUT_MS: u64 = 1000;
/// Slack on top of a deadline for a loaded machine; the behaviour under test
/// is that the answer comes at all, not how fast.
const SLACK: Duration = Duration::from_secs(5);

/// An answer read off a raw connection, up to the server's close.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// From the first byte sent to the server's close.
    elapsed: Duration,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        assert_eq!(self.header("content-type"), Some("application/json"), "{}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// Sends `request` on a new connection, then reads until the server closes it.
async fn exchange(app: &TestApp, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(app.socket()).await.unwrap();
    let started = Instant::now();
    stream.write_all(request).await.unwrap();
    read_to_close(&mut stream, started).await
}

/// Reads the rest of the connection; fails the test if the server keeps it open.
async fn read_to_close(stream: &mut TcpStream, started: Instant) -> Answer {
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut bytes))
        .await
        .expect("the server closes the connection")
        .expect("the connection reads");
    parse(&bytes, started.elapsed())
}

fn parse(bytes: &[u8], elapsed: Duration) -> Answer {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|l| l.split_once(": ").unwrap())
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
        elapsed,
    }
}

async fn app_with_timeout() -> TestApp {
    spawn_app_with(|c| c.server.request_timeout_ms = TIMEOUT_MS).await
}

fn post_head(path: &str, key: &str, framing: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: telebind\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\n{framing}\r\n"
    )
}

/// Asserts the 408 of a stalled request: JSON, and the connection closed
/// after the deadline, not long after it.
fn assert_timed_out(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 408, "{what}: {}", answer.body);
    assert_eq!(answer.json(), json!({"detail": "Request Timeout"}), "{what}");
    let deadline = Duration::from_millis(TIMEOUT_MS);
    assert!(answer.elapsed >= deadline, "{what}: answered before the deadline");
    assert!(
        answer.elapsed < deadline + SLACK,
        "{what}: answered after {:?}",
        answer.elapsed
    );
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_closed_within_the_request_timeout() {
    let app = app_with_timeout().await;
    let routes = ["/api/v1/workflows", "/api/v1/telephony/inbound/run"];
    let framings = [
        ("Content-Length: 40\r\n", "{\"name\": \"sta"),
        ("Transfer-Encoding: chunked\r\n", "d\r\n{\"name\": \"sta\r\n"),
    ];
    for path in routes {
        for (framing, partial) in framings {
            let request = format!("{}{partial}", post_head(path, &app.key, framing));
            let answer = exchange(&app, request.as_bytes()).await;
            assert_timed_out(&answer, &format!("{path} {framing}"));
            assert_eq!(answer.header("connection"), Some("close"));
        }
    }
    let listed = app.call(Method::GET, "/api/v1/workflows", None, 200).await;
    assert_eq!(listed, json!({"workflows": []}), "nothing was stored");
}

#[tokio::test]
async fn a_stalled_head_is_answered_408_in_json() {
    let app = app_with_timeout().await;
    let answer = exchange(&app, b"GET /healthz HTTP/1.1\r\nHost: telebind\r\n").await;
    assert_eq!(answer.status, 408);
    assert_eq!(answer.json(), json!({"detail": "Request Timeout"}));
    // actix-http starts the head's clock from a clock it updates every 500 ms.
    assert!(answer.elapsed < Duration::from_millis(TIMEOUT_MS) + SLACK);
}

#[tokio::test]
async fn a_stalled_body_does_not_hold_up_a_graceful_shutdown() {
    let app = app_with_timeout().await;
    let mut stream = TcpStream::connect(app.socket()).await.unwrap();
    let started = Instant::now();
    let head = post_head(
        "/api/v1/workflows",
        &app.key,
        "Content-Length: 40\r\nExpect: 100-continue\r\n",
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // "100 Continue" says the request is being served, waiting for its body.
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"{\"name\": \"sta").await.unwrap();

    let stopping = Instant::now();
    app.stop_gracefully().await;
    let stopped_after = stopping.elapsed();
    assert!(
        stopped_after < Duration::from_millis(TIMEOUT_MS) + SLACK,
        "the stop took {stopped_after:?}"
    );
    let answer = read_to_close(&mut stream, started).await;
    assert_timed_out(&answer, "during shutdown");
}

#[tokio::test]
async fn a_half_sent_head_does_not_hold_up_a_graceful_shutdown() {
    // A deadline far beyond the test: the stop must not wait for it.
    let app = spawn_app_with(|c| c.server.request_timeout_ms = 120_000).await;
    let mut stream = TcpStream::connect(app.socket()).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: telebind\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0u8; 4096];
    let n = stream.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).ends_with("{\"status\":\"ok\"}"));
    // The next request's head, cut short: actix-http times only a
    // connection's first head, so only the stop can end this one.
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHo").await.unwrap();

    let stopping = Instant::now();
    app.stop_gracefully().await;
    assert!(stopping.elapsed() < SLACK, "the stop took {:?}", stopping.elapsed());
    let mut rest = Vec::new();
    tokio::time::timeout(SLACK, stream.read_to_end(&mut rest))
        .await
        .expect("the connection is closed")
        .ok();
}

#[tokio::test]
async fn every_error_the_http_layer_answers_itself_has_a_json_body() {
    let app = spawn_app().await;
    let many_headers: String = (0..200).map(|i| format!("X-Filler-{i}: x\r\n")).collect();
    let cases = [
        ("a bad request line", "NOT HTTP AT ALL\r\n\r\n".to_string(), 400),
        (
            "a control character in a header",
            "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Bad: a\u{1}b\r\n\r\n".to_string(),
            400,
        ),
        (
            "a NUL in the path",
            "GET /heal\0thz HTTP/1.1\r\nHost: t\r\n\r\n".to_string(),
            400,
        ),
        (
            "too many headers",
            format!("GET /healthz HTTP/1.1\r\nHost: t\r\n{many_headers}\r\n"),
            431,
        ),
    ];
    for (what, request, status) in cases {
        let answer = exchange(&app, request.as_bytes()).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        let detail = answer.json()["detail"].clone();
        assert!(detail.as_str().is_some_and(|d| !d.is_empty()), "{what}: {detail}");
    }

    // After an answered request on the same connection too.
    let pipelined = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nNOT HTTP\r\n\r\n";
    let answer = exchange(&app, pipelined.as_bytes()).await;
    let (first, second) = answer
        .body
        .split_once("HTTP/1.1 400 Bad Request\r\n")
        .expect("two answers");
    assert_eq!(first, "{\"status\":\"ok\"}");
    let second = parse(
        format!("HTTP/1.1 400 Bad Request\r\n{second}").as_bytes(),
        answer.elapsed,
    );
    assert_eq!(second.json(), json!({"detail": "Invalid HTTP request"}));
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_json_413() {
    let app = spawn_app_with(|c| c.server.max_body_bytes = 1024).await;
    let chunk = "x".repeat(2000);
    let request = format!(
        "{}{:x}\r\n{chunk}\r\n0\r\n\r\n",
        post_head("/api/v1/workflows", &app.key, "Transfer-Encoding: chunked\r\n"),
        chunk.len()
    );
    let mut stream = TcpStream::connect(app.socket()).await.unwrap();
    let started = Instant::now();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = vec![0u8; 4096];
    let n = tokio::time::timeout(SLACK, stream.read(&mut bytes))
        .await
        .unwrap()
        .unwrap();
    let answer = parse(&bytes[..n], started.elapsed());
    assert_eq!(answer.status, 413);
    assert_eq!(answer.json(), json!({"detail": "Request body too large"}));
}

#[tokio::test]
async fn wrong_method_is_json_405_with_allow_naming_the_paths_methods() {
    let app = spawn_app().await;
    let cases = [
        ("/api/v1/workflows", "GET, POST"),
        ("/api/v1/workflows/1", "GET, PUT, DELETE"),
        ("/api/v1/organizations/telephony-configs/1/phone-numbers/2/sync", "POST"),
        ("/api/v1/user/api-keys/1/reactivate", "PUT"),
        ("/healthz", "GET"),
        ("/metrics", "GET"),
    ];
    for (path, allow) in cases {
        let response = app.send(Method::PATCH, path, Some(&app.key), None).await;
        assert_eq!(
            response.headers().get("allow").map(|v| v.to_str().unwrap()),
            Some(allow),
            "{path}"
        );
        assert_eq!(
            expect_json(response, 405, path).await,
            json!({"detail": "Method Not Allowed"})
        );
    }
}

#[tokio::test]
async fn json_bodies_are_read_only_from_json_media_types() {
    let app = spawn_app().await;
    let post = |content_type: Option<&str>, body: String| {
        let mut request = app
            .client
            .post(format!("{}/api/v1/workflows", app.address))
            .header("X-API-Key", &app.key)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        request.send()
    };
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "nonsense",
    ] {
        let response = post(Some(content_type), "{\"name\": \"Sales\"}".into()).await.unwrap();
        assert_eq!(
            expect_json(response, 422, content_type).await,
            json!({"detail": [{"type": "model_attributes_type", "loc": ["body"],
                "msg": "Input should be a valid dictionary or object to extract fields from",
                "input": "{\"name\": \"Sales\"}"}]}),
            "{content_type}"
        );
    }
    let listed = app.call(Method::GET, "/api/v1/workflows", None, 200).await;
    assert_eq!(listed, json!({"workflows": []}), "nothing was stored");

    let accepted = [
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("Application/JSON"),
        Some("application/merge-patch+json"),
        // Clients that send none are relied on, as the reference accepts them.
        None,
    ];
    for (i, content_type) in accepted.into_iter().enumerate() {
        let response = post(content_type, format!("{{\"name\": \"W{i}\"}}")).await.unwrap();
        expect_json(response, 200, &format!("{content_type:?}")).await;
    }
}
