//! `request_filter`: what is refused before the cache or an origin is touched.
//!
//! - requests that break a message rule (`message_rules`: an `Upgrade`, a
//!   body, no valid `Host`, a target that is not http(s)): 400, and the
//!   connection is closed;
//! - methods other than GET/HEAD: 405 (the edge only serves media);
//! - a request that already passed through this edge (its id in `CDN-Loop`,
//!   RFC 8586): 508, so a misconfigured chain fails fast instead of looping;
//! - paths the one path rule refuses (`crate::request_path`): 400, on every
//!   route; an accepted path is normalised in place, so the route, the token
//!   ACL, the cache key and the origin all see the same one;
//! - paths no route claims: 404 (never an open proxy);
//! - a request signed by another edge of the deployment (`X-HLS-Edge-Peer`)
//!   needs no player token; a bad signature is refused (403 `peer-auth`);
//! - on a token route: no token 401, a bad one 403 with the reason in
//!   `X-Token-Error` (design section 4).
//!
//! Every refusal is counted (`hls_edge_refused_requests_total{reason}` or
//! the token rejections) and logged with the path redacted.

use std::borrow::Cow;

use http::header::HeaderName;
use http::Method;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::context::{CacheResult, RequestCtx};
use super::message_rules;
use super::playback_tokens::{self, unix_now};
use super::response_headers::ResponseDecor;
use crate::auth::peer::{PEER_HEADER, SIBLING_HEADER};
use crate::auth::{PeerSecret, TokenError};
use crate::hls::ObjectClass;
use crate::metrics;
use crate::redaction;
use crate::request_path;
use crate::routing::RouteTable;

/// RFC 8586's field.
const CDN_LOOP: HeaderName = HeaderName::from_static("cdn-loop");
/// `SIBLING_HEADER` as a field name: a lookup by text parses it every time.
const SIBLING: HeaderName = HeaderName::from_static(SIBLING_HEADER);

/// What the edge answers itself, instead of going on to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A refusal: `status`, with `reason` in the field `header`.
    Refuse {
        status: u16,
        header: &'static str,
        reason: &'static str,
    },
    /// A CORS preflight.
    Preflight,
}

impl Answer {
    /// A refusal with `X-Edge-Refused`, counted under `reason`.
    fn counted(status: u16, reason: &'static str) -> Answer {
        metrics::REFUSED.with_label_values(&[reason]).inc();
        Answer::Refuse {
            status,
            header: "X-Edge-Refused",
            reason,
        }
    }
}

/// Decides whether the request goes on (`None`) or what the edge answers
/// itself (written by [`answer`]). Nothing here waits: the answer's write
/// is the only part that does, so that every admitted request's future stays
/// small (the write's future is large, and `request_filter` boxes it only
/// when there is an answer).
pub fn admit(
    session: &mut Session,
    ctx: &mut RequestCtx,
    routes: &RouteTable,
    decor: &ResponseDecor,
    peer_secret: Option<&PeerSecret>,
) -> Option<Answer> {
    if let Err(broken) = message_rules::check(session) {
        // what follows on this connection may not be framed as it claims
        session.set_keepalive(None);
        return Some(Answer::counted(400, broken.reason()));
    }
    if session.req_header().method == Method::OPTIONS && decor.allow_origin.is_some() {
        return Some(Answer::Preflight);
    }
    if let Some((status, reason)) = gate(session, ctx, routes, &decor.edge_id) {
        return Some(Answer::counted(status, reason));
    }
    // the class is known before the token check, so that refusals are
    // counted under it (a path token does not change the extension)
    let uri = &session.req_header().uri;
    ctx.class = ObjectClass::from_request(uri.path(), uri.query());
    if let Some(secret) = peer_secret {
        if let Err(reason) = check_peer(session, ctx, secret) {
            let path = ctx.sent_path(session.req_header());
            tracing::warn!(reason = %reason, path = %redaction::target(path), "peer signature refused");
            return Some(Answer::counted(403, "peer-auth"));
        }
    }
    ctx.from_sibling = session.req_header().headers.contains_key(&SIBLING)
        && (ctx.from_peer || peer_secret.is_none());
    if let Some(refused) = check_token(session, ctx) {
        return Some(refused);
    }
    settle(session, ctx);
    None
}

