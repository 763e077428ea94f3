//! What an origin's response says about caching it (RFC 9111, RFC 9213), read once with
//! Pingora's `Cache-Control` parser, for the policy to combine with the HLS defaults.
//!
//! Two readings of one response:
//! - for this edge's own storage, the most specific field present governs (RFC 9213 2.1:
//!   a cache that honours a targeted field ignores the others when it is present): the
//!   operator-named field (`cache.targeted_field`), else `CDN-Cache-Control`, else
//!   `Cache-Control`; `Expires` only counts under `Cache-Control` (RFC 9111 5.3);
//! - for players and caches below, `Cache-Control`: the edge never tells them anything
//!   more permissive than it says (`no-store`, `private`, `no-cache` pass through).
//!
//! Pure: the time is passed in.

use std::time::{Duration, SystemTime};

use http::header;
use pingora::cache::cache_control::{CacheControl, Cacheable, InterpretCacheControl};
use pingora::http::ResponseHeader;

/// `Vary` as the edge's storage sees it (RFC 9111 4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vary {
    None,
    /// The lowercase names of the request fields that select a stored variant.
    Fields(Vec<String>),
    /// `Vary: *`: no request can be matched; never served from the cache.
    Any,
}

/// One origin response's caching directives.
#[derive(Debug)]
pub struct OriginDirectives {
    /// The field governing this edge's storage.
    storage: Option<CacheControl>,
    /// Whether `storage` came from `Cache-Control` (then `Expires` also counts).
    storage_is_cache_control: bool,
    /// `Cache-Control`, what players are told.
    downstream: Option<CacheControl>,
    expires_lifetime: Option<Duration>,
    /// An upstream cache's `Age` (RFC 9111 5.1).
    pub age: Duration,
    pub vary: Vary,
    pub sets_cookie: bool,
}

impl OriginDirectives {
    /// Reads `resp`; `targeted` is the operator-named field, if configured.
    pub fn read(
        resp: &ResponseHeader,
        targeted: Option<&header::HeaderName>,
        now: SystemTime,
    ) -> Self {
        let field = |name: &str| CacheControl::from_resp_headers_named(name, resp);
        let cache_control = CacheControl::from_resp_headers(resp);
        let targeted_cc = targeted.and_then(|n| field(n.as_str()));
        let cdn_cc = field("cdn-cache-control");
        let (storage, storage_is_cache_control) = match (targeted_cc, cdn_cc) {
            (Some(t), _) => (Some(t), false),
            (None, Some(c)) => (Some(c), false),
            (None, None) => (CacheControl::from_resp_headers(resp), true),
        };
        OriginDirectives {
            storage,
            storage_is_cache_control,
            downstream: cache_control,
            expires_lifetime: expires_lifetime(resp, now),
            age: age(resp),
            vary: vary(resp),
            sets_cookie: resp.headers.contains_key(header::SET_COOKIE),
        }
    }

    /// Whether a shared cache may store it at all: not `no-store` or `private` in the
    /// governing field, and, for a request that carried `Authorization`, only where the
    /// origin allowed it (RFC 9111 3.5: `public`, `s-maxage` or `must-revalidate`).
    pub fn storable(&self, authorization: bool) -> bool {
        let cc = self.storage.as_ref();
        let refused = cc.is_some_and(|cc| cc.is_cacheable() == Cacheable::No);
        let authorized = !authorization || cc.is_some_and(|cc| cc.allow_caching_authorized_req());
        !refused && authorized
    }

    /// The freshness lifetime the origin gave this edge (RFC 9111 4.2.1: `s-maxage`, then
    /// `max-age`, then `Expires` - `Date`); `Some(ZERO)` for `no-cache` (store, but
    /// revalidate before every use). `None`: the origin gave none.
    pub fn lifetime(&self) -> Option<Duration> {
        let from_field = self.storage.as_ref().and_then(|cc| cc.fresh_duration());
        let expires = self
            .storage_is_cache_control
            .then_some(self.expires_lifetime)
            .flatten();
        from_field.or(expires)
    }

    /// How long a stored copy may be served past its freshness when every origin fails:
    /// `Some(ZERO)` when the origin forbade it (`must-revalidate`, `proxy-revalidate`,
    /// `s-maxage`), its own `stale-if-error` when given, `None` to use the edge's default.
    pub fn stale_if_error(&self) -> Option<Duration> {
        self.storage
            .as_ref()
            .and_then(|cc| cc.serve_stale_if_error_duration())
    }

