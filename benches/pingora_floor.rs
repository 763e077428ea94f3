//! The floor under any proxy built on Pingora: a `ProxyHttp` that answers every request in
//! `request_filter` from memory with the header set of an edge hit, with no cache, no route,
//! no token and no log: a path ending in `.ts` gets a segment of `--segment-bytes` bytes,
//! any other path a 1,071-byte playlist. Whatever it costs per request is Pingora's own path
//! (read and parse the request, run the phases, serialise and write the response, keep the
//! connection; with `--tls`, rustls and HTTP/2 as well), which every hit of the edge pays too.
//!
//! A hit leaves in one send, as the edge's do: the edge holds a response header back for
//! the body's first write (`src/connections/gather.rs`), the floor gives its connections a
//! write buffer of `--write-buffer` bytes (default 4096) where Pingora's default of 1,460
//! would send a playlist hit's header and body apart, two sends for one response.
//!
//! `--session` goes one level lower: an `HttpServerApp` on Pingora's server session, no
//! proxy phases at all, so what it costs is Pingora's listener, HTTP codec and keep-alive
//! loop; the difference to the proxy floor is `HttpProxy`'s own share.
//!
//! `benches/floor.sh` runs it beside the edge and nginx under the same wrk load, so that the
//! gap between the edge and nginx on playlist hits splits into the framework's share and
//! the edge's own (docs/performance.md).
//!
//!   cargo bench --bench pingora_floor -- --listen 127.0.0.1:PORT
//!       [--segment-bytes N (default 768000)] [--tls CERT KEY (h2 and http/1.1 by ALPN)]
//!       [--write-buffer BYTES (default 4096)] [--session]
//! serves until killed, one worker thread, on the edge's allocator. Without `--listen` (as
//! under a plain `cargo bench`) it prints this usage and exits.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::http::ResponseHeader;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::ListenerConfig;
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::proxy::{http_proxy_service, ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::{Server, ShutdownWatch};
use pingora::services::listening::Service;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

/// The connection write buffer: a playlist hit's header and body fit in it together.
const WRITE_BUFFER: usize = 4096;

/// The edge's allocator, so that the floor and the edge differ only in what they run.
#[global_allocator]
static ALLOCATOR: hls_edge::allocator::EdgeAllocator = hls_edge::allocator::EdgeAllocator;

/// Answers every request from memory: a segment for `.ts` paths, else the playlist.
struct Floor {
    playlist: Bytes,
    segment: Bytes,
}

impl Floor {
    /// The response header and body for `path`.
    fn answer(&self, path: &str) -> Result<(Box<ResponseHeader>, Bytes)> {
        let (body, content_type) = if path.ends_with(".ts") {
            (&self.segment, "video/mp2t")
        } else {
            (&self.playlist, "application/vnd.apple.mpegurl")
        };
        let mut header = ResponseHeader::build(200, Some(14))?;
        for (name, value) in HIT_HEADERS {
            header.append_header(*name, *value)?;
        }
        header.append_header("content-type", content_type)?;
        header.append_header("content-length", body.len())?;
        Ok((Box::new(header), body.clone()))
    }
}

#[async_trait]
impl ProxyHttp for Floor {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        let (header, body) = self.answer(session.req_header().uri.path())?;
        session.write_response_header(header, false).await?;
        session.write_response_body(Some(body), true).await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        // never reached: request_filter answers every request
        Error::e_explain(ErrorType::InternalError, "the floor has no upstream")
    }
}

/// The same answers one level lower (`--session`): an `HttpServerApp` on Pingora's server
/// session, with no proxy phases. Pingora's keep-alive loop gives each connection 60 s.
struct SessionFloor {
    floor: Floor,
}

