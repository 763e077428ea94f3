//! The operator's listener (default `127.0.0.1:9090`): `/healthz`, `/readyz`,
//! `/metrics` (Prometheus text format) and `/status` (JSON).
//!
//! It is a separate Pingora service so that it is never reachable through the
//! player-facing listener, and binds loopback unless configured otherwise.
//! Every request first meets the access rules of `access` (the listener's
//! own `Host`, no cross-site browser request, the bearer token if any).

mod access;

pub use access::{AdminAccess, AdminRefusal};

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use prometheus::{Encoder, TextEncoder};
use serde_json::json;

use crate::auth::Revocations;
use crate::cache::MemoryStorage;
use crate::metrics;
use crate::packager::holds::{HoldCounts, Outcome};
use crate::packager::service::Packager;
use crate::routing::RouteTable;
use crate::streams::{StreamBook, StreamView};

/// What the admin endpoints report on.
pub struct Admin {
    pub edge_id: String,
    pub started: Instant,
    pub routes: Arc<RouteTable>,
    pub storage: &'static MemoryStorage,
    pub max_cache_bytes: u64,
    pub packager: Option<Packager>,
    /// Revoked playback sessions, shared with every token route.
    pub revocations: Arc<Revocations>,
    /// How long a revocation lasts: the longest token lifetime.
    pub revocation_ttl: std::time::Duration,
    /// Viewers and playlist progress per stream, fed by the proxy.
    pub streams: Arc<StreamBook>,
    /// Who may use this listener.
    pub access: AdminAccess,
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let path = req.uri.path().to_string();
        if let Err(refusal) = self.access.check(&path, &req.headers) {
            return refused(refusal, &path);
        }
        if let Some(rest) = path.strip_prefix("/sessions") {
            return self.sessions(&req.method, rest);
        }
        match path.as_str() {
            "/healthz" => reply(200, "text/plain", b"ok\n".to_vec()),
            "/readyz" => self.readyz(),
            "/metrics" => self.metrics(),
            "/status" => self.status(),
            _ => reply(
                404,
                "text/plain",
                b"not found: try /metrics, /status, /healthz, /readyz\n".to_vec(),
            ),
        }
    }
}