    /// What players and caches below are told, as far as it restricts the edge's
    /// defaults (see `Downstream`).
    pub fn downstream(&self) -> Downstream {
        Downstream::of(self.downstream.as_ref())
    }
}

impl Downstream {
    /// What `resp`'s `Cache-Control` tells players: the one field of
    /// [`OriginDirectives`] every response needs (read alone, on every hit).
    pub fn read(resp: &ResponseHeader) -> Downstream {
        // Pingora's reader looks the field up by its name as text (parsed
        // again on every call); most stored headers have none
        if !resp.headers.contains_key(header::CACHE_CONTROL) {
            return Downstream::Default;
        }
        Downstream::of(CacheControl::from_resp_headers(resp).as_ref())
    }

    fn of(cc: Option<&CacheControl>) -> Downstream {
        let Some(cc) = cc else {
            return Downstream::Default;
        };
        if cc.no_store() {
            Downstream::NoStore
        } else if cc.private() {
            Downstream::Private
        } else if cc.no_cache() {
            Downstream::NoCache
        } else {
            match cc.s_maxage().ok().flatten().or(cc.max_age().ok().flatten()) {
                Some(s) => Downstream::MaxAge(Duration::from_secs(u64::from(s))),
                None => Downstream::Default,
            }
        }
    }
}

/// The origin's word to players, by how much it restricts the edge's class defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downstream {
    /// Nothing said: the class default applies.
    Default,
    /// A lifetime for shared caches: the class default, no longer than this.
    MaxAge(Duration),
    /// `no-cache`: passed through (revalidate before every use).
    NoCache,
    /// `private`: the origin's `Cache-Control` passed through unchanged.
    Private,
    /// `no-store`: passed through.
    NoStore,
}

/// The stored header freshened by a `304 Not Modified` (RFC 9111 4.3.4): every field the
/// 304 carries replaces the stored one, except those describing the stored body's framing
/// and the connection (RFC 9111 3.2, RFC 9110 7.6.1), and `Age` (the edge keeps its own).
/// `Vary` is kept: a changed one would move the variant (Pingora keeps it too).
pub fn freshened(stored: &ResponseHeader, not_modified: &ResponseHeader) -> ResponseHeader {
    const KEPT: [header::HeaderName; 10] = [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONTENT_RANGE,
        header::CONTENT_ENCODING,
        header::CONNECTION,
        header::TRAILER,
        header::UPGRADE,
        header::AGE,
        header::VARY,
        header::PROXY_AUTHENTICATE,
    ];
    let mut merged = stored.clone();
    let names: Vec<&header::HeaderName> = not_modified.headers.keys().collect();
    for name in names
        .into_iter()
        .filter(|n| !KEPT.contains(n) && n.as_str() != "keep-alive")
    {
        merged.remove_header(name);
        for value in not_modified.headers.get_all(name) {
            let _ = merged.append_header(name.clone(), value.clone());
        }
    }
    merged
}

/// `Expires` - `Date` (or now without a `Date`), when `Expires` is the only lifetime.
fn expires_lifetime(resp: &ResponseHeader, now: SystemTime) -> Option<Duration> {
    let expires = pingora::cache::filters::calculate_expires_header_time(resp)?;
    let date = resp
        .headers
        .get(header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .unwrap_or(now);
    Some(expires.duration_since(date).unwrap_or(Duration::ZERO))
}

/// `Age` (RFC 9111 5.1: a non-negative integer of seconds; anything else is ignored).
fn age(resp: &ResponseHeader) -> Duration {
    resp.headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_secs)
}

fn vary(resp: &ResponseHeader) -> Vary {
    let mut fields = Vec::new();
    for value in resp.headers.get_all(header::VARY) {
        let Ok(value) = value.to_str() else {
            return Vary::Any;
        };
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "*" {
                return Vary::Any;
            }
            let name = name.to_ascii_lowercase();
            if !fields.contains(&name) {
                fields.push(name);
            }
        }
    }
    if fields.is_empty() {
        Vary::None
    } else {
        fields.sort();
        Vary::Fields(fields)
    }
}

#[cfg(test)]
mod tests;
