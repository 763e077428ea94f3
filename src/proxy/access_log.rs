//! One structured line per request, through `tracing` (target `access`), so
//! that the operator's subscriber decides text or JSON and the filter.

use pingora::proxy::Session;
use pingora::Error;

use super::context::RequestCtx;

pub fn write(session: &Session, error: Option<&Error>, ctx: &RequestCtx, status: u16) {
    let req = session.req_header();
    tracing::info!(
        target: "access",
        method = %req.method,
        path = %req.uri.path(),
        route = ctx.route_name(),
        class = ctx.class.label(),
        status,
        cache = ctx.cache.label(),
        origin = ctx.origin.as_ref().map_or("-", |o| o.name.as_str()),
        upstream_ms = ctx.upstream_time.map(|t| t.as_secs_f64() * 1000.0),
        total_ms = ctx.started.elapsed().as_secs_f64() * 1000.0,
        bytes = ctx.body_bytes,
        session = ctx.session_id(),
        error = error.map(|e| e.to_string()),
    );
}
