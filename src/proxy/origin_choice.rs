//! `upstream_peer` and the failure hooks (design section 5): which origin a
//! request tries next, when a failure is retried elsewhere, and what the
//! origin group learns from each try.
//!
//! - A segment of a sharded group goes first to the sibling edge that owns it
//!   (unless it came from a sibling); if that edge fails, to the origins.
//! - Otherwise `OriginGroup::select` ranks the origins the request has not
//!   tried (priority, health of the request's kind of traffic, weight; for
//!   playlists, what the stream book knows of each origin's copy).
//! - Connect errors, timeouts, 5xx and, for segments, a 404 are retried on
//!   the next origin while nothing has been sent to the player; GET and HEAD
//!   only (the edge refuses other methods). Each origin at most once.
//! - A body cut short after the player got the header cannot be retried for
//!   that request; the player's retry of the object starts at another origin.
//! - Every outcome is reported to the group's health and counted once. A
//!   segment 404 retried elsewhere counts against its origin only when another
//!   origin then has the segment (`missing`); if none has it, it was a future
//!   segment and nobody failed.

use std::time::Instant;

use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::context::{Hop, RequestCtx};
use crate::metrics;
use crate::streams::{stream_of, StreamBook};
use crate::upstream::{Outcome, Owner, SelectFor};

/// The peer for the request's next try.
pub fn next_peer(ctx: &mut RequestCtx, book: &StreamBook) -> Result<Box<HttpPeer>> {
    let route = ctx
        .route
        .clone()
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route"))?;
    let group = &route.group;
    if ctx.class.is_playlist() && group.origins.len() > 1 {
        let stream = stream_of(&route.name, &route.prefix, &ctx.shard_key);
        ctx.playlist_progress = stream
            .and_then(|s| book.origin_progress(s, &ctx.shard_key, Instant::now()))
            .unwrap_or_default();
    }
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
    if ctx.class.is_playlist() {
        SelectFor::Playlist(&ctx.playlist_progress)
    } else {
        SelectFor::Segment
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
    let outcome = Outcome::of_error(&e.etype).unwrap_or(Outcome::ConnectError);
    failed(ctx, outcome, "connect-error", true)
}

/// The current peer failed after the connection (read timeout, broken or cut
/// body). Retried only while nothing was sent to the player.
pub fn proxy_failed(ctx: &mut RequestCtx, e: &Error, response_written: bool) -> bool {
    let outcome = match Outcome::of_error(&e.etype) {
        // the proxy's own retry of an answer `response_received` already
        // reported and counted
        None => return !response_written,
        Some(Outcome::Timeout) => Outcome::Timeout,
        Some(_) => Outcome::Truncated,
    };
    // a blocking request the origin held too long is answered 503, not asked again
    let retry = if super::low_latency::hold_expired(ctx, outcome == Outcome::Timeout) {
        super::upstream_request::record_failure(ctx, "proxy-error");
        report(ctx, outcome);
        false
    } else {
        // a body cut after the player got the header is not retried (it may be
        // completed by `media_resume`): no failover to count
        failed(ctx, outcome, "proxy-error", !response_written)
    };
    // the player's next request for it starts elsewhere, whether this one was
    // retried (cut before its header went out) or completed or aborted after
    if outcome == Outcome::Truncated && ctx.class.is_media() {
        if let (Some(route), Some(Hop::Origin(i))) = (&ctx.route, ctx.hop) {
            route.group.note_cut_short(&ctx.shard_key, i);
        }
    }
    retry && !response_written
}

fn failed(ctx: &mut RequestCtx, outcome: Outcome, metric_outcome: &str, retriable: bool) -> bool {
    ctx.answer_outcome = None;
    super::upstream_request::record_failure(ctx, metric_outcome);
    report(ctx, outcome);
    let retry = retriable && can_retry(ctx);
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
    settle_pending_404(ctx, status);
    if let (200 | 304, Some(Hop::Origin(i))) = (status, ctx.hop) {
        ctx.answered_by = Some(i);
    }
    if response_written {
        ctx.answer_outcome = Some(route.group.outcome_of_response(status, took));
        return None;
    }
    let reason = match (status, ctx.hop) {
        (500..=599, _) => "5xx",
        // a sibling's 404 is its origin's answer, not a reason to ask again
        (404, Some(Hop::Origin(_))) if route.group.retries_404(select_for(ctx), &ctx.tried) => {
            "404"
        }
        _ => {
            // judged once the body is through: a cut one is a failure
            ctx.answer_outcome = Some(route.group.outcome_of_response(status, took));
            return None;
        }
    };
    // a failed sibling falls back to the origins; a failed origin to the next
    let next = matches!(ctx.hop, Some(Hop::Sibling)) || can_retry(ctx);
    match (reason, next) {
        // whether this origin missed a segment others have is known later
        ("404", true) => ctx.pending_404 = hop_origin(ctx),
        _ => report(ctx, route.group.outcome_of_response(status, took)),
    }
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

/// The exchange with the current origin ended without failing: its answer's
/// outcome (ok or slow) is reported now, once (called from `logging`).
pub fn finished(ctx: &mut RequestCtx) {
    if let Some(outcome) = ctx.answer_outcome.take() {
        report(ctx, outcome);
    }
}

fn hop_origin(ctx: &RequestCtx) -> Option<usize> {
    match ctx.hop {
        Some(Hop::Origin(i)) => Some(i),
        _ => None,
    }
}

/// An earlier origin's segment 404 is judged by the next answer: the segment
/// there means it was missing at that origin; a 404 again means it does not
/// exist yet, and nobody failed.
fn settle_pending_404(ctx: &mut RequestCtx, status: u16) {
    let outcome = match status {
        200..=299 => Outcome::Missing,
        404 | 410 => Outcome::Ok,
        _ => return,
    };
    let (Some(index), Some(route)) = (ctx.pending_404.take(), &ctx.route) else {
        return;
    };
    if outcome == Outcome::Missing {
        tracing::warn!(group = %route.group.name, origin = %route.group.origins[index].name, path = %ctx.shard_key, "segment missing at an origin that another origin has");
    }
    route.group.report(
        index,
        Some(select_for(ctx).traffic()),
        outcome,
        Instant::now(),
    );
}

fn report(ctx: &RequestCtx, outcome: Outcome) {
    match (&ctx.route, ctx.hop) {
        (Some(route), Some(Hop::Origin(i))) => {
            let traffic = select_for(ctx).traffic();
            route
                .group
                .report(i, Some(traffic), outcome, Instant::now())
        }
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
