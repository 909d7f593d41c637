//! A thin blocking client whose every request shares one deadline: the
//! operation's `sync.timeout_ms`, however many requests a carrier needs.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use ureq::http::{self, Method};
use ureq::{Agent, AsSendBody};

/// What a carrier answered. Any status is a reply; only transport failures are errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// The media type of the body, without parameters, lower-cased.
    pub content_type: Option<String>,
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(&self.body).map_err(|e| format!("response is not JSON: {e}"))
    }

    /// Whether the body says it is JSON (`application/json`, `…+json`).
    pub fn is_json(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(|t| t == "application/json" || t.ends_with("+json"))
    }
}

/// The agent every operation shares: carriers' non-2xx answers are replies to
/// read, not errors.
pub fn agent() -> Agent {
    Agent::config_builder().http_status_as_error(false).build().into()
}

/// One operation's client: built per operation, so its deadline starts then.
pub struct Http {
    agent: Agent,
    timeout: Duration,
    deadline: Instant,
}

impl Http {
    /// `agent` comes from [`agent`].
    pub fn new(agent: Agent, timeout: Duration) -> Http {
        Http {
            agent,
            timeout,
            deadline: Instant::now() + timeout,
        }
    }

    pub fn get(&self, url: &str) -> Call<'_> {
        self.call(Method::GET, url)
    }

    pub fn post(&self, url: &str) -> Call<'_> {
        self.call(Method::POST, url)
    }

    pub fn put(&self, url: &str) -> Call<'_> {
        self.call(Method::PUT, url)
    }

    pub fn patch(&self, url: &str) -> Call<'_> {
        self.call(Method::PATCH, url)
    }

    pub fn delete(&self, url: &str) -> Call<'_> {
        self.call(Method::DELETE, url)
    }

    fn call(&self, method: Method, url: &str) -> Call<'_> {
        Call {
            http: self,
            request: http::Request::builder().method(method).uri(url),
        }
    }

    fn timed_out(&self) -> String {
        format!("timed out after {} ms", self.timeout.as_millis())
    }

    fn run(&self, request: http::Request<impl AsSendBody>) -> Result<Reply, String> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(self.timed_out());
        }
        let request = self
            .agent
            .configure_request(request)
            .timeout_global(Some(remaining))
            .build();
        let mut response = self.agent.run(request).map_err(|e| self.describe(e))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase());
        // The global timeout still runs while the body is read.
        let body = response.body_mut().read_to_vec().map_err(|e| self.describe(e))?;
        Ok(Reply {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            content_type,
        })
    }

    fn describe(&self, error: ureq::Error) -> String {
        match error {
            ureq::Error::Timeout(_) => self.timed_out(),
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => self.timed_out(),
            other => other.to_string(),
        }
    }
}

/// One request being built; ends with `send`, `form` or `json`.
pub struct Call<'a> {
    http: &'a Http,
    request: http::request::Builder,
}

impl Call<'_> {
    pub fn basic(self, user: &str, password: &str) -> Self {
        let token = STANDARD.encode(format!("{user}:{password}"));
        self.header("Authorization", &format!("Basic {token}"))
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    /// Without a body.
    pub fn send(self) -> Result<Reply, String> {
        self.finish(())
    }

    /// `application/x-www-form-urlencoded`, fields in the given order.
    pub fn form(self, fields: &[(&str, &str)]) -> Result<Reply, String> {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .finish(body.join("&"))
    }

    pub fn json(self, value: &serde_json::Value) -> Result<Reply, String> {
        self.header("Content-Type", "application/json")
            .finish(value.to_string())
    }

    fn finish(self, body: impl AsSendBody) -> Result<Reply, String> {
        let request = self.request.body(body).map_err(|e| format!("invalid request: {e}"))?;
        self.http.run(request)
    }
}

/// Everything but RFC 3986's unreserved characters.
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes all but RFC 3986's unreserved characters: safe for a path
/// segment, a query value or a form field (`+` is sent as `%2B`).
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, RESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use serde_json::json;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::providers::testing::{blocking, refused_url};

    #[test]
    fn encode_keeps_only_unreserved_characters() {
        assert_eq!(encode("+15551230002"), "%2B15551230002");
        assert_eq!(encode("a b/c?d=é~"), "a%20b%2Fc%3Fd%3D%C3%A9~");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn any_status_is_a_reply_and_headers_and_json_body_are_sent() {
        let server = MockServer::start().await;
        Mock::given(method("PATCH"))
            .and(path("/apps/1"))
            .and(header("authorization", "Bearer tok"))
            .and(header("accept", "application/json"))
            .and(header("content-type", "application/json"))
            .and(body_json(json!({"a": 1})))
            .respond_with(ResponseTemplate::new(422).set_body_string("nope"))
            .expect(1)
            .mount(&server)
            .await;
        let url = format!("{}/apps/1", server.uri());
        let reply = blocking(move || {
            let http = Http::new(agent(), Duration::from_secs(5));
            http.patch(&url)
                .bearer("tok")
                .header("Accept", "application/json")
                .json(&json!({"a": 1}))
        })
        .await;
        assert_eq!(
            reply,
            Ok(Reply {
                status: 422,
                body: "nope".into(),
                content_type: Some("text/plain".into())
            })
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_passed_deadline_fails_without_sending() {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .respond_with(ResponseTemplate::new(204))
            .expect(0)
            .mount(&server)
            .await;
        let url = server.uri();
        let result = blocking(move || Http::new(agent(), Duration::ZERO).delete(&url).send()).await;
        assert_eq!(result, Err("timed out after 0 ms".into()));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_slow_answer_times_out_with_the_operation_timeout() {
        let server = MockServer::start().await;
        Mock::given(method("PUT"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
            .mount(&server)
            .await;
        let url = server.uri();
        let result = blocking(move || {
            Http::new(agent(), Duration::from_millis(200))
                .put(&url)
                .json(&json!({}))
        })
        .await;
        assert_eq!(result, Err("timed out after 200 ms".into()));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn connection_refused_is_an_error() {
        let url = refused_url();
        let result = blocking(move || Http::new(agent(), Duration::from_secs(5)).get(&url).send()).await;
        assert!(result.unwrap_err().to_lowercase().contains("refused"));
    }

    #[test]
    fn a_truncated_body_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let _ = stream.read(&mut [0u8; 4096]).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
                .unwrap();
        });
        let result = Http::new(agent(), Duration::from_secs(5)).get(&url).send();
        server.join().unwrap();
        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn non_json_bodies_say_so() {
        let reply = Reply {
            status: 200,
            body: "<html>".into(),
            content_type: Some("text/html".into()),
        };
        assert!(reply.json().unwrap_err().starts_with("response is not JSON"));
        assert!(!reply.is_json());
        let typed = |t: &str| Reply {
            content_type: Some(t.into()),
            ..reply.clone()
        };
        assert!(typed("application/json").is_json() && typed("application/problem+json").is_json());
    }
}