/// Writes the edge's own answer; `Ok(true)`: the request was answered here.
pub async fn answer(
    session: &mut Session,
    ctx: &mut RequestCtx,
    decor: &ResponseDecor,
    answer: Answer,
) -> Result<bool> {
    match answer {
        Answer::Refuse {
            status,
            header,
            reason,
        } => refuse(session, ctx, decor, status, header, reason).await,
        Answer::Preflight => preflight(session, ctx, decor).await,
    }
}

/// Method, loop, path and route, in that order; the path is normalised in
/// place and the route recorded.
fn gate(
    session: &mut Session,
    ctx: &mut RequestCtx,
    routes: &RouteTable,
    edge_id: &str,
) -> Option<(u16, &'static str)> {
    let req = session.req_header();
    if req.method != Method::GET && req.method != Method::HEAD {
        return Some((405, "method"));
    }
    if carries_edge_id(req.headers.get_all(&CDN_LOOP), edge_id) {
        return Some((508, "loop"));
    }
    let normalised = match request_path::normalise(req.uri.path()) {
        Ok(Cow::Borrowed(_)) => None,
        Ok(Cow::Owned(normal)) => Some(normal),
        Err(why) => {
            tracing::info!(reason = why.reason(), path = %redaction::target(req.uri.path()), "path refused");
            return Some((400, "bad-path"));
        }
    };
    if let Some(normal) = normalised {
        ctx.keep_sent_path(session.req_header());
        if set_path(session, &normal).is_err() {
            return Some((400, "bad-path"));
        }
    }
    match routes.find(session.req_header().uri.path()) {
        Some(route) => {
            ctx.route = Some(route.clone());
            None
        }
        None => Some((404, "no-route")),
    }
}

/// Replaces the request's path, keeping its query.
fn set_path(session: &mut Session, path: &str) -> std::result::Result<(), http::Error> {
    let req = session.req_header_mut();
    let target = match req.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let uri = http::Uri::builder().path_and_query(target).build()?;
    req.set_uri(uri);
    Ok(())
}

/// The playback token of a token route (not for peers); `Some` with the
/// refusal when it fails.
fn check_token(session: &mut Session, ctx: &mut RequestCtx) -> Option<Answer> {
    // the route is held (one reference more) only where it checks tokens
    let route = ctx
        .route
        .as_ref()
        .filter(|r| r.tokens.is_some() && !ctx.from_peer)?
        .clone();
    let tokens = route.tokens.as_ref()?;
    // a path-placed token is read from the path as sent
    ctx.keep_sent_path(session.req_header());
    let sent_path = ctx.sent_path.as_deref().unwrap_or_default();
    match playback_tokens::admit(session, sent_path, tokens, unix_now()) {
        Ok(admitted) => {
            ctx.token = Some(admitted);
            None
        }
        Err(e) => {
            let status = if e == TokenError::Missing { 401 } else { 403 };
            metrics::TOKEN_REJECTIONS
                .with_label_values(&[e.reason()])
                .inc();
            tracing::info!(status, reason = e.reason(), error = %e, path = %redaction::target(sent_path), "token refused");
            Some(Answer::Refuse {
                status,
                header: "X-Token-Error",
                reason: e.reason(),
            })
        }
    }
}

