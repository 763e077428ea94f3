//! LL-HLS at the edge (rfc8216bis 6.2.5.2, 6.2.6, appendix B.1): what the edge does
//! differently for blocking playlist requests (`_HLS_msn`) and partial segments.
//!
//! - A request path an LL playlist lists as a part (`EXT-X-PART`) is a `part`; one it only
//!   hints (`EXT-X-PRELOAD-HINT`) is a part the origin will hold until it exists.
//! - A blocking request may be held by the origin up to 3 target durations (the origin
//!   answers 503 past that): the upstream read timeout and the wait on a coalesced fill are
//!   stretched to cover it, so a legitimate hold is never cut. A blocking request that the
//!   origin still has not answered then is answered 503 by the edge itself, as the origin
//!   should have, and is not retried elsewhere (it would wait as long again).
//! - Identical blocking requests, and requests for the same hinted part, coalesce on one
//!   origin request (Pingora's cache lock; parts are read while the fill is written).

use std::time::Duration;

use pingora::upstreams::peer::HttpPeer;

use super::context::{CacheResult, RequestCtx};
use crate::hls::ObjectClass;
use crate::metrics;
use crate::streams::{stream_of, PartKind, StreamBook};

/// Beyond the 3 target durations an origin may hold a blocking request.
const HOLD_MARGIN: Duration = Duration::from_secs(2);
/// The hold allowed when the stream's target duration is not known yet.
const UNKNOWN_HOLD: Duration = Duration::from_secs(20);

/// Labels a request for an LL-HLS part (the playlists said so).
pub fn classify(ctx: &mut RequestCtx, book: &StreamBook) {
    if ctx.class != ObjectClass::Segment {
        return;
    }
    match book.parts.kind(&ctx.shard_key) {
        Some(PartKind::Listed) => ctx.class = ObjectClass::PartialSegment,
        Some(PartKind::Hinted) => {
            ctx.class = ObjectClass::PartialSegment;
            ctx.hinted_part = true;
        }
        None => {}
    }
}

/// How long the origin may hold this blocking request (`None`: not a blocking request).
pub fn hold_limit(ctx: &RequestCtx, book: &StreamBook) -> Option<Duration> {
    if ctx.class != ObjectClass::BlockingPlaylist {
        return None;
    }
    let target = ctx.route.as_ref().and_then(|route| {
        let stream = stream_of(&route.name, &route.prefix, &ctx.shard_key)?;
        book.target_duration(stream, &ctx.shard_key)
    });
    Some(target.map_or(UNKNOWN_HOLD, |t| t * 3 + HOLD_MARGIN))
}

/// Stretches the peer's read timeout over the hold a blocking request may get.
pub fn stretch_timeouts(peer: &mut HttpPeer, hold: Option<Duration>) {
    if let Some(hold) = hold {
        let read = peer.options.read_timeout.unwrap_or_default().max(hold);
        peer.options.read_timeout = Some(read);
    }
}

/// Whether a failure of this request is answered 503 rather than retried: a blocking
/// request the origin did not answer within the hold.
pub fn hold_expired(ctx: &RequestCtx, timed_out: bool) -> bool {
    timed_out && ctx.class == ObjectClass::BlockingPlaylist
}

/// Counts a blocking or hinted-part request once its answer's header is known.
pub fn answered(ctx: &RequestCtx) {
    let waited = ctx.started.elapsed().as_secs_f64();
    let cache = match ctx.cache {
        CacheResult::Refused => return,
        other => other.label(),
    };
    if ctx.class == ObjectClass::BlockingPlaylist {
        metrics::BLOCKING_REQUESTS.with_label_values(&[cache]).inc();
        metrics::BLOCKING_HOLD.observe(waited);
    } else if ctx.hinted_part {
        metrics::PRELOAD_HINT_REQUESTS
            .with_label_values(&[cache])
            .inc();
        metrics::PRELOAD_HINT_WAIT.observe(waited);
    }
}
