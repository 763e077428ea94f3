//! The HLS cache policy (design section 3) as pure functions: what is stored, for how
//! long, and what players are told. Time is always passed in.
//!
//! The origin's directives (`directives.rs`: RFC 9111, RFC 9213) apply on top of the HLS
//! table; the stricter wins, and the table's lifetimes fill in only where the origin gives
//! none:
//!
//! | object | stored | lifetime | downstream Cache-Control |
//! |---|---|---|---|
//! | segment, part, init (200) | unless the origin forbids it | origin's, else `segment_ttl` | `public, max-age=N, immutable` |
//! | live media playlist | only to share one in-flight fetch (see `proxy`) | 1.5 x target duration (never served older than the request) | `no-cache` or `max-age=live_playlist_max_age` |
//! | VOD / ended playlist | unless the origin forbids it | origin's, else `vod_playlist_ttl` | `public, max-age=N` |
//! | multivariant playlist | unless the origin forbids it | origin's, else `master_playlist_ttl` | `public, max-age=N` |
//! | blocking playlist (`_HLS_msn`) | unless the origin forbids it | origin's, else 6 x target duration (rfc8216bis B.1) | `public, max-age=N` |
//! | anything else (`cache.other: rfc9111`) | only with an origin lifetime (no heuristics) | origin's | origin's |
//! | 404, 410, 5xx, unframed body | never | - | `no-store` |
//!
//! The origin forbids storing with `no-store` or `private` (in the field that governs this
//! edge), `Vary: *`, a `Set-Cookie` (unless `cache.set_cookie: strip`), or by answering a
//! request that carried `Authorization` without `public`, `s-maxage` or `must-revalidate`
//! (RFC 9111 3.5). `no-cache` stores with a lifetime of zero: every use revalidates.
//! An upstream `Age` counts against the lifetime and is carried on (RFC 9111 4.2.3).

use std::time::{Duration, SystemTime};

use pingora::cache::CacheMeta;
use pingora::http::ResponseHeader;

use super::directives::{Downstream, OriginDirectives, Vary};
use super::storage::StoredClass;
use crate::config::{CacheSettings, OtherObjects, SetCookie};
use crate::decimal::{decimal_len, push_decimal};
use crate::hls::{ObjectClass, PlaylistSummary};

/// Why a response is not stored (a bounded set: it is a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoStore {
    /// 404/410: a segment that does not exist *yet* must not be remembered.
    NotFound,
    /// Any other non-200 status.
    Status,
    /// No Content-Length and not chunked: a cut-short body could not be told
    /// from a complete one.
    Unframed,
    /// The origin said `no-store` or `private`.
    OriginNoStore,
    /// The request carried `Authorization` and the origin did not allow sharing.
    Authorization,
    /// `Vary: *`.
    VaryAny,
    /// The response sets a cookie (`cache.set_cookie: refuse`).
    SetCookie,
    /// An object of another kind without a lifetime from the origin.
    NoLifetime,
}

impl NoStore {
    pub fn reason(self) -> &'static str {
        match self {
            NoStore::NotFound => "not-found",
            NoStore::Status => "status",
            NoStore::Unframed => "unframed",
            NoStore::OriginNoStore => "origin-no-store",
            NoStore::Authorization => "authorization",
            NoStore::VaryAny => "vary-any",
            NoStore::SetCookie => "set-cookie",
            NoStore::NoLifetime => "no-lifetime",
        }
    }
}

/// What the policy decided from the header, carried with the object until its body is
/// known (playlists) and kept for revalidations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorePlan {
    /// The lifetime the origin gave (`None`: none, or the route overrides it).
    pub origin_lifetime: Option<Duration>,
    /// The origin's stale-if-error (`Some(ZERO)`: it forbade serving stale).
    pub origin_stale_if_error: Option<Duration>,
    /// The upstream `Age` when it arrived.
    pub age: Duration,
}

/// What the policy knows of the request a response answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request {
    /// It carried `Authorization` (RFC 9111 3.5).
    pub authorization: bool,
    /// Its route stores for the HLS lifetimes whatever the origin says (`override_origin_ttl`).
    pub override_origin_ttl: bool,
}

/// The cache policy with its configured lifetimes.
#[derive(Debug, Clone)]
pub struct CachePolicy {
    settings: CacheSettings,
}

/// How long a playlist that has not been classified yet is held before
/// `refine_meta` sets its real lifetime.
const PROVISIONAL: Duration = Duration::from_secs(60);

