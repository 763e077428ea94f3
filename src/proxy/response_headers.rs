//! Headers the edge sets on every response to players: `Cache-Status`
//! (RFC 9211), CORS, and the downstream `Cache-Control` of the object class.
//! (`Age` on hits is set by Pingora from the stored object, RFC 9111 5.1.)

use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::Result;

use super::context::{CacheResult, RequestCtx};
use super::fields::{self, Fields};
use crate::cache::directives::Downstream;
use crate::cache::policy::Audience;
use crate::cache::CachePolicy;
use crate::decimal::{decimal_len, push_decimal};

/// RFC 9211's field.
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// Settings for the response headers, fixed at start-up.
#[derive(Debug, Clone)]
pub struct ResponseDecor {
    pub edge_id: String,
    /// `Access-Control-Allow-Origin`, built once (each response shares its bytes).
    pub allow_origin: Option<HeaderValue>,
}

impl ResponseDecor {
    /// Sets this edge's headers on `resp`.
    pub fn apply(
        &self,
        resp: &mut ResponseHeader,
        ctx: &RequestCtx,
        policy: &CachePolicy,
        lifetime: Option<Duration>,
    ) -> Result<()> {
        // RFC 9211 2: each cache appends its entry; the one nearest the
        // origin comes first.
        let upstream = resp
            .headers
            .get(&CACHE_STATUS)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty());
        let cache_status = fields::value(self.cache_status(upstream, ctx, lifetime))?;
        // on a token route only the player's own cache may keep a copy (another
        // edge of the deployment, which checks tokens itself, may)
        let protected = ctx.route.as_ref().is_some_and(|r| r.tokens.is_some()) && !ctx.from_peer;
        let audience = if protected {
            Audience::Player
        } else {
            Audience::Shared
        };
        let status = resp.status.as_u16();
        let origin = Downstream::read(resp);
        let class = ctx.decor_class.unwrap_or(ctx.class);
        let cache_control = policy
            .downstream_cache_control(class, status, lifetime, audience, origin)
            .map(fields::value)
            .transpose()?;
        fields::edit(resp, |f| {
            f.insert(CACHE_STATUS, cache_status)?;
            if let Some(cc) = cache_control {
                f.insert(http::header::CACHE_CONTROL, cc)?;
            }
            self.cors_fields(f)
        })
    }

    /// CORS headers, when enabled: any response a browser player reads.
    pub fn cors(&self, resp: &mut ResponseHeader) -> Result<()> {
        fields::edit(resp, |f| self.cors_fields(f))
    }

    fn cors_fields(&self, f: &mut Fields<'_>) -> Result<()> {
        if let Some(origin) = &self.allow_origin {
            f.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone())?;
            // hls.js reads Age for LL-HLS tune-in; browsers hide it unless
            // exposed, as they hide why a token was refused.
            f.insert(
                http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("Age, Cache-Status, Content-Length, X-Token-Error"),
            )?;
        }
        Ok(())
    }

    /// `Cache-Status`: the `upstream` entries, then this edge's, in one
    /// allocation of exactly its length (see `fields::value`).
    fn cache_status(
        &self,
        upstream: Option<&str>,
        ctx: &RequestCtx,
        lifetime: Option<Duration>,
    ) -> String {
        const TTL: &str = "; ttl=";
        let result = match ctx.cache {
            CacheResult::Hit => "; hit",
            CacheResult::Coalesced => "; fwd=miss; collapsed",
            CacheResult::Miss if ctx.storing && ctx.class.is_media() => "; fwd=miss; stored",
            CacheResult::Miss => "; fwd=miss",
            CacheResult::Stale => "; hit; fwd=stale",
            CacheResult::Bypass | CacheResult::Refused => "; fwd=bypass",
        };
        let ttl = if ctx.cache == CacheResult::Hit {
            ctx.remaining_ttl.or(lifetime).map(|ttl| ttl.as_secs())
        } else {
            None
        };
        let len = upstream.map_or(0, |u| u.len() + 2)
            + self.edge_id.len()
            + result.len()
            + ttl.map_or(0, |t| TTL.len() + decimal_len(t));
        let mut out = String::with_capacity(len);
        if let Some(upstream) = upstream {
            out.push_str(upstream);
            out.push_str(", ");
        }
        out.push_str(&self.edge_id);
        out.push_str(result);
        if let Some(ttl) = ttl {
            out.push_str(TTL);
            push_decimal(&mut out, ttl);
        }
        debug_assert_eq!(out.len(), len);
        out
    }
}
