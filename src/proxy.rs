//! The edge's one `ProxyHttp`: each hook is a line of the request's story and
//! delegates to the module that owns that part (design section 2).
//!
//! | phase | what happens | module |
//! |---|---|---|
//! | `request_filter` | method, CDN-Loop, path and route checks | `routing`, `proxy::admission` |
//! | `request_cache_filter` | enable the cache for segments and playlists | `cache::policy` |
//! | `cache_key_callback` | route + path + query without tokens | `cache::key` |
//! | `cache_hit_filter` | a live playlist older than the request is refused | `proxy::freshness` |
//! | `upstream_peer` | next untried origin of the route's group | `upstream` |
//! | `upstream_request_filter` | Host, token stripping, CDN-Loop | `proxy::upstream_request` |
//! | `upstream_response_filter` | origin metrics, 5xx failover | `upstream`, `metrics` |
//! | `response_cache_filter` | store or not (section 3 table) | `cache::policy` |
//! | `request_filter` (token routes) | entry / session token check | `proxy::playback_tokens`, `auth` |
//! | `response_filter` | Cache-Status, Cache-Control, CORS; session tokens into playlists | `proxy::response_headers`, `proxy::playlist_tokens` |
//! | `logging` | metrics and the access log line | `metrics`, `proxy::access_log` |

mod access_log;
mod admission;
pub mod context;
mod freshness;
mod playback_tokens;
mod playlist_tokens;
pub mod response_headers;
mod upstream_request;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use pingora::cache::{
    CacheKey, CacheMeta, ForcedFreshness, HitHandler, NoCacheReason, RespCacheable,
};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use crate::cache::{EdgeCache, StoredClass};
use crate::hls::ObjectClass;
use crate::metrics;
use crate::routing::RouteTable;
pub use context::{CacheResult, RequestCtx};
pub use playback_tokens::unix_now;
use response_headers::ResponseDecor;

/// The edge proxy: routes, the cache and the response decoration.
pub struct Edge {
    routes: Arc<RouteTable>,
    cache: EdgeCache,
    decor: ResponseDecor,
    access_log: bool,
}

impl Edge {
    pub fn new(
        routes: Arc<RouteTable>,
        cache: EdgeCache,
        decor: ResponseDecor,
        access_log: bool,
    ) -> Self {
        Edge {
            routes,
            cache,
            decor,
            access_log,
        }
    }
}

#[async_trait]
impl ProxyHttp for Edge {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        admission::admit(session, ctx, &self.routes, &self.decor.edge_id).await
    }

    fn request_cache_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
        if self.cache.policy.caches(ctx.class) {
            self.cache.enable(session);
        }
        Ok(())
    }

    fn cache_key_callback(&self, session: &Session, ctx: &mut RequestCtx) -> Result<CacheKey> {
        let route = ctx.route.as_ref().map_or("", |r| r.name.as_str());
        let uri = &session.req_header().uri;
        Ok(self.cache.keys.key(route, uri.path(), uri.query()))
    }

    async fn cache_hit_filter(
        &self,
        _session: &mut Session,
        meta: &CacheMeta,
        _hit: &mut HitHandler,
        _is_fresh: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<ForcedFreshness>> {
        Ok(freshness::force_for_request(meta, ctx))
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let route = ctx
            .route
            .clone()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route"))?;
        let Some(origin) = route.group.pick(ctx.attempts).cloned() else {
            return Error::e_explain(
                ErrorType::ConnectNoRoute,
                format!("every origin of group '{}' failed", route.group.name),
            );
        };
        ctx.attempts += 1;
        let peer = origin.peer();
        ctx.origin = Some(origin);
        Ok(peer)
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        upstream_request::prepare(req, ctx, &self.cache.keys, &self.decor.edge_id)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        upstream_request::record_failure(ctx, "connect-error");
        if ctx.has_untried_origin() {
            e.set_retry(true);
        }
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        upstream_request::record_failure(ctx, "proxy-error");
        let mut e = e.more_context(format!("origin {peer}"));
        if session.response_written().is_none() && ctx.has_untried_origin() {
            e.set_retry(true);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        e
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        upstream_request::record_response(ctx, resp.status.as_u16());
        // An origin 5xx is retried on the next origin while nothing has gone
        // to the player yet (design section 5).
        if resp.status.is_server_error()
            && ctx.has_untried_origin()
            && session.response_written().is_none()
        {
            let mut e = Error::explain(
                ErrorType::HTTPStatus(resp.status.as_u16()),
                "origin error, trying the next origin",
            );
            e.set_retry(true);
            return Err(e);
        }
        Ok(())
    }

    fn response_cache_filter(
        &self,
        _session: &Session,
        resp: &ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<RespCacheable> {
        match self.cache.policy.admit(ctx.class, resp, SystemTime::now()) {
            Ok(meta) => {
                ctx.storing = true;
                Ok(RespCacheable::Cacheable(meta))
            }
            Err(reason) => {
                metrics::NOT_STORED
                    .with_label_values(&[ctx.class.label(), reason.reason()])
                    .inc();
                Ok(RespCacheable::Uncacheable(NoCacheReason::Custom(
                    reason.reason(),
                )))
            }
        }
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let lifetime = freshness::settle(session, ctx);
        self.decor.apply(resp, ctx, &self.cache.policy, lifetime)?;
        playlist_tokens::start(session, ctx, resp)
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        freshness::classify_fetched_playlist(ctx, body.as_ref(), end_of_stream);
        playlist_tokens::body(ctx, body, end_of_stream);
        ctx.body_bytes += body.as_ref().map_or(0, |b| b.len());
        Ok(None)
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        metrics::record_request(
            ctx.route_name(),
            ctx.class.label(),
            status,
            ctx.cache.label(),
            ctx.body_bytes,
        );
        if self.access_log {
            access_log::write(session, e, ctx, status);
        }
    }
}

impl EdgeCache {
    fn enable(&self, session: &mut Session) {
        session.cache.enable(
            self.storage,
            None,
            Some(self.predictor),
            Some(self.lock),
            Some(self.overrides()),
        );
        session.cache.set_max_file_size_bytes(self.max_object_size);
    }
}

/// The class a stored object was given when its body was known.
pub(crate) fn stored_class(meta: &CacheMeta) -> Option<ObjectClass> {
    meta.extensions().get::<StoredClass>().map(|c| c.0)
}
