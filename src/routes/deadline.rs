//! A request's body must arrive within `server.request_timeout_ms` of its
//! head; one that stalls is answered 408 and its connection closed, whichever
//! route was reading it. (The head's own deadline is actix-http's, `serve`.)

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{web, HttpMessage, ResponseError};
use futures_util::Stream;
use tokio::time::{sleep_until, Instant, Sleep};

use crate::error::ApiError;
use crate::serve::REQUEST_TIMEOUT;
use crate::state::AppState;

/// The body as its route reads it, and whether the deadline passed.
struct Held {
    payload: Payload,
    expired: bool,
}

/// Middleware: times the body out `server.request_timeout_ms` after the head.
pub async fn body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, Unread>>, actix_web::Error> {
    let payload = req.take_payload();
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|s| Duration::from_millis(s.config.server.request_timeout_ms));
    let (Some(timeout), false) = (timeout, matches!(payload, Payload::None)) else {
        req.set_payload(payload);
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let held = Rc::new(RefCell::new(Held {
        payload,
        expired: false,
    }));
    req.set_payload(Payload::Stream {
        payload: Box::pin(Deadline {
            held: held.clone(),
            at: Instant::now() + timeout,
            sleep: None,
        }),
    });
    let response = next.call(req).await?;
    let Some(held) = Rc::into_inner(held).map(RefCell::into_inner).filter(|h| h.expired) else {
        return Ok(response.map_into_left_body());
    };
    let mut answer = ApiError::status(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT)
        .error_response()
        .map_body(|_, json| Unread {
            json: json.try_into_bytes().unwrap_or_default(),
            _payload: held.payload,
        });
    answer.head_mut().set_connection_type(ConnectionType::Close);
    Ok(response.into_response(answer).map_into_right_body())
}

/// The route's view of the body: the body's chunks until the deadline, then
/// an error.
struct Deadline {
    held: Rc<RefCell<Held>>,
    at: Instant,
    /// Set once the body is found not all there: most bodies arrive with
    /// their head and never need a timer.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let mut held = this.held.borrow_mut();
        if held.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut held.payload).poll_next(cx) {
            return Poll::Ready(item);
        }
        let at = this.at;
        if this
            .sleep
            .get_or_insert_with(|| Box::pin(sleep_until(at)))
            .as_mut()
            .poll(cx)
            .is_pending()
        {
            return Poll::Pending;
        }
        held.expired = true;
        let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body stalled");
        Poll::Ready(Some(Err(PayloadError::Io(timed_out))))
    }
}

/// The 408's JSON, holding on to the unread body until it is sent: actix-http
/// closes a connection whose body is unread when its answer ends, but waits
/// to drain a chunked body that was dropped, which a stalled client never ends.
pub struct Unread {
    json: Bytes,
    _payload: Payload,
}

impl MessageBody for Unread {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.json.len() as u64)
    }

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        let json = std::mem::take(&mut self.get_mut().json);
        Poll::Ready((!json.is_empty()).then_some(Ok(json)))
    }
}
