//! The HLS cache policy (design section 3) as pure functions: what is stored,
//! for how long, and what players are told. Time is always passed in.
//!
//! | object | stored | downstream Cache-Control |
//! |---|---|---|
//! | segment, part, init (200) | origin max-age, else `segment_ttl` | `public, max-age=N, immutable` |
//! | live media playlist | only to share one in-flight fetch (see `proxy`) | `no-cache` or `max-age=live_playlist_max_age` |
//! | VOD / ended playlist | `vod_playlist_ttl` | `public, max-age=N` |
//! | multivariant playlist | `master_playlist_ttl` | `public, max-age=N` |
//! | blocking playlist (`_HLS_msn`) | 6 x target duration (rfc8216bis B.1) | `public, max-age=N` |
//! | 404, 410, 5xx, unframed body | never | `no-store` |
//! | keys, anything else | never (not enabled) | origin's |

use std::time::{Duration, SystemTime};

use pingora::cache::CacheMeta;
use pingora::http::ResponseHeader;
use pingora::Result;

use super::storage::StoredClass;
use crate::config::CacheSettings;
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
}

impl NoStore {
    pub fn reason(self) -> &'static str {
        match self {
            NoStore::NotFound => "not-found",
            NoStore::Status => "status",
            NoStore::Unframed => "unframed",
            NoStore::OriginNoStore => "origin-no-store",
        }
    }
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
        class.is_media() || class.is_playlist()
    }

    /// Decides, from the response header alone, whether to store a response.
    pub fn admit(
        &self,
        class: ObjectClass,
        resp: &ResponseHeader,
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
        let directives = origin_cache_control(resp);
        if directives.no_store {
            return Err(NoStore::OriginNoStore);
        }
        let (ttl, stale_if_error) = if class.is_media() {
            (
                directives.max_age.unwrap_or(self.settings.segment_ttl),
                self.settings.stale_if_error,
            )
        } else {
            (PROVISIONAL, Duration::ZERO)
        };
        let mut meta = CacheMeta::new(now + ttl, now, 0, secs(stale_if_error), resp.clone());
        meta.extensions_mut().insert(StoredClass(class));
        Ok(meta)
    }

    /// Sets the lifetime of a playlist once its body is known (called by the
    /// storage when the fill completes, and when a 304 freshens it), from its
    /// class and summary, counted from now. Media objects keep their lifetime.
    pub fn refine_meta(
        &self,
        meta: &mut CacheMeta,
        class: ObjectClass,
        summary: Option<&PlaylistSummary>,
    ) {
        let target = summary.map_or(Duration::from_secs(2), |s| s.target_duration);
        let (ttl, stale_if_error) = match class {
            ObjectClass::LivePlaylist => (target * 3 / 2, Duration::ZERO),
            ObjectClass::VodPlaylist => {
                (self.settings.vod_playlist_ttl, self.settings.stale_if_error)
            }
            ObjectClass::MultivariantPlaylist => (
                self.settings.master_playlist_ttl,
                self.settings.stale_if_error,
            ),
            ObjectClass::BlockingPlaylist => (target * 6, Duration::ZERO),
            ObjectClass::Playlist => (Duration::ZERO, Duration::ZERO),
            _ => return,
        };
        meta.update_freshness(SystemTime::now() + ttl, 0, secs(stale_if_error));
    }

    /// The `Cache-Control` players and downstream caches are told, or `None`
    /// to pass the origin's through. `lifetime` is the stored object's
    /// freshness lifetime (downstream caches subtract `Age` themselves);
    /// `audience` says whether shared caches in front may keep it.
    pub fn downstream_cache_control(
        &self,
        class: ObjectClass,
        status: u16,
        lifetime: Option<Duration>,
        audience: Audience,
    ) -> Option<String> {
        let scope = audience.directive();
        if status != 200 && status != 206 && status != 304 {
            return (class.is_media() || class.is_playlist()).then(|| "no-store".to_string());
        }
        let n = |d: Duration| d.as_secs();
        Some(match class {
            c if c.is_media() => {
                format!(
                    "{scope}, max-age={}, immutable",
                    n(lifetime.unwrap_or(self.settings.segment_ttl))
                )
            }
            ObjectClass::LivePlaylist | ObjectClass::Playlist => {
                match n(self.settings.live_playlist_max_age) {
                    0 => "no-cache".to_string(),
                    age => format!("{scope}, max-age={age}"),
                }
            }
            ObjectClass::VodPlaylist => {
                format!("{scope}, max-age={}", n(self.settings.vod_playlist_ttl))
            }
            ObjectClass::MultivariantPlaylist => {
                format!("{scope}, max-age={}", n(self.settings.master_playlist_ttl))
            }
            ObjectClass::BlockingPlaylist => format!(
                "{scope}, max-age={}",
                n(lifetime.unwrap_or(Duration::from_secs(1)))
            ),
            _ => return None,
        })
    }
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

#[derive(Debug, Default, PartialEq)]
struct OriginDirectives {
    no_store: bool,
    max_age: Option<Duration>,
}

/// The origin's `Cache-Control` as far as the edge obeys it (RFC 9111 5.2.2):
/// `no-store` and `private` keep an object out of a shared cache; `s-maxage`
/// wins over `max-age` for a shared cache.
fn origin_cache_control(resp: &ResponseHeader) -> OriginDirectives {
    let mut out = OriginDirectives::default();
    let mut s_maxage = None;
    for value in resp.headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            let (name, arg) = directive
                .split_once('=')
                .map_or((directive.as_str(), None), |(n, a)| {
                    (n, Some(a.trim_matches('"')))
                });
            let seconds = arg
                .and_then(|a| a.parse::<u64>().ok())
                .map(Duration::from_secs);
            match name {
                "no-store" | "private" => out.no_store = true,
                "max-age" => out.max_age = out.max_age.or(seconds),
                "s-maxage" => s_maxage = seconds,
                _ => {}
            }
        }
    }
    out.max_age = s_maxage.or(out.max_age);
    out
}

#[cfg(test)]
mod tests;
