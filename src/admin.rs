//! The operator's listener (default `127.0.0.1:9090`): `/healthz`, `/readyz`,
//! `/metrics` (Prometheus text format) and `/status` (JSON).
//!
//! It is a separate Pingora service so that it is never reachable through the
//! player-facing listener, and binds loopback unless configured otherwise.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use prometheus::{Encoder, TextEncoder};
use serde_json::json;

use crate::cache::MemoryStorage;
use crate::metrics;
use crate::packager::service::Packager;
use crate::routing::RouteTable;

/// What the admin endpoints report on.
pub struct Admin {
    pub edge_id: String,
    pub started: Instant,
    pub routes: Arc<RouteTable>,
    pub storage: &'static MemoryStorage,
    pub max_cache_bytes: u64,
    pub packager: Option<Packager>,
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/healthz" => reply(200, "text/plain", b"ok\n".to_vec()),
            "/readyz" => reply(200, "text/plain", b"ready\n".to_vec()),
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
    fn refresh_gauges(&self) {
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
                    "origins": r.group.origins.iter().map(|o| o.name.clone()).collect::<Vec<_>>(),
                })
            })
            .collect();
        let streams: Vec<_> = self
            .packager
            .iter()
            .flat_map(|p| p.stats())
            .map(|s| {
                json!({
                    "name": s.name,
                    "live": s.live,
                    "generation": s.generation.map(|g| g.to_string()),
                    "bytes": s.bytes,
                    "segments_produced": s.segments_produced,
                    "ingest_bytes": s.ingest_bytes,
                    "ingest_errors": s.ingest_errors,
                    "segments_refused": s.segments_refused,
                })
            })
            .collect();
        let body = json!({
            "edge_id": self.edge_id,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": self.started.elapsed().as_secs(),
            "routes": routes,
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