impl Admin {
    /// The session API: `GET /sessions` lists revoked sessions,
    /// `POST /sessions/{id}/revoke` refuses that session's next request on
    /// every token route.
    fn sessions(&self, method: &http::Method, rest: &str) -> Response<Vec<u8>> {
        let now = crate::proxy::unix_now();
        match (method.as_str(), rest.trim_end_matches('/')) {
            ("GET", "") => {
                let list: Vec<_> = self
                    .revocations
                    .list(now)
                    .into_iter()
                    .map(|r| json!({ "id": r.id, "expires_at": r.expires_at }))
                    .collect();
                json_reply(200, &json!({ "revoked": list }))
            }
            ("POST", tail) => match tail
                .strip_prefix('/')
                .and_then(|t| t.strip_suffix("/revoke"))
            {
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    let id = percent_decode(id);
                    match self
                        .revocations
                        .revoke(&id, now, self.revocation_ttl.as_secs())
                    {
                        Ok(r) => {
                            tracing::info!(session = %id, until = r.expires_at, "session revoked");
                            json_reply(200, &json!({ "id": r.id, "expires_at": r.expires_at }))
                        }
                        Err(e) => json_reply(503, &json!({ "error": e.to_string() })),
                    }
                }
                _ => reply(
                    404,
                    "text/plain",
                    b"use POST /sessions/{id}/revoke\n".to_vec(),
                ),
            },
            _ => reply(
                405,
                "text/plain",
                b"use GET /sessions or POST /sessions/{id}/revoke\n".to_vec(),
            ),
        }
    }

    /// 200 once every route has an origin that is not down; 503 naming the
    /// routes that have none.
    fn readyz(&self) -> Response<Vec<u8>> {
        let now = Instant::now();
        let unready: Vec<&str> = self
            .routes
            .routes()
            .iter()
            .filter(|r| {
                self.origins(&r.group, now)
                    .iter()
                    .all(|o| o.state == "down")
            })
            .map(|r| r.name.as_str())
            .collect();
        if unready.is_empty() {
            reply(200, "text/plain", b"ready\n".to_vec())
        } else {
            let text = format!(
                "not ready: no origin up for route(s) {}\n",
                unready.join(", ")
            );
            reply(503, "text/plain", text.into_bytes())
        }
    }

    /// A group's origins with their health and the playlists each is stale on.
    fn origins(
        &self,
        group: &crate::upstream::OriginGroup,
        now: Instant,
    ) -> Vec<crate::upstream::OriginStatus> {
        let stale = self
            .streams
            .stale_counts(&group.name, group.origins.len(), now);
        group.status(now, &stale)
    }

    /// The streams as `/status` shows them; refreshes their gauges.
    fn stream_views(&self) -> Vec<StreamView> {
        let (views, gone) = self.streams.snapshot(Instant::now());
        for name in &gone {
            let _ = metrics::STREAM_VIEWERS.remove_label_values(&[name]);
            let _ = metrics::STREAM_PLAYLIST_AGE.remove_label_values(&[name]);
            let _ = metrics::STREAM_SEGMENT_LAG.remove_label_values(&[name]);
        }
        for v in &views {
            metrics::STREAM_VIEWERS
                .with_label_values(&[&v.name])
                .set(i64::try_from(v.viewers).unwrap_or(i64::MAX));
            if let Some(age) = v.playlist_age_seconds {
                metrics::STREAM_PLAYLIST_AGE
                    .with_label_values(&[&v.name])
                    .set(age);
            }
            if let Some(lag) = v.segment_lag {
                metrics::STREAM_SEGMENT_LAG
                    .with_label_values(&[&v.name])
                    .set(i64::try_from(lag).unwrap_or(i64::MAX));
            }
        }
        views
    }

    fn refresh_gauges(&self) {
        metrics::refresh_hit_ratios();
        self.stream_views();
        let now = std::time::Instant::now();
        for group in self.routes.groups() {
            for o in self.origins(&group, now) {
                for state in crate::upstream::HealthState::ALL {
                    metrics::ORIGIN_HEALTH
                        .with_label_values(&[group.name.as_str(), o.name.as_str(), state.label()])
                        .set(i64::from(state.label() == o.state));
                }
                for (traffic, t) in &o.traffic {
                    metrics::ORIGIN_EJECTED
                        .with_label_values(&[group.name.as_str(), o.name.as_str(), traffic])
                        .set(i64::from(t.state == "down"));
                }
            }
        }
        metrics::CACHE_BYTES.set(self.storage.weighted_size() as f64);
        metrics::CACHE_OBJECTS.set(self.storage.entry_count() as f64);
        for s in self.packager.iter().flat_map(|p| p.stats()) {
            metrics::PACKAGER_BYTES
                .with_label_values(&[&s.name])
                .set(i64::try_from(s.bytes).unwrap_or(i64::MAX));
            metrics::PACKAGER_LIVE
                .with_label_values(&[&s.name])
                .set(i64::from(s.live));
            metrics::mirror(&metrics::PACKAGER_SEGMENTS, &s.name, s.segments_produced);
            metrics::mirror(&metrics::PACKAGER_INGEST_BYTES, &s.name, s.ingest_bytes);
            metrics::mirror(&metrics::PACKAGER_INGEST_ERRORS, &s.name, s.ingest_errors);
            metrics::mirror(&metrics::PACKAGER_REFUSED, &s.name, s.segments_refused);
            metrics::mirror(&metrics::PACKAGER_PARTS, &s.name, s.parts_produced);
        }
        for (stream, blocking, hints) in self.packager.iter().flat_map(|p| p.holds().snapshot()) {
            for (kind, counts) in [("blocking", blocking), ("preload_hint", hints)] {
                metrics::PACKAGER_HELD
                    .with_label_values(&[&stream, kind])
                    .set(i64::try_from(counts.held_now).unwrap_or(i64::MAX));
                for outcome in Outcome::ALL {
                    let c = metrics::PACKAGER_HOLDS.with_label_values(&[
                        &stream,
                        kind,
                        outcome.label(),
                    ]);
                    c.inc_by(counts.of(outcome).saturating_sub(c.get()));
                }
            }
        }
    }

    fn metrics(&self) -> Response<Vec<u8>> {
        self.refresh_gauges();
        let mut out = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&prometheus::gather(), &mut out) {
            return reply(
                500,
                "text/plain",
                format!("cannot encode metrics: {e}\n").into_bytes(),
            );
        }
        reply(200, encoder.format_type(), out)
    }

    fn status(&self) -> Response<Vec<u8>> {
        self.refresh_gauges();
        let routes: Vec<_> = self
            .routes
            .routes()
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "prefix": r.prefix,
                    "origin_group": r.group.name,
                    "tokens": r.tokens.is_some(),
                })
            })
            .collect();
        let now = std::time::Instant::now();
        let groups: Vec<_> = self
            .routes
            .groups()
            .iter()
            .map(|g| {
                json!({
                    "name": g.name,
                    "origins": self.origins(g, now),
                    "siblings": g.siblings().map(|s| {
                        s.peers().iter().map(|p| p.name.clone()).collect::<Vec<_>>()
                    }),
                })
            })
            .collect();
        let streams: Vec<_> = self.packager.iter().flat_map(packager_streams).collect();
        let body = json!({
            "edge_id": self.edge_id,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": self.started.elapsed().as_secs(),
            "routes": routes,
            "origin_groups": groups,
            "streams": self.stream_views(),
            "cache": {
                "bytes": self.storage.weighted_size(),
                "objects": self.storage.entry_count(),
                "max_bytes": self.max_cache_bytes,
            },
            "packager_streams": streams,
        });
        let text = serde_json::to_vec_pretty(&body).unwrap_or_default();
        reply(200, "application/json", text)
    }
}