#[async_trait]
impl HttpServerApp for SessionFloor {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if !session.read_request().await.ok()? {
            return None;
        }
        let (header, body) = self.floor.answer(session.req_header().uri.path()).ok()?;
        session.write_response_header(header).await.ok()?;
        session.write_response_body(body, true).await.ok()?;
        let settings = HttpPersistentSettings::for_session(&session);
        let reusable = session.finish().await.ok()??;
        Some(ReusedHttpStream::from_reusable_stream(reusable, settings))
    }
}

/// The header set of an edge playlist hit (what `curl -D-` shows), content type and length
/// aside.
const HIT_HEADERS: &[(&str, &str)] = &[
    ("server", "nginx/1.22.1"),
    ("date", "Thu, 03 Dec 2026 08:52:06 GMT"),
    ("last-modified", "Thu, 03 Dec 2026 02:24:02 GMT"),
    ("connection", "keep-alive"),
    ("etag", "\"6b10d2c2-42f\""),
    ("accept-ranges", "bytes"),
    ("age", "24"),
    ("cache-status", "edge-bench; hit; ttl=86375"),
    ("cache-control", "public, max-age=86400"),
    ("access-control-allow-origin", "*"),
    (
        "access-control-expose-headers",
        "Age, Cache-Status, Content-Length, X-Token-Error",
    ),
    ("vary", "Accept-Encoding"),
];

/// A VOD media playlist of 1,071 bytes: 30 two-second segments.
fn playlist() -> Bytes {
    let mut text = String::from(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n",
    );
    for i in 0..30 {
        text.push_str(&format!("#EXTINF:2.000000,\nseg_{i:05}.ts\n"));
    }
    text.push_str("#EXT-X-ENDLIST\n");
    while text.len() < 1071 {
        text.insert(text.len() - "#EXT-X-ENDLIST\n".len(), '\n');
    }
    Bytes::from(text)
}

/// The value(s) after `flag` on the command line.
fn arg<'a>(args: &'a [String], flag: &str, count: usize) -> Option<&'a [String]> {
    let at = args.iter().position(|a| a == flag)?;
    args.get(at + 1..at + 1 + count)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some([listen]) = arg(&args, "--listen", 1) else {
        println!(
            "pingora_floor: a server for benches/floor.sh; run it with --listen 127.0.0.1:PORT \
             [--segment-bytes N] [--tls CERT KEY] [--write-buffer BYTES] [--session]"
        );
        return;
    };
    let segment_bytes = match arg(&args, "--segment-bytes", 1) {
        Some([n]) => n.parse().expect("--segment-bytes: a number of bytes"),
        _ => 768_000,
    };
    let conf = ServerConf {
        threads: 1,
        // stopped by the benches with SIGTERM: at once, not after Pingora's 5 minutes
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let floor = Floor {
        playlist: playlist(),
        segment: Bytes::from(vec![0x47; segment_bytes]),
    };
    let endpoint = endpoint(listen, &args);
    if args.iter().any(|a| a == "--session") {
        let mut service = Service::new("session floor".into(), SessionFloor { floor });
        service.add_listener(endpoint);
        server.add_service(service);
    } else {
        let mut service = http_proxy_service(&server.configuration, floor);
        service.add_listener(endpoint);
        server.add_service(service);
    }
    server.run_forever();
}

/// The listening endpoint: `--tls` or cleartext, with the connection write buffer of
/// `--write-buffer` bytes.
fn endpoint(listen: &str, args: &[String]) -> ListenerConfig {
    let write_buffer = match arg(args, "--write-buffer", 1) {
        Some([n]) => n.parse().expect("--write-buffer: a number of bytes"),
        _ => WRITE_BUFFER,
    };
    let mut endpoint =
        ListenerConfig::tcp(listen).l4_buffer(L4BufferSettings::default().write(write_buffer));
    if let Some([cert, key]) = arg(args, "--tls", 2) {
        let mut tls = TlsSettings::intermediate(cert, key).expect("--tls: CERT KEY in PEM");
        tls.enable_h2();
        endpoint = endpoint.tls(tls);
    }
    endpoint
}
