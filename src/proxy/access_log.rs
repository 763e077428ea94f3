//! One structured line per request, through `tracing` (target `access`), so
//! that the operator's subscriber decides text or JSON and the filter. The
//! path is written through `crate::redaction::target`: a token placed in it
//! never reaches the log.
//! Busy edges may log a sample of the requests answered below 400
//! (`log.access_log_sample`); errors are always logged.

use std::sync::atomic::{AtomicU64, Ordering};

use pingora::proxy::Session;
use pingora::Error;

use super::context::RequestCtx;

/// Which requests get a line: an even spread of `rate` of the successful
/// ones (deterministic: the n-th request is logged when `n * rate` crosses
/// an integer), and every error.
#[derive(Debug)]
pub struct AccessLog {
    rate: f64,
    seen: AtomicU64,
}

impl AccessLog {
    pub fn new(rate: f64) -> AccessLog {
        AccessLog {
            rate: rate.clamp(0.0, 1.0),
            seen: AtomicU64::new(0),
        }
    }

    /// Whether a request answered with `status` (and `failed`) is logged.
    pub fn sampled(&self, status: u16, failed: bool) -> bool {
        if failed || status >= 400 || status == 0 || self.rate >= 1.0 {
            return true;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * self.rate).floor() > (n * self.rate).floor()
    }
}

pub fn write(session: &Session, error: Option<&Error>, ctx: &RequestCtx, status: u16) {
    let req = session.req_header();
    tracing::info!(
        target: "access",
        method = %req.method,
        path = %crate::redaction::target(access_path(req, ctx)),
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

/// The path as sent when the request was refused (it may still hold a path
/// token: redacted all the same), else the path the edge served.
fn access_path<'a>(req: &'a pingora::http::RequestHeader, ctx: &'a RequestCtx) -> &'a str {
    if ctx.cache == super::context::CacheResult::Refused {
        ctx.sent_path(req)
    } else {
        req.uri.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_logs_its_share_of_successes_and_every_error() {
        let log = AccessLog::new(0.1);
        let logged = (0..1000).filter(|_| log.sampled(200, false)).count();
        assert_eq!(logged, 100);
        assert!((0..10).all(|_| log.sampled(404, false)));
        assert!(log.sampled(200, true));
        let none = AccessLog::new(0.0);
        assert!(!(0..100).any(|_| none.sampled(200, false)));
        assert!(none.sampled(502, false));
    }
}
