//! Freshness rules that depend on the request, not only on the object.
//!
//! A live media playlist is "never served older than the request" (design
//! section 3): a request may be answered only by an origin response received
//! after it arrived, i.e. one that was in flight when it came or that it
//! triggered. The playlist is still written to storage so that the requests
//! waiting on Pingora's cache lock during a fill are served from it; a request
//! arriving after the fill completed finds it older than itself and forces
//! a new fetch (`ForceExpired` also turns off serving it stale).

use std::time::{Duration, SystemTime};

use pingora::cache::{CacheMeta, CachePhase, ForcedFreshness};
use pingora::proxy::Session;

use super::context::{CacheResult, RequestCtx};
use super::stored_class;
use crate::hls::ObjectClass;

/// The forced freshness of a stored object for this request, if any: a live
/// playlist last confirmed by its origin before the request arrived goes back
/// to the origin. Confirmed is when it was fetched, or when a 304 last said it
/// was still current (`updated`): the requests that waited for that 304 share it.
pub fn force_for_request(meta: &CacheMeta, ctx: &RequestCtx) -> Option<ForcedFreshness> {
    let live = matches!(
        stored_class(meta),
        Some(ObjectClass::LivePlaylist | ObjectClass::Playlist)
    );
    (ctx.class == ObjectClass::Playlist && live && meta.updated() < ctx.arrived)
        .then_some(ForcedFreshness::ForceExpired)
}

/// Settles the request's cache result and class once the response is known,
/// and returns the stored object's freshness lifetime when it has one.
pub fn settle(session: &Session, ctx: &mut RequestCtx) -> Option<Duration> {
    let cache = &session.cache;
    ctx.cache = match cache.phase() {
        CachePhase::Hit if cache.lock_duration().is_some() => CacheResult::Coalesced,
        CachePhase::Hit => CacheResult::Hit,
        CachePhase::Stale | CachePhase::StaleUpdating => CacheResult::Stale,
        CachePhase::Disabled(pingora::cache::NoCacheReason::NeverEnabled) => CacheResult::Bypass,
        _ if ctx.cache == CacheResult::Refused => CacheResult::Refused,
        _ => CacheResult::Miss,
    };
    let meta = cache.maybe_cache_meta()?;
    if matches!(
        ctx.cache,
        CacheResult::Hit | CacheResult::Coalesced | CacheResult::Stale
    ) {
        if let Some(class) = stored_class(meta) {
            if ctx.class == ObjectClass::Playlist {
                ctx.class = class;
            }
        }
        // a live playlist is only ever shared with requests that waited for it
        if ctx.class == ObjectClass::LivePlaylist && ctx.cache == CacheResult::Hit {
            ctx.cache = CacheResult::Coalesced;
        }
    }
    // a playlist fetched before its body was read has no lifetime of its own yet
    if ctx.class == ObjectClass::Playlist && ctx.cache == CacheResult::Miss {
        return None;
    }
    // the whole lifetime, upstream age included: caches below subtract `Age`
    // (to the nearest second: the epoch is stamped a moment after the lifetime)
    let lifetime = meta
        .fresh_until()
        .duration_since(meta.epoch())
        .ok()
        .map(|d| Duration::from_secs((d.as_millis() as u64 + 500) / 1000));
    if ctx.cache == CacheResult::Hit {
        ctx.remaining_ttl = meta.fresh_until().duration_since(SystemTime::now()).ok();
    }
    lifetime
}

/// A request answered by an error the edge wrote itself (every origin
/// failed) never reached `settle`: a cache-enabled one was a miss, and counts
/// as one in the hit ratio.
pub fn settle_failed(session: &Session, ctx: &mut RequestCtx) {
    let never_enabled = matches!(
        session.cache.phase(),
        CachePhase::Disabled(pingora::cache::NoCacheReason::NeverEnabled) | CachePhase::Uninit
    );
    if ctx.cache == CacheResult::Bypass && !never_enabled {
        ctx.cache = CacheResult::Miss;
    }
}

/// The `Age` of a response that came from an origin's cache (a shield, another CDN) and
/// is sent while this edge stores it: RFC 9111 5.1 asks the upstream age (plus the time
/// since) to go on. Hits get `Age` from Pingora; misses served from the fill being written
/// are built from the stored header, which keeps the age as the object's epoch instead.
pub fn upstream_age(session: &Session, resp: &pingora::http::ResponseHeader) -> Option<u64> {
    if resp.headers.contains_key(http::header::AGE) {
        return None;
    }
    let meta = session.cache.maybe_cache_meta()?;
    meta.epoch_override().map(|_| meta.age().as_secs())
}
