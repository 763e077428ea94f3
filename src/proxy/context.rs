//! What the edge remembers about one request across Pingora's phases.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::playback_tokens::Admitted;
use super::playlist_tokens::PlaylistRewrite;
use crate::hls::ObjectClass;
use crate::routing::Route;
use crate::upstream::Origin;

/// How the cache answered a request (RFC 9211 vocabulary, and the `cache`
/// metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    /// Served from a stored object that was complete before the request.
    Hit,
    /// Waited for another request's fill and was served from it.
    Coalesced,
    /// Went to the origin.
    Miss,
    /// A stored object past its freshness was served (stale-if-error).
    Stale,
    /// The cache is not used for this class of object.
    Bypass,
    /// Refused before the cache (loop, no route, bad request).
    Refused,
}

impl CacheResult {
    pub fn label(self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::Coalesced => "coalesced",
            CacheResult::Miss => "miss",
            CacheResult::Stale => "stale",
            CacheResult::Bypass => "bypass",
            CacheResult::Refused => "refused",
        }
    }
}

/// Per-request state.
pub struct RequestCtx {
    /// When the request arrived: a live playlist is answered only by an
    /// origin response received after this instant.
    pub arrived: SystemTime,
    pub started: Instant,
    pub route: Option<Arc<Route>>,
    pub class: ObjectClass,
    pub cache: CacheResult,
    /// Origins tried so far (each at most once).
    pub attempts: usize,
    pub origin: Option<Arc<Origin>>,
    pub origin_sent_at: Option<Instant>,
    /// Time to the origin's response header.
    pub upstream_time: Option<std::time::Duration>,
    /// The response is being written to the cache.
    pub storing: bool,
    /// Freshness left on the stored object served to this request.
    pub remaining_ttl: Option<std::time::Duration>,
    pub body_bytes: usize,
    /// A fetched playlist's body, kept until it can be classified.
    pub playlist_body: Vec<u8>,
    /// The request's verified playback token (token routes only).
    pub token: Option<Admitted>,
    /// A playlist body being rewritten with the session token.
    pub rewrite: Option<PlaylistRewrite>,
}

impl RequestCtx {
    pub fn new() -> Self {
        RequestCtx {
            arrived: SystemTime::now(),
            started: Instant::now(),
            route: None,
            class: ObjectClass::Other,
            cache: CacheResult::Bypass,
            attempts: 0,
            origin: None,
            origin_sent_at: None,
            upstream_time: None,
            storing: false,
            remaining_ttl: None,
            body_bytes: 0,
            playlist_body: Vec::new(),
            token: None,
            rewrite: None,
        }
    }

    /// Whether the route's group has an origin this request has not tried.
    pub fn has_untried_origin(&self) -> bool {
        self.route
            .as_ref()
            .is_some_and(|r| r.group.pick(self.attempts).is_some())
    }

    /// The session id of the request's token, if any (access log).
    pub fn session_id(&self) -> Option<&str> {
        self.token.as_ref().and_then(|t| t.session_id())
    }

    pub fn route_name(&self) -> &str {
        self.route.as_ref().map_or("none", |r| r.name.as_str())
    }
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self::new()
    }
}
