//! The edge's one `ProxyHttp`: each hook is a line of the request's story and
//! delegates to the module that owns that part (design section 2).
//!
//! | phase | what happens | module |
//! |---|---|---|
//! | `early_request_filter` | the connection is busy: its send timeout (`connections`) | `connections` |
//! | `request_filter` | message rules, method, CDN-Loop, path and route checks | `proxy::message_rules`, `request_path`, `routing`, `proxy::admission` |
//! | `request_cache_filter` | enable the cache for segments and playlists | `cache::policy` |
//! | `cache_key_callback` | route + path + query without tokens | `cache::key` |
//! | `cache_vary_filter` | the stored variant a request wants (`Vary`, RFC 9111 4.1) | `cache::variance` |
//! | `cache_hit_filter` | a live playlist older than the request is refused | `proxy::freshness` |
//! | `upstream_peer` | owning sibling, else the best untried origin | `proxy::origin_choice`, `upstream` |
//! | `upstream_request_filter` | Host, token stripping, CDN-Loop, peer signature | `proxy::upstream_request` |
//! | `fail_to_connect`, `error_while_proxy` | health report, retry elsewhere | `proxy::origin_choice` |
//! | `upstream_response_filter` | health report, 5xx / segment 404 failover | `proxy::origin_choice` |
//! | `response_cache_filter` | store or not, for how long: the section 3 table under the origin's directives | `cache::policy`, `cache::directives` |
//! | `request_filter` (token routes) | entry / session token check | `proxy::playback_tokens`, `auth` |
//! | `should_serve_stale` | stale-if-error for stored objects when every origin failed | `proxy` |
//! | `response_filter` | a playlist's one path starts (held, read once; a stored one processed now); Cache-Status, Cache-Control, CORS; playlist compression, HSTS | `proxy::playlist_response`, `proxy::response_headers`, `proxy::delivery` |
//! | `response_body_filter` | a playlist from an origin: stream book (stale origins, no regression, statistics), then session tokens | `proxy::playlist_response`, `streams`, `proxy::playlist_tokens` |
//! | `fail_to_proxy` | a media body cut after its header went out is completed from another origin (a range request), else an error status | `proxy::media_resume` |
//! | `logging` | metrics and the access log line | `metrics`, `proxy::access_log` |
//! | `request_summary` | what Pingora's own log lines say of a request, secrets redacted | `redaction` |

pub mod access_log;
mod admission;
pub mod context;
pub mod delivery;
pub mod fields;
mod freshness;
pub mod last_chunk;
mod low_latency;
mod media_resume;
mod message_rules;
mod origin_choice;
pub mod playback_tokens;
mod playlist_response;
pub mod playlist_tokens;
pub mod response_headers;
mod stream_stats;
mod upstream_request;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use pingora::cache::{
    CacheKey, CacheMeta, ForcedFreshness, HitHandler, NoCacheReason, RespCacheable,
};
use pingora::connectors::http::Connector;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::auth::PeerSecret;
use crate::cache::{directives, policy, variance, EdgeCache, StoredClass};
use crate::config::ConnectionSettings;
use crate::hls::ObjectClass;
use crate::metrics;
use crate::routing::RouteTable;
use crate::streams::StreamBook;
pub use context::{CacheResult, RequestCtx};
pub use playback_tokens::unix_now;
use response_headers::ResponseDecor;

/// The edge proxy: routes, the cache and the response decoration.
pub struct Edge {
    routes: Arc<RouteTable>,
    cache: EdgeCache,
    decor: ResponseDecor,
    access_log: Option<access_log::AccessLog>,
    /// Shared with the deployment's other edges (tiers, siblings).
    peer_secret: Option<PeerSecret>,
    /// Viewers and playlist progress per stream, read by the admin listener.
    streams: Arc<StreamBook>,
    /// Connections for completing cut media bodies (`media_resume`).
    resume_connector: Connector,
    /// Per-connection limits the request hooks apply (`crate::connections`).
    connections: ConnectionSettings,
    /// Playlist compression and HSTS.
    delivery: delivery::Delivery,
}

impl Edge {
    pub fn new(
        routes: Arc<RouteTable>,
        cache: EdgeCache,
        decor: ResponseDecor,
        access_log: Option<access_log::AccessLog>,
        peer_secret: Option<PeerSecret>,
        streams: Arc<StreamBook>,
    ) -> Self {
        Edge {
            routes,
            cache,
            decor,
            access_log,
            peer_secret,
            streams,
            resume_connector: Connector::new(None),
            connections: ConnectionSettings::default(),
            delivery: delivery::Delivery::default(),
        }
    }

    /// Uses `settings` for each request's connection (default: the
    /// `connections:` defaults).
    pub fn with_connections(mut self, settings: ConnectionSettings) -> Self {
        self.connections = settings;
        self
    }

    /// How responses travel: compression of playlists, HSTS over TLS.
    pub fn with_delivery(mut self, delivery: delivery::Delivery) -> Self {
        self.delivery = delivery;
        self
    }
}

