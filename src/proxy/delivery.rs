//! How a response travels to the player, apart from what it says: the
//! content coding of playlists, `Strict-Transport-Security` on TLS, and the
//! HTTP/1 version and framing (the edge's own HTTP/1.1; no chunked coding
//! for an HTTP/1.0 client, whose body then ends with the connection).
//!
//! Compression is Pingora's downstream module (gzip, br, zstd, whichever the
//! player lists first in `Accept-Encoding`). It runs after the cache, so the
//! cache keeps one uncompressed copy and each player gets the coding it
//! asked for. Every response starts uncompressed; only a 200 playlist turns
//! it on: segments are already compressed media, and a 206 or a HEAD must
//! keep its exact byte framing.

use std::time::Duration;

use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::compression::{ResponseCompression, ResponseCompressionBuilder};
use pingora::modules::http::HttpModules;
use pingora::protocols::http::compression::ResponseCompressionCtx;
use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestCtx;
use super::fields;
use crate::config::{CompressionSettings, Config};
use crate::metrics;

/// The edge's delivery settings, from the config.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// Compression level for playlists; `None`: never compressed.
    compression: Option<u32>,
    /// The `Strict-Transport-Security` value sent over TLS (RFC 6797 7.1).
    hsts: Option<HeaderValue>,
}

impl Delivery {
    pub fn new(config: &Config) -> Delivery {
        Delivery::from_settings(&config.compression, config.edge.hsts_max_age)
    }

    pub fn from_settings(compression: &CompressionSettings, hsts: Option<Duration>) -> Delivery {
        Delivery {
            compression: compression.playlists.then_some(compression.level),
            hsts: hsts.map(|age| {
                HeaderValue::from_str(&format!("max-age={}", age.as_secs()))
                    .expect("a number is a valid header value")
            }),
        }
    }

    /// Installs the compression module (off unless a playlist turns it on).
    pub fn init_modules(&self, modules: &mut HttpModules) {
        // the level must be non-zero when the request arrives or the module
        // never reads Accept-Encoding; `hold` turns it off right after
        modules.add_module(ResponseCompressionBuilder::enable(
            self.compression.unwrap_or(0),
        ));
    }

    /// At the start of a request: nothing is compressed unless
    /// `response_filter` says so (refusals and errors written early stay plain).
    pub fn hold(&self, session: &mut Session) {
        if let Some(module) = compression(session) {
            module.adjust_level(0);
        }
    }

    /// Decides the coding of this response and adds HSTS on TLS.
    pub fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let http10 = http1_framing(session, resp);
        if let Some(hsts) = &self.hsts {
            let over_tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
            // RFC 6797 7.2: never sent over cleartext
            if over_tls {
                resp.insert_header("Strict-Transport-Security", hsts.clone())?;
            }
        }
        let Some(level) = self.compression else {
            return Ok(());
        };
        if !ctx.class.is_playlist() {
            return Ok(());
        }
        // whatever this response is, the next one for the URL may be
        // compressed: shared caches must key on Accept-Encoding (RFC 9110 12.5.5)
        add_vary_accept_encoding(resp)?;
        let req = session.req_header();
        let head = req.method == http::Method::HEAD;
        // a request without Accept-Encoding gets identity (RFC 9110 12.5.3):
        // the module is left off rather than asked to find that out
        let accepts = req.headers.contains_key(http::header::ACCEPT_ENCODING);
        // a compressed body is chunked, which an HTTP/1.0 client cannot read
        if resp.status.as_u16() == 200 && !head && accepts && !http10 {
            if let Some(module) = compression(session) {
                module.adjust_level(level);
                ctx.compressing = true;
            }
        }
        Ok(())
    }

    /// Last of the body filters. RFC 9110 9.3.2: a response to HEAD has no
    /// content. A HEAD that misses the cache still fills it with the body
    /// (Pingora writes the cache before these filters); Pingora's HTTP/1.1
    /// writer then drops the body, but its HTTP/2 writer would send it as
    /// DATA and the player would reset the stream (PROTOCOL_ERROR).
    pub fn body_filter(session: &Session, body: &mut Option<bytes::Bytes>) {
        if session.req_header().method == http::Method::HEAD {
            *body = None;
        }
    }

    /// Before the origin is asked for a playlist: `Accept-Encoding:
    /// identity` (RFC 9110 12.5.3), so that the cache keeps one plain copy
    /// whatever each player accepts and the playlist filters read text; a
    /// playlist that comes back compressed all the same is decompressed
    /// before the cache sees it. Other objects go with the player's
    /// `Accept-Encoding`, untouched by the edge.
    pub fn upstream(
        session: &mut Session,
        req: &mut RequestHeader,
        ctx: &RequestCtx,
    ) -> Result<()> {
        if ctx.class.is_playlist() {
            req.insert_header(http::header::ACCEPT_ENCODING, "identity")?;
            // a fresh context per try: after a failover the previous try's
            // response has already moved its context past the header phase
            session.upstream_compression = ResponseCompressionCtx::new(0, true, false);
        }
        Ok(())
    }

    /// Counts what the compressor did for this response (looked up only
    /// when it was turned on: the lookup hashes a type id on every request).
    pub fn logging(session: &Session, ctx: &RequestCtx) {
        if session.as_downstream().is_http2() {
            metrics::H2_REQUESTS.inc();
        } else {
            metrics::H1_REQUESTS.inc();
        }
        if !ctx.compressing {
            return;
        }
        let info = session
            .downstream_modules_ctx
            .get::<ResponseCompression>()
            .and_then(|m| m.get_info());
        if let Some((encoding, bytes_in, bytes_out, _took)) = info {
            metrics::COMPRESSED_RESPONSES
                .with_label_values(&[encoding])
                .inc();
            metrics::COMPRESSION_BYTES
                .with_label_values(&[encoding, "in"])
                .inc_by(bytes_in as u64);
            metrics::COMPRESSION_BYTES
                .with_label_values(&[encoding, "out"])
                .inc_by(bytes_out as u64);
        }
    }
}

