//! The packager as a Pingora service: the [`Packager`] handle the server and
//! the metrics hold, and the HTTP origin that serves its HLS and accepts push
//! ingest on `packager.listen`.
//!
//! The edge reaches this origin like any other (design §7), so packaged output
//! goes through the same cache policy; with `conf/origin.yaml` it runs alone
//! for edges on other machines. The headers say how to cache each object:
//! segments and parts never change (their URLs are generation-scoped), a live
//! playlist always may, an ended one never will. With LL-HLS, playlist
//! requests with delivery directives and hinted part requests are held
//! (`delivery`).

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, StatusCode};
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use pingora::services::ServiceWithDependents;

use crate::config::PackagerConfig;
use crate::packager::delivery;
use crate::packager::holds::{HoldBook, Watched};
use crate::packager::looping::Sources;
use crate::packager::playlists;
use crate::packager::resource::Resource;
use crate::packager::segmenter::SegmenterConfig;
use crate::packager::store::{Retention, Store, StreamStats};

pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
pub const SEGMENT_TYPE: &str = "video/mp2t";
/// Segment URLs are never reused (generation-scoped, RFC 9111 §5.2.2.1 max-age).
pub const SEGMENT_CACHE: &str = "public, max-age=86400, immutable";
pub const LIVE_PLAYLIST_CACHE: &str = "no-cache";
pub const ENDED_PLAYLIST_CACHE: &str = "public, max-age=86400";
pub const MASTER_CACHE: &str = "max-age=2";
/// A missing object may appear later (a future segment): never stored.
pub const MISSING_CACHE: &str = "no-store";

/// The packager: its config and store. Cheap to clone.
#[derive(Clone)]
pub struct Packager {
    shared: Arc<Shared>,
}

struct Shared {
    config: PackagerConfig,
    store: Store,
    holds: HoldBook,
}

impl Packager {
    /// No I/O: loop files are read when the services start.
    pub fn new(config: &PackagerConfig) -> Self {
        let store = Store::new(Retention::from_config(config));
        for stream in &config.streams {
            store.register(&stream.name);
        }
        let holds = HoldBook::new(config.streams.iter().map(|s| s.name.as_str()));
        Packager {
            shared: Arc::new(Shared {
                config: config.clone(),
                store,
                holds,
            }),
        }
    }

    pub fn config(&self) -> &PackagerConfig {
        &self.shared.config
    }

    /// How inputs are cut: the target duration, and the part target with LL-HLS.
    pub fn segmenter_config(&self) -> SegmenterConfig {
        let config = &self.shared.config;
        SegmenterConfig {
            target_duration: config.target_duration,
            part_target: config.low_latency.map(|l| l.part_target),
        }
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The requests held for LL-HLS, counted per stream.
    pub fn holds(&self) -> &HoldBook {
        &self.shared.holds
    }

    /// Per stream: bytes held, segments produced, ingest bytes and errors, live.
    pub fn stats(&self) -> Vec<StreamStats> {
        self.shared.store.stats()
    }

    /// The Pingora services to add to the server: the HTTP origin on
    /// `packager.listen`, and a background service running the looping
    /// sources and the deletion of expired generations.
    pub fn services(&self) -> Vec<Box<dyn ServiceWithDependents>> {
        let mut http = Service::new(
            "hls-edge packager".to_string(),
            OriginApp {
                packager: self.clone(),
            },
        );
        http.add_tcp(&self.shared.config.listen.to_string());
        let sources = background_service("packager sources", Sources::new(self.clone()));
        vec![Box::new(http), Box::new(sources)]
    }
}

/// Builds the packager and its services from the config (see [`Packager::services`]).
pub fn services(config: &PackagerConfig) -> (Packager, Vec<Box<dyn ServiceWithDependents>>) {
    let packager = Packager::new(config);
    let services = packager.services();
    (packager, services)
}

/// A response the origin writes: always with Content-Length.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub cache_control: Cow<'static, str>,
    pub body: Bytes,
    pub allow: Option<&'static str>,
    /// Close the connection after it (a request body was left unread).
    pub close: bool,
}

impl Reply {
    pub fn ok(
        content_type: &'static str,
        cache_control: impl Into<Cow<'static, str>>,
        body: impl Into<Bytes>,
    ) -> Self {
        Reply {
            status: StatusCode::OK,
            content_type,
            cache_control: cache_control.into(),
            body: body.into(),
            allow: None,
            close: false,
        }
    }

    pub fn text(status: StatusCode, message: &'static str) -> Self {
        Reply::message(status, message)
    }