impl CachePolicy {
    pub fn new(settings: CacheSettings) -> Self {
        CachePolicy { settings }
    }

    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// Whether the cache is used at all for a request of this class.
    pub fn caches(&self, class: ObjectClass) -> bool {
        class.is_media() || class.is_playlist() || self.settings.other == OtherObjects::Rfc9111
    }

    /// The origin's directives in `resp`, read the way this edge reads them.
    pub fn directives(&self, resp: &ResponseHeader, now: SystemTime) -> OriginDirectives {
        OriginDirectives::read(resp, self.settings.targeted_field.as_ref(), now)
    }

    /// Decides, from the response header alone, whether to store a response.
    pub fn admit(
        &self,
        class: ObjectClass,
        resp: &ResponseHeader,
        request: Request,
        now: SystemTime,
    ) -> Result<CacheMeta, NoStore> {
        match resp.status.as_u16() {
            200 => {}
            404 | 410 => return Err(NoStore::NotFound),
            _ => return Err(NoStore::Status),
        }
        if !is_framed(resp) {
            return Err(NoStore::Unframed);
        }
        let origin = self.directives(resp, now);
        self.storable(&origin, request)?;
        let plan = StorePlan {
            origin_lifetime: origin.lifetime().filter(|_| !request.override_origin_ttl),
            origin_stale_if_error: origin.stale_if_error(),
            age: origin.age,
        };
        let (lifetime, stale_if_error) = if class.is_media() {
            let sie = plan
                .origin_stale_if_error
                .unwrap_or(self.settings.stale_if_error);
            (
                plan.origin_lifetime.unwrap_or(self.settings.segment_ttl),
                sie,
            )
        } else if class.is_playlist() {
            (PROVISIONAL, Duration::ZERO)
        } else {
            let lifetime = origin.lifetime().ok_or(NoStore::NoLifetime)?;
            (
                lifetime,
                plan.origin_stale_if_error.unwrap_or(Duration::ZERO),
            )
        };
        let mut header = resp.clone();
        // the age is kept as the object's epoch, and a 304's own Age replaces it
        header.remove_header(&http::header::AGE);
        if self.settings.set_cookie == SetCookie::Strip {
            header.remove_header(&http::header::SET_COOKIE);
        }
        let fresh_until = fresh_until(now, lifetime, plan.age);
        let mut meta = CacheMeta::new(fresh_until, now, 0, secs(stale_if_error), header);
        if !plan.age.is_zero() {
            meta.set_epoch_override(now.checked_sub(plan.age).unwrap_or(now));
        }
        meta.extensions_mut().insert(StoredClass(class));
        meta.extensions_mut().insert(plan);
        Ok(meta)
    }

    /// Whether the origin lets a shared cache store it (see the module docs).
    fn storable(&self, origin: &OriginDirectives, request: Request) -> Result<(), NoStore> {
        if !origin.storable(false) {
            Err(NoStore::OriginNoStore)
        } else if !origin.storable(request.authorization) {
            Err(NoStore::Authorization)
        } else if origin.vary == Vary::Any {
            Err(NoStore::VaryAny)
        } else if origin.sets_cookie && self.settings.set_cookie == SetCookie::Refuse {
            Err(NoStore::SetCookie)
        } else {
            Ok(())
        }
    }

    /// Sets the lifetime of a playlist once its body is known (called by the storage
    /// when the fill completes, and when a 304 freshens it), from its class and summary
    /// and the origin's word, counted from now. Media and other objects keep theirs.
    pub fn refine_meta(
        &self,
        meta: &mut CacheMeta,
        class: ObjectClass,
        summary: Option<&PlaylistSummary>,
    ) {
        let plan = meta
            .extensions()
            .get::<StorePlan>()
            .copied()
            .unwrap_or(StorePlan {
                origin_lifetime: None,
                origin_stale_if_error: None,
                age: Duration::ZERO,
            });
        let target = summary.map_or(Duration::from_secs(2), |s| s.target_duration);
        let s = &self.settings;
        let (default, stale_if_error) = match class {
            // never served older than the request whatever the lifetime: it is
            // kept only to share one fetch
            ObjectClass::LivePlaylist => {
                let now = SystemTime::now();
                meta.update_freshness(now + target * 3 / 2, 0, 0);
                return;
            }
            ObjectClass::VodPlaylist => (s.vod_playlist_ttl, s.stale_if_error),
            ObjectClass::MultivariantPlaylist => (s.master_playlist_ttl, s.stale_if_error),
            ObjectClass::BlockingPlaylist => (target * 6, Duration::ZERO),
            ObjectClass::Playlist => (Duration::ZERO, Duration::ZERO),
            _ => return,
        };
        let lifetime = plan.origin_lifetime.unwrap_or(default);
        let sie = plan.origin_stale_if_error.unwrap_or(stale_if_error);
        let now = SystemTime::now();
        meta.update_freshness(fresh_until(now, lifetime, plan.age), 0, secs(sie));
    }

