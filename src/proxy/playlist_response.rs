//! The one path of a playlist response: the body is held once (with one limit), read once
//! into a `PlaylistSummary`, its class settled once, and then passed through ordered stages:
//!
//! 1. the stream book (`crate::streams`): the answering origin's progress (stale origins),
//!    the no-regression guard (a live playlist behind the newest already sent is replaced
//!    by that one), the stream statistics, and which paths are LL-HLS parts;
//! 2. the token rewrite (`playlist_tokens`): session tokens into every URI.
//!
//! Where the body comes from decides when the stages run:
//! - from the cache (a hit, a coalesced request, a stale copy, or a stored copy an origin
//!   confirmed with a 304): the whole stored body and its summary are known before the
//!   header goes out, so the stages run in `response_filter` and the result is sent with
//!   its own `Content-Length`. Pingora ends such bodies with a task that never reaches
//!   `response_body_filter` as an end of stream, so nothing may wait for one;
//! - from an origin: the body is collected until its framing says it is complete (end of
//!   stream, or `Content-Length` bytes), then the stages run and the result is sent
//!   chunked. A body cut short is never sent: the player sees a broken response.
//!
//! HEAD requests and non-200 answers pass untouched.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use pingora::cache::CachePhase;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestCtx;
use super::fields;
use super::playlist_tokens::TokenRewrite;
use crate::cache::storage::stored_body;
use crate::hls::{Playlist, PlaylistSummary};
use crate::metrics;
use crate::streams::{stream_of, PlaylistSeen, StreamBook, Verdict};

/// Playlists larger than this are passed through untouched (not guarded, not rewritten).
pub const LIMIT: usize = 1 << 20;

/// A playlist response on its way to the player.
#[derive(Debug)]
pub struct PlaylistResponse {
    state: State,
    tokens: Option<TokenRewrite>,
}

#[derive(Debug)]
enum State {
    /// Collecting the origin's body; `expected` is its `Content-Length`.
    Collecting {
        body: BytesMut,
        expected: Option<usize>,
    },
    /// Processed before the header went out: sent in place of the first chunk.
    Ready(Bytes),
    /// Sent: what else comes (the stored body) is dropped.
    Sent,
    /// Over the limit: the rest passes untouched.
    PassThrough,
}

/// Decides, once the response header is known, how the body travels (module docs).
pub fn start(
    session: &mut Session,
    ctx: &mut RequestCtx,
    resp: &mut ResponseHeader,
    book: &StreamBook,
) -> Result<()> {
    let head = session.req_header().method == http::Method::HEAD;
    if !ctx.class.is_playlist() || resp.status.as_u16() != 200 || head {
        return Ok(());
    }
    let tokens = TokenRewrite::for_response(session, ctx);
    let state = match stored(session) {
        Some((body, summary)) => {
            let summary = summary.unwrap_or_else(|| PlaylistSummary::of(ctx.class, &body));
            let out = stages(ctx, tokens.as_ref(), body, &summary, book);
            if !frames_length(resp, out.len()) {
                fields::edit(resp, |f| {
                    f.remove(&http::header::TRANSFER_ENCODING);
                    f.insert(http::header::CONTENT_LENGTH, HeaderValue::from(out.len()))
                })?;
            }
            State::Ready(out)
        }
        None => {
            let expected = fields::content_length(resp);
            // the guard or the token rewrite may change its length
            fields::edit(resp, |f| {
                f.remove(&http::header::CONTENT_LENGTH);
                f.insert(
                    http::header::TRANSFER_ENCODING,
                    HeaderValue::from_static("chunked"),
                )
            })?;
            State::Collecting {
                body: BytesMut::new(),
                expected,
            }
        }
    };
    ctx.playlist = Some(PlaylistResponse { state, tokens });
    Ok(())
}

/// `resp` already frames a body of `len` bytes: one `Content-Length` of that
/// value and no `Transfer-Encoding` (a stored playlist sent as it was stored).
fn frames_length(resp: &ResponseHeader, len: usize) -> bool {
    let lengths = resp.headers.get_all(http::header::CONTENT_LENGTH);
    fields::content_length(resp) == Some(len)
        && lengths.iter().nth(1).is_none()
        && !resp.headers.contains_key(http::header::TRANSFER_ENCODING)
}

/// Headers that depend on the stages, set after the edge's own decoration.
pub fn headers(ctx: &RequestCtx, resp: &mut ResponseHeader) -> Result<()> {
    match ctx.playlist.as_ref().and_then(|p| p.tokens.as_ref()) {
        Some(tokens) => tokens.headers(resp),
        None => Ok(()),
    }
}

/// The body of a playlist served from the cache, and its stored summary.
fn stored(session: &mut Session) -> Option<(Bytes, Option<PlaylistSummary>)> {
    let cache = &mut session.cache;
    let from_cache = matches!(
        cache.phase(),
        CachePhase::Hit
            | CachePhase::Stale
            | CachePhase::StaleUpdating
            | CachePhase::Revalidated
            | CachePhase::RevalidatedNoCache(_)
    );
    from_cache
        .then(|| stored_body(cache.hit_handler()))
        .flatten()
}