/// What the later phases need once the request is admitted.
fn settle(session: &mut Session, ctx: &mut RequestCtx) {
    let uri = &session.req_header().uri;
    // the class `admit` set holds unless the path changed since (normalised,
    // or a path token taken out of it)
    if ctx
        .sent_path
        .as_deref()
        .is_some_and(|sent| sent != uri.path())
    {
        ctx.class = ObjectClass::from_request(uri.path(), uri.query());
    }
    ctx.shard_key = uri.path().to_string();
    if ctx.class.is_playlist() {
        // playlists are small and may be rewritten per viewer: always whole
        // (a 200 is a valid answer to a Range request, RFC 9110 14.2)
        // (looked up first: removing also searches Pingora's map of name
        // spellings, and almost no playlist request carries either)
        let req = session.req_header_mut();
        for name in [http::header::RANGE, http::header::IF_RANGE] {
            if req.headers.contains_key(&name) {
                req.remove_header(&name);
            }
        }
    }
}

async fn refuse(
    session: &mut Session,
    ctx: &mut RequestCtx,
    decor: &ResponseDecor,
    status: u16,
    header: &'static str,
    reason: &'static str,
) -> Result<bool> {
    ctx.cache = CacheResult::Refused;
    tracing::debug!(status, reason, path = %redaction::target(ctx.sent_path(session.req_header())), "request refused");
    let mut resp = ResponseHeader::build(status, Some(4))?;
    resp.insert_header(http::header::CONTENT_LENGTH, "0")?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
    resp.insert_header(header, reason)?;
    if status == 405 {
        resp.insert_header(http::header::ALLOW, "GET, HEAD")?;
    }
    // a browser player may read why it was refused
    decor.cors(&mut resp)?;
    session.write_response_header(Box::new(resp), true).await?;
    Ok(true)
}

/// A CORS preflight (`OPTIONS`): what a browser player may send. Players
/// rarely need one (plain GETs are "simple"), but a `Range` header makes one.
async fn preflight(
    session: &mut Session,
    ctx: &mut RequestCtx,
    decor: &ResponseDecor,
) -> Result<bool> {
    ctx.cache = CacheResult::Refused;
    let mut resp = ResponseHeader::build(204, Some(6))?;
    decor.cors(&mut resp)?;
    resp.insert_header(
        http::header::ACCESS_CONTROL_ALLOW_METHODS,
        "GET, HEAD, OPTIONS",
    )?;
    resp.insert_header(
        http::header::ACCESS_CONTROL_ALLOW_HEADERS,
        "Range, If-Range, If-None-Match, If-Modified-Since",
    )?;
    resp.insert_header(http::header::ACCESS_CONTROL_MAX_AGE, "86400")?;
    resp.insert_header(http::header::CONTENT_LENGTH, "0")?;
    session.write_response_header(Box::new(resp), true).await?;
    Ok(true)
}

/// Checks a peer signature, if the request carries one (marking the
/// request as a peer's); a request without one is left to the token check.
fn check_peer(
    session: &Session,
    ctx: &mut RequestCtx,
    secret: &PeerSecret,
) -> std::result::Result<(), crate::auth::PeerError> {
    let req = session.req_header();
    let Some(value) = req.headers.get(PEER_HEADER) else {
        return Ok(());
    };
    let value = value
        .to_str()
        .map_err(|_| crate::auth::PeerError::Malformed)?;
    secret.verify(value, req.uri.path(), unix_now())?;
    ctx.from_peer = true;
    Ok(())
}

/// Whether any `CDN-Loop` entry names this edge (RFC 8586: a comma-separated
/// list of `cdn-id [; params]`).
fn carries_edge_id<'a>(
    values: impl IntoIterator<Item = &'a http::HeaderValue>,
    edge_id: &str,
) -> bool {
    values.into_iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',')
            .map(|entry| entry.split(';').next().unwrap_or("").trim())
            .any(|id| id.eq_ignore_ascii_case(edge_id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_detection() {
        let v = |s: &'static str| http::HeaderValue::from_static(s);
        assert!(carries_edge_id([&v("edge-1")], "edge-1"));
        assert!(carries_edge_id([&v("shield, edge-1; v=1")], "edge-1"));
        assert!(!carries_edge_id([&v("edge-10, shield")], "edge-1"));
        assert!(carries_edge_id([&v("a"), &v("EDGE-1")], "edge-1"));
    }
}