    /// A plain-text answer that is never stored (errors, refusals).
    pub fn message(status: StatusCode, message: impl Into<Bytes>) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            cache_control: Cow::Borrowed(MISSING_CACHE),
            body: message.into(),
            allow: None,
            close: false,
        }
    }

    fn not_found() -> Self {
        Reply::text(StatusCode::NOT_FOUND, "not found\n")
    }

    fn header(&self) -> pingora::Result<ResponseHeader> {
        let mut h = ResponseHeader::build(self.status, Some(5))?;
        h.insert_header(http::header::CONTENT_TYPE, self.content_type)?;
        h.insert_header(http::header::CONTENT_LENGTH, self.body.len().to_string())?;
        h.insert_header(http::header::CACHE_CONTROL, self.cache_control.as_ref())?;
        if let Some(allow) = self.allow {
            h.insert_header(http::header::ALLOW, allow)?;
        }
        if self.close {
            h.insert_header(http::header::CONNECTION, "close")?;
        }
        Ok(h)
    }
}

/// The HTTP side of the packager.
pub struct OriginApp {
    packager: Packager,
}

impl OriginApp {
    async fn respond(&self, session: &mut ServerSession, shutdown: &ShutdownWatch) -> Reply {
        let method = session.req_header().method.clone();
        let path = session.req_header().uri.path().to_string();
        let Some(resource) = Resource::parse(&path) else {
            return Reply::not_found();
        };
        match (resource, &method) {
            (Resource::Ingest { stream, rendition }, &Method::PUT | &Method::POST) => {
                crate::packager::ingest::receive(
                    &self.packager,
                    session,
                    stream,
                    rendition,
                    shutdown,
                )
                .await
            }
            (Resource::Ingest { .. }, _) => method_not_allowed(resource),
            (_, &Method::GET | &Method::HEAD) => {
                let query = session.req_header().uri.query().map(str::to_owned);
                self.serve(resource, query.as_deref(), shutdown).await
            }
            _ => method_not_allowed(resource),
        }
    }

    /// A playlist, segment or part; held first for LL-HLS where the spec says so.
    async fn serve(
        &self,
        resource: Resource<'_>,
        query: Option<&str>,
        shutdown: &ShutdownWatch,
    ) -> Reply {
        let low_latency = self.packager.config().low_latency;
        match (resource, low_latency) {
            (
                Resource::Media {
                    stream,
                    generation,
                    rendition,
                },
                Some(ll),
            ) => {
                let watched = Watched {
                    stream,
                    generation,
                    rendition,
                };
                delivery::media_playlist(&self.packager, ll, watched, query, shutdown).await
            }
            (
                Resource::Part {
                    stream,
                    generation,
                    rendition,
                    at,
                },
                Some(_),
            ) => {
                let watched = Watched {
                    stream,
                    generation,
                    rendition,
                };
                delivery::part(&self.packager, watched, at, shutdown).await
            }
            _ => self.stored(resource).unwrap_or_else(Reply::not_found),
        }
    }

    /// A playlist or segment from the store as it stands; `None` is a 404.
    fn stored(&self, resource: Resource<'_>) -> Option<Reply> {
        let store = self.packager.store();
        match resource {
            Resource::Master { stream } => {
                let text = store.read_current(stream, |id, r| {
                    playlists::multivariant(id, r).map(|p| p.write())
                })??;
                Some(Reply::ok(PLAYLIST_TYPE, MASTER_CACHE, text))
            }
            Resource::Media {
                stream,
                generation,
                rendition,
            } => {
                let (window, floor) = (
                    store.limits().window,
                    self.packager.config().target_duration,
                );
                let (text, ended) = store.read_rendition(stream, generation, rendition, |r| {
                    (playlists::media(r, window, floor).write(), r.is_ended())
                })?;
                let cache = if ended {
                    ENDED_PLAYLIST_CACHE
                } else {
                    LIVE_PLAYLIST_CACHE
                };
                Some(Reply::ok(PLAYLIST_TYPE, cache, text))
            }
            Resource::Segment {
                stream,
                generation,
                rendition,
                msn,
            } => {
                let data = store.segment(stream, generation, rendition, msn)?;
                Some(Reply::ok(SEGMENT_TYPE, SEGMENT_CACHE, data))
            }
            Resource::Ingest { .. } | Resource::Part { .. } => None,
        }
    }
}

fn method_not_allowed(resource: Resource<'_>) -> Reply {
    let mut reply = Reply::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    reply.allow = Some(resource.allow());
    reply
}

#[async_trait]
impl HttpServerApp for OriginApp {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if !matches!(session.read_request().await, Ok(true)) {
            return None;
        }
        session.set_keepalive(if *shutdown.borrow() { None } else { Some(60) });
        let reply = self.respond(&mut session, shutdown).await;
        if reply.close {
            session.set_keepalive(None);
        }
        let header = match reply.header() {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "packager: cannot build response header");
                return None;
            }
        };
        let head = session.req_header().method == Method::HEAD;
        if let Err(e) = session.write_response_header(Box::new(header)).await {
            tracing::debug!(error = %e, "packager: client went away");
            return None;
        }
        let body = if head { Bytes::new() } else { reply.body };
        if let Err(e) = session.write_response_body(body, true).await {
            tracing::debug!(error = %e, "packager: client went away");
            return None;
        }
        let settings = HttpPersistentSettings::for_session(&session);
        let stream = session.finish().await.ok()??;
        Some(ReusedHttpStream::from_reusable_stream(stream, settings))
    }
}