/// Passes the body on its path: collected until complete, then processed and sent.
/// The response stays where it is in the context (a hit is one state change).
pub fn body(ctx: &mut RequestCtx, chunk: &mut Option<Bytes>, end: bool, book: &StreamBook) {
    let Some(playlist) = ctx.playlist.as_mut() else {
        return;
    };
    let (body, expected) = match &mut playlist.state {
        State::PassThrough => return,
        State::Sent => {
            *chunk = None;
            return;
        }
        State::Ready(_) => {
            if let State::Ready(out) = std::mem::replace(&mut playlist.state, State::Sent) {
                *chunk = Some(out);
            }
            return;
        }
        State::Collecting { body, expected } => (body, *expected),
    };
    if let Some(c) = chunk.take() {
        body.extend_from_slice(&c);
    }
    let complete = end || expected.is_some_and(|n| body.len() >= n);
    if body.len() > LIMIT {
        tracing::warn!(path = %ctx.shard_key, bytes = body.len(), "playlist over the limit: sent as it is, not guarded nor rewritten");
        *chunk = Some(std::mem::take(body).freeze());
        playlist.state = State::PassThrough;
    } else if complete {
        let fetched = std::mem::take(body).freeze();
        playlist.state = State::Sent;
        // the stages read and write the context, the rewrite is read beside it
        // (the header that needed it is already out)
        let tokens = playlist.tokens.take();
        let parsed = Playlist::parse(&fetched).ok();
        let summary = PlaylistSummary::from_parsed(ctx.class, parsed.as_ref());
        if let Some(Playlist::Media(media)) = &parsed {
            book.parts.learn(&ctx.shard_key, media);
        }
        *chunk = Some(stages(ctx, tokens.as_ref(), fetched, &summary, book));
    }
}

/// The ordered stages over one read of the body (module docs).
fn stages(
    ctx: &mut RequestCtx,
    tokens: Option<&TokenRewrite>,
    body: Bytes,
    summary: &PlaylistSummary,
    book: &StreamBook,
) -> Bytes {
    ctx.class = summary.class;
    let body = follow(ctx, body, summary, book);
    match tokens {
        Some(tokens) => tokens.apply(&body),
        None => body,
    }
}

/// Stage 1: the stream book records the playlist and says what to send.
fn follow(ctx: &RequestCtx, body: Bytes, summary: &PlaylistSummary, book: &StreamBook) -> Bytes {
    let Some(route) = &ctx.route else {
        return body;
    };
    let Some(stream) = stream_of(&route.name, &route.prefix, &ctx.shard_key) else {
        return body;
    };
    let group = &route.group;
    let seen = PlaylistSeen {
        stream,
        path: &ctx.shard_key,
        group: &group.name,
        origins: group.origins.len(),
        stale_after: group.health_config.stale_after,
        from: ctx.answered_by,
        summary,
        body: &body,
    };
    match book.playlist(&seen, Instant::now()) {
        Verdict::Send => body,
        Verdict::SendNewer {
            served,
            body: newer,
        } => {
            metrics::PLAYLIST_REGRESSIONS
                .with_label_values(&[group.name.as_str()])
                .inc();
            tracing::info!(
                group = %group.name,
                playlist = %ctx.shard_key,
                fetched = ?summary.position.map(|p| p.to_string()),
                served = %served,
                origin = ctx.origin.as_ref().map_or("", |o| o.name.as_str()),
                "playlist behind one already served: sending the newer one"
            );
            newer
        }
        Verdict::SendBehind { served } => {
            tracing::debug!(playlist = %ctx.shard_key, served = %served, "playlist behind one already served, no newer copy kept");
            body
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(fields: &[(&'static str, &'static str)]) -> ResponseHeader {
        let mut resp = ResponseHeader::build_no_case(200, None).unwrap();
        for (name, value) in fields {
            resp.append_header(*name, *value).unwrap();
        }
        resp
    }

    #[test]
    fn a_stored_header_with_the_right_length_is_sent_as_it_is() {
        assert!(frames_length(&header(&[("content-length", "929")]), 929));
    }

    #[test]
    fn any_other_framing_is_rewritten() {
        assert!(!frames_length(&header(&[("content-length", "930")]), 929));
        assert!(!frames_length(&header(&[]), 929));
        assert!(!frames_length(&header(&[("content-length", "x")]), 929));
        let twice = header(&[("content-length", "929"), ("content-length", "929")]);
        assert!(!frames_length(&twice, 929));
        let chunked = header(&[("content-length", "929"), ("transfer-encoding", "chunked")]);
        assert!(!frames_length(&chunked, 929));
    }
}
