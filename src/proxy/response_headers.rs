//! Headers the edge sets on every response to players: `Cache-Status`
//! (RFC 9211), CORS, and the downstream `Cache-Control` of the object class.
//! (`Age` on hits is set by Pingora from the stored object, RFC 9111 5.1.)

use std::time::Duration;

use pingora::http::ResponseHeader;
use pingora::Result;

use super::context::{CacheResult, RequestCtx};
use crate::cache::directives::Downstream;
use crate::cache::policy::Audience;
use crate::cache::CachePolicy;

/// Settings for the response headers, fixed at start-up.
#[derive(Debug, Clone)]
pub struct ResponseDecor {
    pub edge_id: String,
    pub allow_origin: Option<String>,
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
        let entry = self.cache_status(ctx, lifetime);
        // RFC 9211 2: each cache appends its entry; the one nearest the
        // origin comes first.
        let value = match resp
            .headers
            .get("cache-status")
            .and_then(|v| v.to_str().ok())
        {
            Some(upstream) if !upstream.is_empty() => format!("{upstream}, {entry}"),
            _ => entry,
        };
        resp.insert_header("Cache-Status", value)?;
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
        if let Some(cc) = policy.downstream_cache_control(class, status, lifetime, audience, origin)
        {
            resp.insert_header(http::header::CACHE_CONTROL, cc)?;
        }
        self.cors(resp)
    }

    /// CORS headers, when enabled: any response a browser player reads.
    pub fn cors(&self, resp: &mut ResponseHeader) -> Result<()> {
        if let Some(origin) = &self.allow_origin {
            resp.insert_header(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.as_str())?;
            // hls.js reads Age for LL-HLS tune-in; browsers hide it unless
            // exposed, as they hide why a token was refused.
            resp.insert_header(
                http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
                "Age, Cache-Status, Content-Length, X-Token-Error",
            )?;
        }
        Ok(())
    }

    /// This edge's `Cache-Status` entry.
    pub fn cache_status(&self, ctx: &RequestCtx, lifetime: Option<Duration>) -> String {
        let id = &self.edge_id;
        match ctx.cache {
            CacheResult::Hit => match ctx.remaining_ttl.or(lifetime) {
                Some(ttl) => format!("{id}; hit; ttl={}", ttl.as_secs()),
                None => format!("{id}; hit"),
            },
            CacheResult::Coalesced => format!("{id}; fwd=miss; collapsed"),
            CacheResult::Miss if ctx.storing && ctx.class.is_media() => {
                format!("{id}; fwd=miss; stored")
            }
            CacheResult::Miss => format!("{id}; fwd=miss"),
            CacheResult::Stale => format!("{id}; hit; fwd=stale"),
            CacheResult::Bypass | CacheResult::Refused => format!("{id}; fwd=bypass"),
        }
    }
}