/// Request fields the edge fixes itself in the origin request for `ctx`'s
/// object, so a stored variant never depends on them (`cache::variance`):
/// `Accept-Encoding` for playlists (`Delivery::upstream`).
pub fn fixed_request_fields(ctx: &RequestCtx) -> &'static [&'static str] {
    if ctx.class.is_playlist() {
        &["accept-encoding"]
    } else {
        &[]
    }
}

fn compression(session: &mut Session) -> Option<&mut ResponseCompression> {
    let module = session
        .downstream_modules_ctx
        .get_mut::<ResponseCompression>()?;
    // the decision can only change before the response header is written
    module.is_header_phase().then_some(module)
}

fn add_vary_accept_encoding(resp: &mut ResponseHeader) -> Result<()> {
    let present = resp.headers.get_all(http::header::VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.eq_ignore_ascii_case("accept-encoding"))
        })
    });
    if !present {
        fields::edit(resp, |f| {
            f.append(
                http::header::VARY,
                HeaderValue::from_static("Accept-Encoding"),
            )
        })?;
    }
    Ok(())
}

/// The framing of an HTTP/1 response; returns whether the client speaks HTTP/1.0.
///
/// RFC 9110 6.2: an intermediary sends its own HTTP version, so an answer
/// from an HTTP/1.0 origin still says HTTP/1.1. RFC 9112 6.1: an HTTP/1.0
/// client cannot read the chunked coding, so a body without a length (a
/// playlist being rewritten, a chunked origin answer) reaches it as a body that
/// ends with the connection.
fn http1_framing(session: &mut Session, resp: &mut ResponseHeader) -> bool {
    if session.as_downstream().is_http2() {
        return false;
    }
    resp.set_version(http::Version::HTTP_11);
    let http10 = session.req_header().version < http::Version::HTTP_11;
    if http10 && resp.headers.contains_key(http::header::TRANSFER_ENCODING) {
        resp.remove_header(&http::header::TRANSFER_ENCODING);
        session.set_keepalive(None);
    }
    http10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_is_added_once() {
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header("Vary", "Origin").unwrap();
        add_vary_accept_encoding(&mut resp).unwrap();
        add_vary_accept_encoding(&mut resp).unwrap();
        let vary: Vec<_> = resp.headers.get_all("vary").iter().collect();
        assert_eq!(vary, ["Origin", "Accept-Encoding"]);
    }

    #[test]
    fn hsts_carries_the_max_age_in_seconds() {
        let settings = CompressionSettings {
            playlists: false,
            level: 6,
        };
        let d = Delivery::from_settings(&settings, Some(Duration::from_secs(86400)));
        assert_eq!(d.hsts.unwrap(), "max-age=86400");
        assert_eq!(d.compression, None);
    }
}
