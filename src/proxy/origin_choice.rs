//! `upstream_peer` and the failure hooks (design section 5): which origin a
//! request tries next, when a failure is retried elsewhere, and what the
//! origin group learns from each try.
//!
//! - A segment of a sharded group goes first to the sibling edge that owns it
//!   (unless it came from a sibling); if that edge fails, to the origins.
//! - Otherwise `OriginGroup::select` ranks the origins the request has not
//!   tried (priority, health, weight; for playlists, freshness).
//! - Connect errors, timeouts, 5xx and, for segments, a 404 are retried on
//!   the next origin while nothing has been sent to the player; GET and HEAD
//!   only (the edge refuses other methods). Each origin at most once.
//! - A body cut short after the player got the header cannot be retried for
//!   that request; the player's retry of the object starts at another origin.
//! - Every outcome is reported to the group's health and counted.

use std::time::Instant;

use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::context::{Hop, RequestCtx};
use crate::metrics;
use crate::upstream::{Outcome, Owner, SelectFor};

/// The peer for the request's next try.
pub fn next_peer(ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
    let route = ctx
        .route
        .clone()
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route"))?;
    let group = &route.group;
    if shards_here(ctx) && ctx.hop.is_none() {
        if let Owner::Peer(owner) = group.owner(&ctx.shard_key) {
            ctx.hop = Some(Hop::Sibling);
            ctx.origin = Some(owner.clone());
            return Ok(owner.peer());
        }
    }
    if ctx.tried.is_empty() && ctx.class.is_media() {
        // the player is retrying an object an origin cut short: start
        // elsewhere (that origin stays last, as an untried fallback)
        if let Some(cut) = group.cut_short(&ctx.shard_key) {
            let others = group.select(&[cut], select_for(ctx), Instant::now());
            if let Some((index, origin)) = others {
                ctx.tried.push(index);
                ctx.hop = Some(Hop::Origin(index));
                ctx.origin = Some(origin.clone());
                return Ok(origin.peer());
            }
        }
    }
    let chosen = group.select(&ctx.tried, select_for(ctx), Instant::now());
    let Some((index, origin)) = chosen else {
        return Error::e_explain(
            ErrorType::ConnectNoRoute,
            format!("every origin of group '{}' failed", group.name),
        );
    };
    ctx.tried.push(index);
    ctx.hop = Some(Hop::Origin(index));
    ctx.origin = Some(origin.clone());
    Ok(origin.peer())
}

/// Whether the request is a segment of a sharded group that this edge did
/// not get from a sibling.
fn shards_here(ctx: &RequestCtx) -> bool {
    ctx.class.is_media()
        && !ctx.from_sibling
        && ctx
            .route
            .as_ref()
            .is_some_and(|r| r.group.siblings().is_some())
}

fn select_for(ctx: &RequestCtx) -> SelectFor<'_> {
    match &ctx.stream_key {
        Some(key) => SelectFor::Playlist { stream_key: key },
        None => SelectFor::Segment,
    }
}

/// Whether another try is possible after the current one.
fn can_retry(ctx: &RequestCtx) -> bool {
    ctx.route.as_ref().is_some_and(|r| {
        r.group
            .has_untried(&ctx.tried, select_for(ctx), Instant::now())
    })
}

/// A connection to the current peer could not be made: report it, and retry
/// elsewhere when possible.
pub fn connect_failed(ctx: &mut RequestCtx, e: &Error) -> bool {
    failed(ctx, Outcome::of_error(&e.etype), "connect-error")
}

/// The current peer failed after the connection (read timeout, broken or cut
/// body). Retried only while nothing was sent to the player.
pub fn proxy_failed(ctx: &mut RequestCtx, e: &Error, response_written: bool) -> bool {
    let outcome = match Outcome::of_error(&e.etype) {
        Outcome::Timeout => Outcome::Timeout,
        _ => Outcome::Truncated,
    };
    let retry = failed(ctx, outcome, "proxy-error");
    if response_written && ctx.class.is_media() {
        if let (Some(route), Some(Hop::Origin(i))) = (&ctx.route, ctx.hop) {
            route.group.note_cut_short(&ctx.shard_key, i);
        }
    }
    retry && !response_written
}

fn failed(ctx: &mut RequestCtx, outcome: Outcome, metric_outcome: &str) -> bool {
    super::upstream_request::record_failure(ctx, metric_outcome);
    report(ctx, outcome);
    let retry = can_retry(ctx);
    if retry {
        count_failover(ctx, outcome.label());
    }
    retry
}

/// The current peer answered with `status`: report it, and return the error
/// that makes Pingora retry elsewhere when the answer should not reach the
/// player (a 5xx, or a segment's 404 another origin may not have).
pub fn response_received(
    ctx: &mut RequestCtx,
    status: u16,
    response_written: bool,
) -> Option<Box<Error>> {
    let took = ctx.upstream_time.unwrap_or_default();
    let route = ctx.route.clone()?;
    let outcome = route.group.outcome_of_response(status, took);
    report(ctx, outcome);
    if response_written {
        return None;
    }
    let reason = match (status, ctx.hop) {
        (500..=599, _) => "5xx",
        // a sibling's 404 is its origin's answer, not a reason to ask again
        (404, Some(Hop::Origin(_))) if route.group.retries_404(select_for(ctx), &ctx.tried) => {
            "404"
        }
        _ => return None,
    };
    // a failed sibling falls back to the origins; a failed origin to the next
    let next = matches!(ctx.hop, Some(Hop::Sibling)) || can_retry(ctx);
    if !next {
        return None;
    }
    count_failover(ctx, reason);
    let mut e = Error::explain(
        ErrorType::HTTPStatus(status),
        "origin answer not usable, trying the next origin",
    );
    e.set_retry(true);
    Some(e)
}

fn report(ctx: &RequestCtx, outcome: Outcome) {
    match (&ctx.route, ctx.hop) {
        (Some(route), Some(Hop::Origin(i))) => route.group.report(i, outcome, Instant::now()),
        (Some(_), Some(Hop::Sibling)) if outcome.is_failure() => {
            tracing::warn!(
                sibling = ctx.origin.as_ref().map_or("", |o| o.name.as_str()),
                outcome = outcome.label(),
                "sibling edge failed, fetching from the origins"
            );
        }
        _ => {}
    }
}

fn count_failover(ctx: &RequestCtx, reason: &str) {
    let (Some(route), Some(origin)) = (&ctx.route, &ctx.origin) else {
        return;
    };
    tracing::warn!(
        group = %route.group.name,
        origin = %origin.name,
        reason,
        path = %ctx.shard_key,
        "failing over to another origin"
    );
    metrics::ORIGIN_FAILOVERS
        .with_label_values(&[route.group.name.as_str(), origin.name.as_str(), reason])
        .inc();
}