    /// The `Cache-Control` players and downstream caches are told, or `None` to pass the
    /// origin's through. `lifetime` is the stored object's freshness lifetime (downstream
    /// caches subtract `Age` themselves); `audience` says whether shared caches in front
    /// may keep it; `origin` is what the origin told them.
    pub fn downstream_cache_control(
        &self,
        class: ObjectClass,
        status: u16,
        lifetime: Option<Duration>,
        audience: Audience,
        origin: Downstream,
    ) -> Option<String> {
        let ours = class.is_media() || class.is_playlist();
        if status != 200 && status != 206 && status != 304 {
            return ours.then(|| "no-store".to_string());
        }
        let scope = audience.directive();
        match origin {
            Downstream::NoStore if ours => return Some("no-store".to_string()),
            Downstream::Private => return None,
            Downstream::NoCache if ours => {
                return Some(match audience {
                    Audience::Shared => "no-cache".to_string(),
                    Audience::Player => "private, no-cache".to_string(),
                })
            }
            _ => {}
        }
        let cap = |d: Duration| match origin {
            Downstream::MaxAge(max) => d.min(max).as_secs(),
            _ => d.as_secs(),
        };
        let s = &self.settings;
        let plain = |secs: u64| max_age(scope, secs, "");
        Some(match class {
            c if c.is_media() => {
                max_age(scope, cap(lifetime.unwrap_or(s.segment_ttl)), ", immutable")
            }
            // not classified yet (its body is on its way): the origin's own lifetime
            // if it gave one, else as strict as a live playlist
            ObjectClass::Playlist if matches!(origin, Downstream::MaxAge(_)) => {
                plain(cap(Duration::MAX))
            }
            ObjectClass::LivePlaylist | ObjectClass::Playlist => match cap(s.live_playlist_max_age)
            {
                0 => "no-cache".to_string(),
                age => plain(age),
            },
            ObjectClass::VodPlaylist => plain(cap(lifetime.unwrap_or(s.vod_playlist_ttl))),
            ObjectClass::MultivariantPlaylist => {
                plain(cap(lifetime.unwrap_or(s.master_playlist_ttl)))
            }
            ObjectClass::BlockingPlaylist => plain(cap(lifetime.unwrap_or(Duration::from_secs(1)))),
            _ => return None,
        })
    }
}

/// `{scope}, max-age={secs}{suffix}`, in one allocation of exactly its
/// length (built for every response; see `proxy::fields::value`).
fn max_age(scope: &str, secs: u64, suffix: &str) -> String {
    const MAX_AGE: &str = ", max-age=";
    let len = scope.len() + MAX_AGE.len() + decimal_len(secs) + suffix.len();
    let mut value = String::with_capacity(len);
    value.push_str(scope);
    value.push_str(MAX_AGE);
    push_decimal(&mut value, secs);
    value.push_str(suffix);
    value
}

/// Who may keep a copy of a response below this edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Any cache (`public`).
    Shared,
    /// Only the player's own cache (`private`): objects of a token route,
    /// which a shared cache in front would serve without a token.
    Player,
}

impl Audience {
    fn directive(self) -> &'static str {
        match self {
            Audience::Shared => "public",
            Audience::Player => "private",
        }
    }
}

/// The end of freshness of an object received `now` with `lifetime`, already `age` old
/// (RFC 9111 4.2.3); a zero lifetime is stale at once.
fn fresh_until(now: SystemTime, lifetime: Duration, age: Duration) -> SystemTime {
    match lifetime.checked_sub(age).filter(|left| !left.is_zero()) {
        Some(left) => now + left,
        None => now.checked_sub(Duration::from_secs(1)).unwrap_or(now),
    }
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// A body is framed when its end can be told from a cut: Content-Length,
/// chunked transfer coding, or HTTP/2 (frames carry END_STREAM).
fn is_framed(resp: &ResponseHeader) -> bool {
    if resp.version >= http::Version::HTTP_2 {
        return true;
    }
    let headers = &resp.headers;
    headers.contains_key(http::header::CONTENT_LENGTH)
        || headers
            .get_all(http::header::TRANSFER_ENCODING)
            .iter()
            .any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
            })
}

#[cfg(test)]
mod tests;
