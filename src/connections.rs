//! Client connections of the player-facing listeners: how many may be open
//! (in all and per client) and how long each may stay silent or take to send
//! a request's header (`connections:` in the config). Every refusal and every
//! cut is counted (`hls_edge_connections_refused_total{reason}`,
//! `hls_edge_connection_timeouts_total{phase}`, `hls_edge_connections_open`).
//!
//! - `book`: the counts and the per-connection [`book::Permit`];
//! - `clock`: the idle / header / keep-alive state machine (pure);
//! - `stream`: the connection as Pingora reads it, the clock enforced;
//! - `gather`: a response header sent in one write with its body;
//! - `app`: the Pingora app wrapper that admits and wraps each connection;
//! - `report`: metrics and throttled log lines.
//!
//! The proxy moves each connection's clock from its hooks
//! ([`request_started`], [`request_finished`]); these read the connection
//! through Pingora's session, so they work the same for every listener the
//! service has (TCP or TLS). HTTP/2 connections are counted and capped; their
//! idle limit is Pingora's `h2_idle_timeout`, set to the keep-alive timeout.

mod app;
mod book;
mod clock;
mod gather;
mod report;
mod sendfile;
mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use pingora::proxy::{HttpProxy, ProxyHttp, Session};
use pingora::services::listening::Service;
use pingora::{Error, ErrorSource, ErrorType};

pub use app::{settle_time, Guarded};
pub use book::{CapReached, ConnectionBook, Permit};
pub use clock::{Clock, TimeoutPhase};
pub use stream::GuardedStream;

use crate::config::ConnectionSettings;

/// The proxy service for `app`, every connection admitted against `book`
/// (one book for every service of the player listeners, so the limits hold
/// across them) and timed. The app's own server options (h2c) are kept.
/// `grace_period` is the edge's (see [`settle_time`]).
pub fn proxy_service<SV>(
    mut app: HttpProxy<SV>,
    book: Arc<ConnectionBook>,
    settings: ConnectionSettings,
    grace_period: Duration,
    name: &str,
) -> Service<Guarded<HttpProxy<SV>>>
where
    SV: ProxyHttp + Send + Sync + 'static,
    SV::CTX: Send + Sync,
{
    let mut options = app.server_options.take().unwrap_or_default();
    options.h2_idle_timeout = Some(settings.keepalive_timeout);
    app.server_options = Some(options);
    let settle = settle_time(grace_period);
    Service::new(name.to_string(), Guarded::new(app, book, settings, settle))
}

/// A request's header was parsed: its connection is busy until
/// [`request_finished`]; its response writes may stall at most
/// `send_timeout` each.
///
/// Whether the connection is kept after the response stays Pingora's reading
/// of the request (RFC 9112 9.3: HTTP/1.1 unless `Connection: close`, HTTP/1.0
/// only with `Connection: keep-alive`); how long it may then wait is the
/// clock's `keepalive_timeout`. Only a connection without a clock gets
/// Pingora's own limit instead, and only if it is kept at all: a timer Pingora
/// would otherwise arm before every request's read.
pub fn request_started(session: &mut Session, settings: &ConnectionSettings) {
    session.set_write_timeout(Some(settings.send_timeout));
    if let Some(clock) = clock(session) {
        clock.lock().request_started();
    } else if session.get_keepalive().is_some() {
        session.set_keepalive(Some(settings.keepalive_timeout.as_secs().max(1)));
    }
}

/// The request is over (`error` is how it failed, if it did): the
/// connection waits for the next one.
pub fn request_finished(session: &Session, error: Option<&Error>) {
    let stalled = error.is_some_and(|e| {
        e.etype() == &ErrorType::WriteTimedout && e.esource() == &ErrorSource::Downstream
    });
    if stalled {
        report::send_timed_out();
    }
    if let Some(clock) = clock(session) {
        clock.lock().request_finished(Instant::now());
    }
}

fn clock(session: &Session) -> Option<Arc<parking_lot::Mutex<Clock>>> {
    let stream = session.as_downstream().stream()?;
    let guarded = (**stream).as_any().downcast_ref::<GuardedStream>()?;
    guarded.clock().cloned()
}
