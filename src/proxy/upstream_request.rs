//! What the origin sees of a request, and what the edge records of the
//! origin's answer.
//!
//! The origin gets the player's path (normalised, in origin-form) with the
//! token parameters removed, its own `Host`, no hop-by-hop fields (RFC 9110
//! 7.6.1), no cookies on token routes, this edge's id appended to `CDN-Loop`
//! (RFC 8586 2), and, when it is another edge, this edge's peer signature
//! (and the sibling mark when it is the segment's owner).

use std::time::Instant;

use pingora::http::RequestHeader;
use pingora::Result;

use super::context::{Hop, RequestCtx};
use super::playback_tokens::unix_now;
use crate::auth::peer::{PEER_HEADER, SIBLING_HEADER};
use crate::auth::PeerSecret;
use crate::cache::CacheKeyBuilder;
use crate::metrics;

/// Rewrites the request sent to the origin.
pub fn prepare(
    req: &mut RequestHeader,
    ctx: &mut RequestCtx,
    keys: &CacheKeyBuilder,
    edge_id: &str,
    peer_secret: Option<&PeerSecret>,
) -> Result<()> {
    if let Some(origin) = &ctx.origin {
        req.insert_header(http::header::HOST, origin.host_header.as_str())?;
    }
    req.set_uri(origin_form(&req.uri, keys)?);
    remove_hop_by_hop(req);
    // a token route's cookies carry the viewer's token: never forwarded
    if ctx.route.as_ref().is_some_and(|r| r.tokens.is_some()) {
        req.remove_header(&http::header::COOKIE);
    }
    let loop_value = match req.headers.get("cdn-loop").and_then(|v| v.to_str().ok()) {
        Some(existing) if !existing.is_empty() => format!("{existing}, {edge_id}"),
        _ => edge_id.to_string(),
    };
    req.insert_header("CDN-Loop", loop_value)?;
    // what another edge said about itself is never passed on; this edge
    // signs for itself to the edges it fetches from
    req.remove_header(PEER_HEADER);
    req.remove_header(SIBLING_HEADER);
    let to_edge = ctx.origin.as_ref().is_some_and(|o| o.is_edge);
    if let (Some(secret), true) = (peer_secret, to_edge) {
        req.insert_header(PEER_HEADER, secret.sign(req.uri.path(), unix_now()))?;
    }
    if ctx.hop == Some(Hop::Sibling) {
        req.insert_header(SIBLING_HEADER, "1")?;
    }
    ctx.origin_sent_at = Some(Instant::now());
    Ok(())
}

/// The target the origin gets: origin-form (RFC 9112 3.2.1: `/path?query`,
/// never the absolute-form a client may have sent), token parameters removed.
fn origin_form(uri: &http::Uri, keys: &CacheKeyBuilder) -> Result<http::Uri> {
    let kept = keys.strip_tokens(uri.query());
    let path_and_query = if kept.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{kept}", uri.path())
    };
    http::Uri::builder()
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| {
            pingora::Error::because(
                pingora::ErrorType::InternalError,
                "rebuilding the origin URI",
                e,
            )
        })
}

/// Fields that describe this connection, not the request (RFC 9110 7.6.1):
/// the ones `Connection` names, then `Connection` itself and the fields that
/// are hop-by-hop by definition; and the framing of a body the edge never
/// forwards (`Content-Length`, `Expect`: admission refused any body).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "content-length",
    "expect",
];

fn remove_hop_by_hop(req: &mut RequestHeader) {
    let named: Vec<String> = req
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in named
        .iter()
        .map(String::as_str)
        .chain(HOP_BY_HOP.iter().copied())
    {
        req.remove_header(name);
    }
}

/// Counts an origin response and its latency.
pub fn record_response(ctx: &mut RequestCtx, status: u16) {
    if let Some(sent) = ctx.origin_sent_at {
        ctx.upstream_time = Some(sent.elapsed());
    }
    let outcome = match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    record(ctx, outcome);
}

/// Counts an origin request that failed before a response.
pub fn record_failure(ctx: &mut RequestCtx, outcome: &str) {
    tracing::warn!(
        route = ctx.route_name(),
        origin = ctx.origin.as_ref().map_or("", |o| o.name.as_str()),
        outcome,
        "origin request failed"
    );
    record(ctx, outcome);
}

fn record(ctx: &RequestCtx, outcome: &str) {
    let (Some(route), Some(origin)) = (&ctx.route, &ctx.origin) else {
        return;
    };
    let labels = [route.group.name.as_str(), origin.name.as_str()];
    metrics::ORIGIN_REQUESTS
        .with_label_values(&[labels[0], labels[1], outcome])
        .inc();
    if let Some(t) = ctx.upstream_time {
        metrics::ORIGIN_LATENCY
            .with_label_values(&labels)
            .observe(t.as_secs_f64());
    }
}