#[async_trait]
impl ProxyHttp for Edge {
    /// Boxed: Pingora keeps the context in three places of each request's
    /// state, which it moves once per request onto the heap (a 1.1 KB
    /// context made that move 3.4 KB longer; docs/performance.md).
    type CTX = Box<RequestCtx>;

    fn new_ctx(&self) -> Self::CTX {
        Box::new(RequestCtx::new())
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        _ctx: &mut Self::CTX,
    ) -> Result<()> {
        crate::connections::request_started(session, &self.connections);
        Ok(())
    }

    fn init_downstream_modules(&self, modules: &mut HttpModules) {
        self.delivery.init_modules(modules);
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool> {
        self.delivery.hold(session);
        let peer_secret = self.peer_secret.as_ref();
        match admission::admit(session, ctx, &self.routes, &self.decor, peer_secret) {
            None => {
                low_latency::classify(ctx, &self.streams);
                Ok(false)
            }
            // in a box of its own: the write's future would otherwise make
            // every request's `request_filter` future as large as it is
            Some(answer) => Box::pin(admission::answer(session, ctx, &self.decor, answer)).await,
        }
    }

    fn request_cache_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<()> {
        if self.cache.policy.caches(ctx.class) {
            let hold = low_latency::hold_limit(ctx, &self.streams);
            self.cache.enable(session, ctx.class, hold);
        }
        Ok(())
    }

    fn cache_key_callback(&self, session: &Session, ctx: &mut Self::CTX) -> Result<CacheKey> {
        let route = ctx.route.as_ref().map_or("", |r| r.name.as_str());
        let uri = &session.req_header().uri;
        Ok(self.cache.keys.key(route, uri.path(), uri.query()))
    }

    fn cache_vary_filter(
        &self,
        meta: &CacheMeta,
        ctx: &mut Self::CTX,
        req: &RequestHeader,
    ) -> Option<pingora::cache::key::HashBinary> {
        variance::of_request_ignoring(meta, req, delivery::fixed_request_fields(ctx))
    }

    async fn cache_hit_filter(
        &self,
        _session: &mut Session,
        meta: &CacheMeta,
        _hit: &mut HitHandler,
        _is_fresh: bool,
        ctx: &mut Self::CTX,
    ) -> Result<Option<ForcedFreshness>> {
        Ok(freshness::force_for_request(meta, ctx))
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> Result<Box<HttpPeer>> {
        ctx.connection_turn = None;
        let mut peer = origin_choice::next_peer(ctx, &self.streams)?;
        low_latency::stretch_timeouts(&mut peer, low_latency::hold_limit(ctx, &self.streams));
        if let Some(origin) = ctx.origin.clone() {
            ctx.connection_turn = origin.connection_turn().await;
        }
        Ok(peer)
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        _reused: bool,
        _peer: &HttpPeer,
        _fd: std::os::unix::io::RawFd,
        _digest: Option<&pingora::protocols::Digest>,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        ctx.connection_turn = None;
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        let peer_secret = self.peer_secret.as_ref();
        delivery::Delivery::upstream(session, req, ctx)?;
        upstream_request::prepare(req, ctx, &self.cache.keys, &self.decor.edge_id, peer_secret)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Self::CTX,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.connection_turn = None;
        if origin_choice::connect_failed(ctx, &e) {
            e.set_retry(true);
        }
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Self::CTX,
        client_reused: bool,
    ) -> Box<Error> {
        ctx.connection_turn = None;
        let written = session.response_written().is_some();
        let retry = origin_choice::proxy_failed(ctx, &e, written);
        if retry {
            media_resume::adopt_for_retry(session, ctx, self.cache.storage);
        }
        let mut e = e.more_context(format!("origin {peer}"));
        if retry {
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
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        let status = resp.status.as_u16();
        upstream_request::record_response(ctx, status);
        media_resume::note_response(session, ctx, resp);
        if status == 304 {
            ctx.not_modified = Some(Box::new(resp.clone()));
        }
        let written = session.response_written().is_some();
        match origin_choice::response_received(ctx, status, written) {
            Some(retry_elsewhere) => Err(retry_elsewhere),
            None => Ok(()),
        }
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut Self::CTX,
    ) -> Result<Option<Duration>> {
        media_resume::feed(ctx, body.as_ref(), end_of_stream);
        Ok(None)
    }

    fn should_serve_stale(
        &self,
        _session: &mut Session,
        ctx: &mut Self::CTX,
        error: Option<&Error>,
    ) -> bool {
        // stale-if-error (design section 5): when every origin failed, a
        // stored object inside its stale-if-error window is better than an
        // error; revalidation without an error never serves stale
        let served = error.is_some();
        if served {
            tracing::warn!(route = ctx.route_name(), path = %ctx.shard_key, "every origin failed: serving a stale copy");
        }
        served
    }

    fn response_cache_filter(
        &self,
        session: &Session,
        resp: &ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> Result<RespCacheable> {
        let request = policy::Request {
            authorization: session
                .req_header()
                .headers
                .contains_key(http::header::AUTHORIZATION),
            override_origin_ttl: ctx.route.as_ref().is_some_and(|r| r.override_origin_ttl),
        };
        // a 304's own fields freshen the stored header, not only the few Pingora merges
        let freshened = ctx
            .not_modified
            .take()
            .map(|not_modified| directives::freshened(resp, &not_modified));
        let resp = freshened.as_ref().unwrap_or(resp);
        match self
            .cache
            .policy
            .admit(ctx.class, resp, request, SystemTime::now())
        {
            Ok(mut meta) => {
                ctx.storing = true;
                media_resume::tag_fill(&mut meta, ctx);
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
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        let lifetime = freshness::settle(session, ctx);
        if let Some(age) = freshness::upstream_age(session, resp) {
            resp.insert_header(http::header::AGE, age)?;
        }
        playlist_response::start(session, ctx, resp, &self.streams)?;
        low_latency::answered(ctx);
        if ctx.class == ObjectClass::Playlist {
            let key = session.cache.maybe_cache_key();
            ctx.decor_class = key.and_then(|k| self.cache.storage.remembered_class(k));
        }
        self.decor.apply(resp, ctx, &self.cache.policy, lifetime)?;
        self.delivery.response_filter(session, resp, ctx)?;
        playlist_response::headers(ctx, resp)?;
        ctx.last_chunk.arm(session, resp);
        Ok(())
    }

    fn response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut Self::CTX,
    ) -> Result<Option<Duration>> {
        playlist_response::body(ctx, body, end_of_stream, &self.streams);
        delivery::Delivery::body_filter(session, body);
        ctx.body_bytes += body.as_ref().map_or(0, |b| b.len());
        ctx.last_chunk.filter(body, end_of_stream);
        Ok(None)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Self::CTX,
    ) -> FailToProxy {
        // the fill a cut abandoned (others may be reading it): completed below, or
        // failed at once rather than after its grace period
        let fill = media_resume::adopt_written(session, ctx, self.cache.storage);
        if session.response_written().is_some() && ctx.resume.is_some() {
            let resumer = media_resume::Resumer {
                connector: &self.resume_connector,
                keys: &self.cache.keys,
                edge_id: &self.decor.edge_id,
                peer_secret: self.peer_secret.as_ref(),
            };
            if let Err(failed) = media_resume::complete(session, ctx, &resumer, fill).await {
                tracing::warn!(path = %ctx.shard_key, error = %failed, "cut media body not completed: response aborted");
            }
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        drop(fill);
        let timed_out = *e.etype() == ErrorType::ReadTimedout;
        let code = match e.etype() {
            // rfc8216bis 6.2.5.2: a hold past 3 target durations is a 503
            _ if low_latency::hold_expired(ctx, timed_out) => 503,
            ErrorType::HTTPStatus(code) => *code,
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 500,
            },
        };
        if code > 0 && session.response_written().is_none() {
            if let Err(e) = session.respond_error(code).await {
                tracing::debug!(error = %e, "error response not sent: the player is gone");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &Self::CTX, _error: &Error) -> bool {
        // a cut body completed from another origin is not a failed request
        // (`media_resume` logged it)
        ctx.resumed
    }

    /// Pingora's "Fail to proxy" and cache error lines name the request with
    /// this: its target with token values redacted, never cookies.
    fn request_summary(&self, session: &Session, _ctx: &Self::CTX) -> String {
        let req = session.req_header();
        let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("-");
        format!(
            "{} {}, Host: {}",
            req.method,
            crate::redaction::target(target),
            crate::redaction::line(host)
        )
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Self::CTX) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        origin_choice::finished(ctx);
        freshness::settle_failed(session, ctx);
        match &ctx.route {
            Some(route) => route
                .requests
                .record(ctx.class, status, ctx.cache, ctx.body_bytes),
            None => metrics::record_request(
                ctx.route_name(),
                ctx.class.label(),
                status,
                ctx.cache.label(),
                ctx.body_bytes,
            ),
        }
        stream_stats::finish(&self.streams, session, ctx, status);
        delivery::Delivery::logging(session, ctx);
        if let Some(log) = &self.access_log {
            if log.sampled(status, e.is_some()) {
                access_log::write(session, e, ctx, status);
            }
        }
        crate::connections::request_finished(session, e);
    }
}

impl EdgeCache {
    /// Media objects are read from a fill while it is written (waiters get bytes as
    /// they arrive); playlists only once complete (they are held and read whole).
    /// `hold`: how long a coalesced blocking request may wait on the fill it joined.
    fn enable(&self, session: &mut Session, class: ObjectClass, hold: Option<Duration>) {
        let storage: &'static (dyn pingora::cache::Storage + Sync) = if class.is_media() {
            self.streaming
        } else {
            self.storage
        };
        session.cache.enable(
            storage,
            None,
            Some(self.predictor),
            Some(self.lock),
            Some(self.overrides(hold)),
        );
        session.cache.set_max_file_size_bytes(self.max_object_size);
    }
}

/// The class a stored object was given when its body was known.
pub(crate) fn stored_class(meta: &CacheMeta) -> Option<ObjectClass> {
    meta.extensions().get::<StoredClass>().map(|c| c.0)
}
