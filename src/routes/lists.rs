//! Answering lists: pages (`limit`, `after_id`, `q`, API.md §4 and §5) and
//! the bound on how many list bodies are in memory at once.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{self, ContentType};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rusqlite::Connection;
use serde::Serialize;
use tokio::sync::OwnedSemaphorePermit;
use utoipa::IntoParams;

use crate::db::Page;
use crate::domain::ids::Id;
use crate::error::ApiError;
use crate::state::AppState;

/// A list's optional page (`extract::page_query`), as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Only the items after this one, in the list's order; an id that is
    /// not in the list gives an empty page.
    #[param(minimum = 1)]
    pub after_id: Option<i64>,
    /// Only the items whose text contains this (case-sensitive): a number's
    /// `address_normalized` or `label`, a configuration's `name`.
    pub q: Option<String>,
}

/// What a list holds: rows that know their id, the `after_id` of the page after them.
pub trait Listed: Serialize + Send + 'static {
    type Id: Id + std::fmt::Display + Send + 'static;
    fn list_id(&self) -> Self::Id;
}

/// Handed to actix a piece at a time: actix asks for the next piece only
/// once it has written the last, so at most one piece of each body is
/// copied into its buffers.
const PIECE: usize = 64 * 1024;

/// Reads a page with `read` on the blocking pool and answers it as
/// `{"<key>": [rows]}`, with `Link: <…>; rel="next"` when rows follow.
/// A list's body is counted, from its first row read to its last byte
/// handed to the socket, against `AppState::lists`: peak memory is bounded
/// by that, not by the number of clients, and lists wait their turn.
pub async fn respond<R, F>(
    state: &AppState,
    req: &HttpRequest,
    key: &'static str,
    page: Page<R::Id>,
    read: F,
) -> Result<HttpResponse, ApiError>
where
    R: Listed,
    F: FnOnce(&Connection, &Page<R::Id>) -> Result<Vec<R>, ApiError> + Send + 'static,
{
    let permit = state.lists.clone().acquire_owned().await.map_err(ApiError::internal)?;
    let path = req.path().to_string();
    let (body, link) = state
        .read(move |c| {
            let mut rows = read(c, &page)?;
            let limit = page.limit.map_or(usize::MAX, |n| n as usize);
            let next = (rows.len() > limit).then(|| {
                rows.truncate(limit);
                rows.last().map(|r| next_link(&path, &page, r.list_id()))
            });
            // Serialized on the thread that read the rows, straight from
            // them: about 0.5 KB of JSON a number, a third of the rows' size.
            let mut body = Vec::with_capacity(64 + rows.len() * 640);
            body.extend_from_slice(format!("{{\"{key}\":").as_bytes());
            serde_json::to_writer(&mut body, &rows).map_err(ApiError::internal)?;
            body.push(b'}');
            Ok((body, next.flatten()))
        })
        .await?;
    let mut response = HttpResponse::Ok();
    response.content_type(ContentType::json());
    if let Some(link) = link {
        response.insert_header((header::LINK, link));
    }
    Ok(response.body(Counted {
        rest: Bytes::from(body),
        permit: Some(permit),
    }))
}

/// `<path?limit=…&after_id=…&q=…>; rel="next"`.
fn next_link<I: std::fmt::Display>(path: &str, page: &Page<I>, last: I) -> String {
    let mut link = format!("<{path}?limit={}&after_id={last}", page.limit.unwrap_or_default());
    if let Some(q) = &page.q {
        link.push_str("&q=");
        link.extend(utf8_percent_encode(q, NON_ALPHANUMERIC));
    }
    link.push_str(">; rel=\"next\"");
    link
}

/// A list body and its place among the lists in memory, given back once
/// the last piece is handed over.
struct Counted {
    rest: Bytes,
    permit: Option<OwnedSemaphorePermit>,
}

impl MessageBody for Counted {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.rest.len() as u64)
    }

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            this.permit = None;
            return Poll::Ready(None);
        }
        let piece = this.rest.split_to(PIECE.min(this.rest.len()));
        if this.rest.is_empty() {
            this.permit = None;
        }
        Poll::Ready(Some(Ok(piece)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::NumberId;

    #[test]
    fn the_next_link_carries_the_limit_the_last_id_and_the_encoded_filter() {
        let page = Page {
            limit: Some(2),
            after_id: Some(NumberId(1)),
            q: Some("+1 a&b".into()),
        };
        assert_eq!(
            next_link("/api/v1/x", &page, NumberId(9)),
            "</api/v1/x?limit=2&after_id=9&q=%2B1%20a%26b>; rel=\"next\""
        );
    }
}
