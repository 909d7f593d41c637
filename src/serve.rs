//! Serving HTTP/1 connections: actix-web's `HttpServer` wiring, plus what it
//! cannot be told to do.
//!
//! actix-http answers a malformed request (400), a head that does not
//! arrive in time (408) and a head too large to parse (431) by itself,
//! before any application code runs and with an empty body; it has no hook
//! for those answers. The contract wants `{"detail": …}` on every error, so
//! each connection's stream is wrapped and those three answers are given
//! their JSON body on their way out (`JsonErrors`).

use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::{HttpService, Protocol, Request};
use actix_server::Server;
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt};
use actix_web::dev::{AppConfig, ServiceResponse};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How the connections of one listener are served.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Time for the head of a connection's first request (a stalled body is
    /// the application's to time out, `routes::deadline`).
    pub request_timeout: Duration,
    /// `None`: as many workers as cores.
    pub workers: Option<usize>,
    /// Whether SIGINT and SIGTERM stop this server.
    pub signals: bool,
}

/// Serves `app` on `listener` as `HttpServer::new(app).listen(listener)` would,
/// with every connection's stream wrapped in `JsonErrors`.
pub fn serve<F, I, S, B>(listener: TcpListener, settings: Settings, app: F) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let mut builder = Server::build();
    if let Some(workers) = settings.workers {
        builder = builder.workers(workers);
    }
    if !settings.signals {
        builder = builder.disable_signals();
    }
    // Idle keep-alive connections close at once when a graceful stop begins.
    let shutdown = builder.graceful_shutdown_signal();
    let builder = builder.listen("telebind", listener, move || {
        let shutdown = shutdown.clone();
        let http = HttpService::build()
            .graceful_shutdown_signal(move || {
                let signal = shutdown.clone();
                async move { signal.notified().await }
            })
            .client_request_timeout(settings.request_timeout)
            // As `HttpServer`: after answering a request whose body was not
            // read, read and drop the rest for a moment, so the client gets
            // the answer rather than a reset.
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr(addr)
            .finish(map_config(
                app().into_factory().map_err(|e: actix_web::Error| e.error_response()),
                // Only URL generation and a missing Host header read these,
                // and telebind builds every URL from `public_base_url`.
                |_| AppConfig::default(),
            ));
        fn_service(|io: TcpStream| async move {
            let peer = io.peer_addr().ok();
            Ok((JsonErrors::new(io), Protocol::Http1, peer))
        })
        .and_then(http)
    })?;
    Ok(builder.run())
}

/// A connection's stream whose writes pass through unchanged, except an
/// answer that actix-http made up by itself, which gets its JSON body.
///
/// Such an answer is recognised with certainty: it is the last thing actix-http
/// writes before closing, so it ends the buffer handed to `poll_write`
/// (actix-http always hands over all it has not yet written); it has exactly
/// the head actix-http writes (status 400, 408 or 431, `content-length: 0`,
/// nothing but `connection` and `date` besides); and no answer of the
/// application has an empty body with those statuses.
pub struct JsonErrors<T> {
    io: T,
    /// Bytes accepted from the caller but not yet written.
    pending: Vec<u8>,
    written: usize,
}