/// 403 (or 401 with a `Bearer` challenge, RFC 6750 3), counted and logged.
fn refused(refusal: AdminRefusal, path: &str) -> Response<Vec<u8>> {
    metrics::ADMIN_REFUSED
        .with_label_values(&[refusal.reason()])
        .inc();
    tracing::warn!(reason = refusal.reason(), path = %crate::redaction::target(path), "admin request refused");
    let mut resp = reply(
        refusal.status(),
        "text/plain",
        format!("{refusal}\n").into_bytes(),
    );
    let headers = resp.headers_mut();
    headers.insert(
        "x-admin-refused",
        http::HeaderValue::from_static(refusal.reason()),
    );
    if refusal == AdminRefusal::Token {
        headers.insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer realm=\"hls-edge admin\""),
        );
    }
    resp
}

/// `/status` `packager_streams`: each stream's counters, its renditions' latest
/// segment and part, and its held LL-HLS requests.
fn packager_streams(packager: &Packager) -> Vec<serde_json::Value> {
    let holds = packager.holds().snapshot();
    packager
        .stats()
        .into_iter()
        .map(|s| {
            let renditions: Vec<_> = s
                .renditions
                .iter()
                .map(|r| {
                    json!({
                        "name": r.name,
                        "last_msn": r.last_msn,
                        "last_part": r.last_part.map(|p| json!({ "msn": p.msn, "part": p.part })),
                        "ended": r.ended,
                    })
                })
                .collect();
            let held = holds.iter().find(|(name, ..)| *name == s.name);
            json!({
                "name": s.name,
                "live": s.live,
                "generation": s.generation.map(|g| g.to_string()),
                "bytes": s.bytes,
                "segments_produced": s.segments_produced,
                "parts_produced": s.parts_produced,
                "ingest_bytes": s.ingest_bytes,
                "ingest_errors": s.ingest_errors,
                "segments_refused": s.segments_refused,
                "renditions": renditions,
                "held_requests": held.map(|(_, blocking, hints)| json!({
                    "blocking": hold_json(blocking),
                    "preload_hint": hold_json(hints),
                })),
            })
        })
        .collect()
}

fn hold_json(counts: &HoldCounts) -> serde_json::Value {
    let mut outcomes = serde_json::Map::new();
    for outcome in Outcome::ALL {
        outcomes.insert(outcome.label().to_owned(), json!(counts.of(outcome)));
    }
    json!({ "held_now": counts.held_now, "outcomes": outcomes })
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut resp = Response::new(body);
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    let len = resp.body().len();
    resp.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    resp
}

fn json_reply(status: u16, body: &serde_json::Value) -> Response<Vec<u8>> {
    reply(
        status,
        "application/json",
        serde_json::to_vec_pretty(body).unwrap_or_default(),
    )
}

/// `%xx` sequences of a path segment decoded (session ids may hold any byte).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
