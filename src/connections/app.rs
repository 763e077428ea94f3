//! `Guarded`: the player-facing Pingora app wrapped so that every accepted
//! connection first takes a place in the [`ConnectionBook`] (or is refused)
//! and is then read through a [`GuardedStream`].
//!
//! Pingora's `ConnectionFilter` decides at accept time too, but it never
//! learns when a connection closes, so it cannot count open connections;
//! here the place is held by the stream itself and freed when it drops.
//!
//! An HTTP/1 connection's requests are then served here, one after the
//! other, as Pingora's own loop serves them, but through the proxy's unboxed
//! `serve_http` (vendor/README.md): Pingora's loop boxes each request's whole
//! future (about 13 KB, allocated and copied per request, a quarter of a
//! cache hit's instructions); here it lives inside the connection's future.
//! HTTP/2 and h2c connections go to Pingora's loop as before.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::{HttpProxy, ProxyHttp};
use pingora::server::ShutdownWatch;
use tokio::io::AsyncWriteExt;

use super::book::{CapReached, ConnectionBook};
use super::clock::Clock;
use super::report;
use super::stream::GuardedStream;
use crate::config::ConnectionSettings;

/// How long a refusal may take to write before the connection is dropped.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// See the module docs.
pub struct Guarded<A> {
    inner: Arc<A>,
    book: Arc<ConnectionBook>,
    settings: ConnectionSettings,
    settle: Duration,
}

impl<A> Guarded<A> {
    /// `book` may be shared with the other services of the player listeners.
    /// `settle`: see [`settle_time`].
    pub fn new(
        inner: A,
        book: Arc<ConnectionBook>,
        settings: ConnectionSettings,
        settle: Duration,
    ) -> Guarded<A> {
        Guarded {
            inner: Arc::new(inner),
            book,
            settings,
            settle,
        }
    }
}

/// How long the listeners' cleanup waits, once they stop accepting, before
/// Pingora drops every connection still waiting for a request head.
///
/// Pingora does both at the same instant, so a connection accepted just
/// before a shutdown or a graceful upgrade (its TLS handshake or request
/// still on the way) would be closed with its first request unanswered: a
/// failed request for a player that did nothing wrong. Waiting a moment lets
/// that request arrive; it is served with `Connection: close` (Pingora turns
/// keep-alive off once shutdown has begun). Idle keep-alive connections stay
/// open that much longer, then close as before. Half the grace period, at
/// most one second, so requests in flight keep the rest of it.
pub fn settle_time(grace_period: Duration) -> Duration {
    (grace_period / 2).min(Duration::from_secs(1))
}

#[async_trait]
impl<SV> ServerApp for Guarded<HttpProxy<SV>>
where
    SV: ProxyHttp + Send + Sync + 'static,
    SV::CTX: Send + Sync,
{
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let client = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let permit = match self.book.admit(client) {
            Ok(permit) => permit,
            Err(cap) => {
                report::refused(cap, client);
                refuse(stream, cap).await;
                return None;
            }
        };
        let alpn = stream.selected_alpn_proto();
        let h2 = matches!(alpn, Some(ALPN::H2));
        // cleartext h2c starts with a preface Pingora's loop looks for (TLS picks by ALPN)
        let h2c = stream.get_ssl_digest().is_none()
            && self
                .inner
                .server_options()
                .is_some_and(|o| o.h2c || o.force_custom);
        let clock = (!h2).then(|| Clock::new(&self.settings, Instant::now()));
        let guarded: Stream = Box::new(GuardedStream::new(stream, clock, permit));
        if h2 || h2c || matches!(alpn, Some(ALPN::Custom(_))) {
            return self.inner.process_new(guarded, shutdown).await;
        }
        serve_http1(&self.inner, guarded, shutdown).await;
        None
    }

    async fn cleanup(&self) {
        tokio::time::sleep(self.settle).await;
        self.inner.cleanup().await
    }
}

/// An HTTP/1 connection's requests, one after the other, with what Pingora's
/// own loop gives each: its keep-alive of 60 s (the connection's clock keeps
/// the edge's own deadline), the listener's request limit, and what a request
/// leaves for the next.
async fn serve_http1<SV>(proxy: &Arc<HttpProxy<SV>>, stream: Stream, shutdown: &ShutdownWatch)
where
    SV: ProxyHttp + Send + Sync + 'static,
    SV::CTX: Send + Sync,
{
    let mut session = ServerSession::new_http1(stream);
    // once shutdown has begun, the connection closes after this request
    session.set_keepalive((!*shutdown.borrow()).then_some(60));
    let limit = proxy
        .server_options()
        .and_then(|o| o.keepalive_request_limit);
    session.set_keepalive_reuses_remaining(limit);
    let mut reused = proxy.serve_http(session, shutdown).await;
    while let Some((stream, settings)) = reused.map(|r| r.consume()) {
        let mut session = ServerSession::new_http1(stream);
        if let Some(settings) = settings {
            settings.apply_to_session(&mut session);
        }
        reused = proxy.serve_http(session, shutdown).await;
    }
}

/// Tells an HTTP/1.x client why (503 when the edge is full, 429 when this
/// client holds its share: RFC 6585 4), with `Connection: close`; an HTTP/2
/// connection is only closed.
async fn refuse(mut stream: Stream, cap: CapReached) {
    if !matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
        let status = match cap {
            CapReached::Max => "503 Service Unavailable",
            CapReached::PerClient => "429 Too Many Requests",
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        );
        let write = async {
            stream.write_all(response.as_bytes()).await?;
            stream.flush().await
        };
        let _ = tokio::time::timeout(REFUSAL_WRITE, write).await;
    }
    let _ = stream.shutdown().await;
}