impl<T> JsonErrors<T> {
    pub fn new(io: T) -> JsonErrors<T> {
        JsonErrors {
            io,
            pending: Vec::new(),
            written: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> JsonErrors<T> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrors<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrors<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        let Some(rewritten) = with_json_body(buf) else {
            return Pin::new(&mut this.io).poll_write(cx, buf);
        };
        // The whole buffer is taken, so the answer is never split between
        // what was written as it came and what was rewritten.
        this.pending = rewritten;
        if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The `detail` of each answer actix-http makes up by itself.
pub fn detail(status: u16) -> Option<&'static str> {
    match status {
        400 => Some("Invalid HTTP request"),
        408 => Some(REQUEST_TIMEOUT),
        431 => Some("Request Header Fields Too Large"),
        _ => None,
    }
}

/// The `detail` of a 408, whether the head or the body stalled.
pub const REQUEST_TIMEOUT: &str = "Request Timeout";

/// Longest head actix-http writes for such an answer, with room to spare.
const MAX_ERROR_HEAD: usize = 256;

/// `buf` with its last response given a JSON body, when that response is
/// one of actix-http's bodiless error answers (see `JsonErrors`).
fn with_json_body(buf: &[u8]) -> Option<Vec<u8>> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let window = buf.len().saturating_sub(MAX_ERROR_HEAD);
    let start = window + buf[window..].windows(7).rposition(|w| w == b"HTTP/1.")?;
    let head = &buf[start..];
    let mut headers = [httparse::EMPTY_HEADER; 4];
    let mut response = httparse::Response::new(&mut headers);
    if response.parse(head).ok()? != httparse::Status::Complete(head.len()) {
        return None;
    }
    let detail = detail(response.code?)?;
    let is = |h: &httparse::Header, name: &str| h.name.eq_ignore_ascii_case(name);
    let bodiless = response
        .headers
        .iter()
        .any(|h| is(h, "content-length") && h.value == b"0");
    let only_ours = response
        .headers
        .iter()
        .all(|h| is(h, "content-length") || is(h, "connection") || is(h, "date"));
    if !(bodiless && only_ours) {
        return None;
    }
    let body = serde_json::json!({ "detail": detail }).to_string();
    let status_line_end = head.windows(2).position(|w| w == b"\r\n")? + 2;
    let mut out = Vec::with_capacity(start + head.len() + 64 + body.len());
    out.extend_from_slice(&buf[..start + status_line_end]);
    out.extend_from_slice(format!("content-type: application/json\r\ncontent-length: {}\r\n", body.len()).as_bytes());
    for h in response.headers.iter().filter(|h| !is(h, "content-length")) {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "date: Thu, 03 Dec 2026 12:45:54 GMT\r\n";

    fn rewritten(buf: &str) -> Option<String> {
        with_json_body(buf.as_bytes()).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn actix_https_own_error_answers_get_a_json_body() {
        let bad = format!("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n{DATE}\r\n");
        assert_eq!(
            rewritten(&bad).unwrap(),
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 33\r\nconnection: close\r\n{DATE}\r\n{{\"detail\":\"Invalid HTTP request\"}}"
            )
        );
        let timeout = format!("HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n{DATE}\r\n");
        assert!(rewritten(&timeout)
            .unwrap()
            .ends_with("\r\n\r\n{\"detail\":\"Request Timeout\"}"));
    }

    #[test]
    fn an_error_answer_after_a_pipelined_response_is_rewritten_alone() {
        let ok = format!("HTTP/1.1 200 OK\r\ncontent-length: 15\r\n{DATE}\r\n{{\"status\":\"ok\"}}");
        let bad = format!("HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n{DATE}\r\n");
        let out = rewritten(&format!("{ok}{bad}")).unwrap();
        assert!(out.starts_with(&ok), "{out}");
        assert!(
            out.ends_with("{\"detail\":\"Request Header Fields Too Large\"}"),
            "{out}"
        );
    }

    #[test]
    fn the_applications_answers_pass_unchanged() {
        let cases = [
            // Bodies of their own (a HEAD answer keeps its length).
            format!("HTTP/1.1 400 Bad Request\r\ncontent-length: 30\r\n{DATE}\r\n{{\"detail\":\"Malformed query\"}}"),
            format!("HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 31\r\nallow: GET\r\n{DATE}\r\n"),
            // Headers actix-http never puts on its own answers.
            format!("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-request-id: a\r\n{DATE}\r\n"),
            // Other statuses, and a chunked body's end.
            format!("HTTP/1.1 204 No Content\r\n{DATE}\r\n"),
            "0\r\n\r\n".to_string(),
            "5\r\nHTTP/\r\n0\r\n\r\n".to_string(),
        ];
        for case in cases {
            assert_eq!(rewritten(&case), None, "{case}");
        }
    }
}
