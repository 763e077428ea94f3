//! `request_filter`: what is refused before the cache or an origin is touched.
//!
//! - methods other than GET/HEAD: 405 (the edge only serves media);
//! - a request that already passed through this edge (its id in `CDN-Loop`,
//!   RFC 8586): 508, so a misconfigured chain fails fast instead of looping;
//! - paths with dot segments or encoded separators: 400;
//! - paths no route claims: 404 (never an open proxy);
//! - a request signed by another edge of the deployment (`X-HLS-Edge-Peer`)
//!   needs no player token; a bad signature is refused (403 `peer-auth`);
//! - on a token route: no token 401, a bad one 403 with the reason in
//!   `X-Token-Error` (design section 4).

use http::Method;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::context::{CacheResult, RequestCtx};
use super::playback_tokens::{self, unix_now};
use super::response_headers::ResponseDecor;
use crate::auth::peer::{PEER_HEADER, SIBLING_HEADER};
use crate::auth::{PeerSecret, TokenError};
use crate::hls::ObjectClass;
use crate::metrics;
use crate::routing::{is_clean_path, RouteTable};

/// Returns `Ok(true)` when the request was answered here.
pub async fn admit(
    session: &mut Session,
    ctx: &mut RequestCtx,
    routes: &RouteTable,
    decor: &ResponseDecor,
    peer_secret: Option<&PeerSecret>,
) -> Result<bool> {
    let edge_id = decor.edge_id.as_str();
    let req = session.req_header();
    if req.method == Method::OPTIONS && decor.allow_origin.is_some() {
        return preflight(session, ctx, decor).await;
    }
    let refusal = if req.method != Method::GET && req.method != Method::HEAD {
        Some((405, "method"))
    } else if carries_edge_id(req.headers.get_all("cdn-loop"), edge_id) {
        Some((508, "loop"))
    } else if !is_clean_path(req.uri.path()) {
        Some((400, "bad-path"))
    } else if let Some(route) = routes.find(req.uri.path()) {
        ctx.route = Some(route.clone());
        None
    } else {
        Some((404, "no-route"))
    };
    if let Some((status, reason)) = refusal {
        metrics::REFUSED.with_label_values(&[reason]).inc();
        return refuse(session, ctx, decor, status, "X-Edge-Refused", reason).await;
    }
    // the class is known before the token check, so that refusals are
    // counted under it (a path token does not change the extension)
    let uri = &session.req_header().uri;
    ctx.class = ObjectClass::from_request(uri.path(), uri.query());
    if let Some(secret) = peer_secret {
        if let Err(reason) = check_peer(session, ctx, secret) {
            metrics::REFUSED.with_label_values(&["peer-auth"]).inc();
            tracing::warn!(reason = %reason, path = %session.req_header().uri.path(), "peer signature refused");
            return refuse(session, ctx, decor, 403, "X-Edge-Refused", "peer-auth").await;
        }
    }
    ctx.from_sibling = session.req_header().headers.contains_key(SIBLING_HEADER)
        && (ctx.from_peer || peer_secret.is_none());
    let tokens = ctx.route.as_ref().and_then(|r| r.tokens.as_ref());
    if let Some(tokens) = tokens.filter(|_| !ctx.from_peer) {
        match playback_tokens::admit(session, tokens, unix_now()) {
            Ok(admitted) => ctx.token = Some(admitted),
            Err(e) => {
                let status = if e == TokenError::Missing { 401 } else { 403 };
                metrics::TOKEN_REJECTIONS
                    .with_label_values(&[e.reason()])
                    .inc();
                tracing::info!(status, reason = e.reason(), error = %e, path = %session.req_header().uri.path(), "token refused");
                return refuse(session, ctx, decor, status, "X-Token-Error", e.reason()).await;
            }
        }
    }
    let uri = &session.req_header().uri;
    ctx.class = ObjectClass::from_request(uri.path(), uri.query());
    ctx.shard_key = uri.path().to_string();
    if ctx.class.is_playlist() {
        // playlists are small and may be rewritten per viewer: always whole
        // (a 200 is a valid answer to a Range request, RFC 9110 14.2)
        let req = session.req_header_mut();
        req.remove_header(&http::header::RANGE);
        req.remove_header(&http::header::IF_RANGE);
    }
    Ok(false)
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
    tracing::debug!(status, reason, path = %session.req_header().uri.path(), "request refused");
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
