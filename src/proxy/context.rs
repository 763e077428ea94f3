//! What the edge remembers about one request across Pingora's phases.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::last_chunk::LastChunk;
use super::media_resume::MediaValidators;
use super::playback_tokens::Admitted;
use super::playlist_response::PlaylistResponse;
use crate::hls::ObjectClass;
use crate::routing::Route;
use crate::streams::OriginProgress;
use crate::upstream::Origin;
use pingora::http::RequestHeader;

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

/// Where the request's current try went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// The origin at this index of the route's group.
    Origin(usize),
    /// The sibling edge that owns the segment.
    Sibling,
}

/// Per-request state.
pub struct RequestCtx {
    /// When the request arrived: a live playlist is answered only by an
    /// origin response received after this instant.
    pub arrived: SystemTime,
    pub started: Instant,
    pub route: Option<Arc<Route>>,
    pub class: ObjectClass,
    /// For a playlist fetched before its body tells its class: the class its key had
    /// at its last fill, for the response's `Cache-Control`.
    pub decor_class: Option<ObjectClass>,
    pub cache: CacheResult,
    /// Indices (in the route's group) of the origins tried so far; each is
    /// tried at most once.
    pub tried: Vec<usize>,
    /// The current try.
    pub hop: Option<Hop>,
    /// The origin (or sibling edge) of the current try.
    pub origin: Option<Arc<Origin>>,
    /// An LL-HLS part the latest playlist only hinted (`EXT-X-PRELOAD-HINT`).
    pub hinted_part: bool,
    /// The request came from a sibling edge: it is fetched from the origins,
    /// never forwarded to another sibling.
    pub from_sibling: bool,
    /// The request came from another edge with a valid peer signature.
    pub from_peer: bool,
    /// For playlist requests: what the stream book knows of each origin's copy of
    /// the playlist, read when an origin is chosen.
    pub playlist_progress: Vec<OriginProgress>,
    /// The origin (index in the route's group) that answered this request with a
    /// 200 or a 304: the playlist sent is that origin's word.
    pub answered_by: Option<usize>,
    /// A `304 Not Modified` from the origin: its fields freshen the stored header
    /// (RFC 9111 4.3.4) when the policy admits the merged response.
    pub not_modified: Option<Box<pingora::http::ResponseHeader>>,
    /// The outcome of the current origin's answer (ok or slow), reported once its
    /// body is through (a body cut short reports a failure instead).
    pub answer_outcome: Option<crate::upstream::Outcome>,
    /// An origin whose segment 404 was retried elsewhere: whether it was a miss of
    /// its own (another origin has the segment) is known from the next answer.
    pub pending_404: Option<usize>,
    /// The compression module was turned on for this response (`delivery`):
    /// only then are its counters read when the request is logged.
    pub compressing: bool,
    /// The token-free path: the key siblings shard on.
    pub shard_key: String,
    /// The path exactly as the client sent it, kept before the edge changes
    /// the request's path (normalisation, a path-placed token taken out) or
    /// reads a token route's path tokens; `None` while the request's path is
    /// still the one sent (read it with [`RequestCtx::sent_path`]; logged only
    /// through `crate::redaction`).
    pub sent_path: Option<String>,
    pub origin_sent_at: Option<Instant>,
    /// Time to the origin's response header.
    pub upstream_time: Option<std::time::Duration>,
    /// The response is being written to the cache.
    pub storing: bool,
    /// Freshness left on the stored object served to this request.
    pub remaining_ttl: Option<std::time::Duration>,
    pub body_bytes: usize,
    /// The piece of an HTTP/2 hit's body that goes out with its end.
    pub last_chunk: LastChunk,
    /// The request's verified playback token (token routes only).
    pub token: Option<Admitted>,
    /// A playlist response on its one path: held, read once, guarded, rewritten.
    pub playlist: Option<PlaylistResponse>,
    /// A media response going to the player whole: what identifies it, should
    /// its origin cut it short (`media_resume`).
    pub resume: Option<MediaValidators>,
    /// Its body was cut and completed from another origin.
    pub resumed: bool,
    /// The tag of the fill this request writes, given with its cache meta.
    pub fill_tag: Option<crate::cache::storage::FillTag>,
    /// A media fill this request wrote, abandoned by a cut before its header went out,
    /// completed from the retried origin's answer (`media_resume::feed`).
    pub orphan: Option<crate::cache::storage::AdoptedFill>,
    /// Bytes of the retried origin's body seen so far.
    pub orphan_offset: usize,
    /// Held from choosing an HTTP/2 origin until connected to it
    /// (`Origin::connection_turn`).
    pub connection_turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl RequestCtx {
    pub fn new() -> Self {
        RequestCtx {
            arrived: SystemTime::now(),
            started: Instant::now(),
            route: None,
            class: ObjectClass::Other,
            decor_class: None,
            cache: CacheResult::Bypass,
            tried: Vec::new(),
            hop: None,
            origin: None,
            hinted_part: false,
            from_sibling: false,
            from_peer: false,
            playlist_progress: Vec::new(),
            answered_by: None,
            not_modified: None,
            answer_outcome: None,
            pending_404: None,
            compressing: false,
            shard_key: String::new(),
            sent_path: None,
            origin_sent_at: None,
            upstream_time: None,
            storing: false,
            remaining_ttl: None,
            body_bytes: 0,
            last_chunk: LastChunk::default(),
            token: None,
            playlist: None,
            resume: None,
            resumed: false,
            fill_tag: None,
            orphan: None,
            orphan_offset: 0,
            connection_turn: None,
        }
    }

    /// The session id of the request's token, if any (access log).
    pub fn session_id(&self) -> Option<&str> {
        self.token.as_ref().and_then(|t| t.session_id())
    }

    /// The path as the client sent it, given the request as it is now.
    pub fn sent_path<'a>(&'a self, req: &'a RequestHeader) -> &'a str {
        self.sent_path.as_deref().unwrap_or_else(|| req.uri.path())
    }

    /// Keeps the path as sent, before the edge changes it (once: the first
    /// change is the one that matters).
    pub fn keep_sent_path(&mut self, req: &RequestHeader) {
        if self.sent_path.is_none() {
            self.sent_path = Some(req.uri.path().to_string());
        }
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
