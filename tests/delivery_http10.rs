//! HTTP/1.0 on either side of the edge, with real software at the origin:
//! Python's `http.server`, which answers every request as HTTP/1.0.
//!
//! - RFC 9110 6.2: an intermediary sends its own HTTP version, so a player
//!   sees `HTTP/1.1` whatever the origin spoke, on a miss and on a hit;
//! - RFC 9112 6.1: an HTTP/1.0 client never gets the chunked coding (a
//!   playlist the edge rewrites has no length until its end): its body ends
//!   with the connection, byte for byte, and no compression turns it chunked;
//! - RFC 9112 9.3: an HTTP/1.0 connection is kept only when the client asks
//!   with `Connection: keep-alive`; an HTTP/1.1 one unless it says `close`.
//!
//! Each test also checks what the cache kept: the object a raw HTTP/1.0
//! client fetched is then a whole hit for an HTTP/1.1 player.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A VOD playlist (the edge rewrites nothing in it, but reads it whole on a miss).
fn playlist() -> Vec<u8> {
    vod_playlist(2, 2).into_bytes()
}

/// A segment of 100 TS packets' length in a pattern, so that any misframed byte shows.
fn segment() -> Vec<u8> {
    pattern_body(18_800, 0)
}

/// Python's `http.server` on a loopback port, serving `root`; killed on drop.
struct PythonOrigin {
    child: Child,
    addr: SocketAddr,
}

impl PythonOrigin {
    /// `None` (after saying why) when python3 is missing, except under `CI=true`.
    fn start(root: &Path) -> Option<PythonOrigin> {
        for _ in 0..5 {
            let addr = free_addr();
            let child = match Command::new("python3")
                .args(["-m", "http.server", &addr.port().to_string()])
                .args(["--bind", "127.0.0.1", "--directory"])
                .arg(root)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(child) => child,
                Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                    panic!("CI=true: python3 is needed as an HTTP/1.0 origin: {e}")
                }
                Err(e) => {
                    eprintln!("skipped: python3 is not available ({e})");
                    return None;
                }
            };
            let mut origin = PythonOrigin { child, addr };
            if origin.listening() {
                return Some(origin);
            }
        }
        panic!("python3 -m http.server did not listen on any of 5 ports");
    }

    /// Polls until it accepts connections; false when it exited (port taken).
    fn listening(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
            {
                return true;
            }
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("python3 -m http.server not listening on {}", self.addr);
    }
}

impl Drop for PythonOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The media tree, Python's server on it, and an edge with `/hls/` on that origin.
async fn edge_on_python() -> Option<(TestEdge, PythonOrigin, TempDir)> {
    let root = TempDir::new("hls-edge-http10").expect("temp dir");
    let dir = root.path().join("hls/v");
    std::fs::create_dir_all(&dir).expect("media dir");
    std::fs::write(dir.join("index.m3u8"), playlist()).expect("playlist");
    std::fs::write(dir.join("seg_00000.ts"), segment()).expect("segment");
    let origin = PythonOrigin::start(root.path())?;
    let config = EdgeConfig::new().route("/hls/", origin.addr);
    let edge = TestEdge::start_config(&config).await;
    Some((edge, origin, root))
}

async fn connect(edge: &TestEdge) -> Client {
    Client::connect_timeout(edge.addr(), Duration::from_secs(5))
        .await
        .expect("connect to the edge")
}

/// Sends `raw` on `client` and reads one response to it.
async fn exchange(client: &mut Client, edge: &TestEdge, raw: &str) -> Response {
    client.send_raw(raw.as_bytes()).await.expect("send");
    client
        .response("GET")
        .await
        .unwrap_or_else(|e| panic!("no response to {raw:?}: {e}\n{}", edge.logs()))
}

/// An HTTP/1.0 request without `Connection: keep-alive`.
fn http10(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.0\r\nHost: edge.test\r\n{extra}\r\n")
}

/// Asserts that the edge closes `client`'s connection without sending more.
async fn assert_closed(client: &mut Client, what: &str) {
    let rest = client.closed_within(Duration::from_secs(5)).await;
    assert_eq!(rest.as_deref(), Some(&b""[..]), "{what}: left open");
}

/// The response's `Connection` field, lowercased.
fn connection_field(r: &Response) -> Option<String> {
    r.header("connection").map(str::to_ascii_lowercase)
}

/// What an HTTP/1.0 client must be able to read: the edge's version, no
/// chunked coding, the whole body.
fn assert_readable_by_http10(r: &Response, want: &[u8], what: &str) {
    assert_eq!(r.status, 200, "{what}: {r:?}");
    assert_eq!(r.version, "HTTP/1.1", "{what}: the edge's own version");
    assert_eq!(
        r.header("transfer-encoding"),
        None,
        "{what}: chunked to HTTP/1.0"
    );
    assert_ne!(r.framing, Framing::Chunked, "{what}");
    assert!(r.complete, "{what}: {:?}", r.incomplete_reason);
    assert_eq!(r.body, want, "{what}: the body, byte for byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_http10_origin_is_answered_as_http11() {
    let Some((edge, _origin, _root)) = edge_on_python().await else {
        return;
    };
    for path in ["/hls/v/index.m3u8", "/hls/v/seg_00000.ts"] {
        let want = if path.ends_with(".ts") {
            segment()
        } else {
            playlist()
        };
        for (round, status) in [(1, "miss"), (2, "hit")] {
            let r = http_get(edge.addr(), path, &[]).await.expect("GET");
            assert_eq!(r.status, 200, "{path} #{round}: {r:?}");
            assert_eq!(
                r.version, "HTTP/1.1",
                "{path} #{round}: origin spoke HTTP/1.0"
            );
            assert!(r.complete, "{path} #{round}: {:?}", r.incomplete_reason);
            assert_eq!(r.body, want, "{path} #{round}");
            let cache_status = r.header("cache-status").unwrap_or_default();
            assert!(
                cache_status.contains(status),
                "{path} #{round}: Cache-Status {cache_status}, not a {status}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_http10_client_never_gets_chunked_and_its_connection_ends_the_body() {
    let Some((edge, _origin, _root)) = edge_on_python().await else {
        return;
    };
    // a playlist miss: read whole before it is sent, so it has no length on the way
    // out; asking for gzip must not turn it chunked either
    for (what, extra) in [
        ("playlist miss", "Accept-Encoding: gzip\r\n"),
        ("playlist hit", "Accept-Encoding: gzip\r\n"),
        ("playlist hit, identity", ""),
    ] {
        let mut client = connect(&edge).await;
        let r = exchange(&mut client, &edge, &http10("/hls/v/index.m3u8", extra)).await;
        assert_readable_by_http10(&r, &playlist(), what);
        assert_eq!(
            r.header("content-encoding"),
            None,
            "{what}: compressed for HTTP/1.0"
        );
        assert_eq!(
            connection_field(&r).as_deref(),
            Some("close"),
            "{what}: HTTP/1.0 without keep-alive"
        );
        assert_closed(&mut client, what).await;
    }
    let mut client = connect(&edge).await;
    let r = exchange(&mut client, &edge, &http10("/hls/v/seg_00000.ts", "")).await;
    assert_readable_by_http10(&r, &segment(), "segment miss");
    assert_closed(&mut client, "segment miss").await;
    // what the HTTP/1.0 client fetched was stored whole
    let r = http_get(edge.addr(), "/hls/v/index.m3u8", &[])
        .await
        .expect("GET");
    assert_eq!(r.body, playlist());
    assert!(
        r.header("cache-status").unwrap_or_default().contains("hit"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_is_kept_only_when_the_client_asks() {
    let Some((edge, _origin, _root)) = edge_on_python().await else {
        return;
    };
    let path = "/hls/v/seg_00000.ts";
    http_get(edge.addr(), path, &[]).await.expect("warm");

    // HTTP/1.0 with keep-alive: two answers on one connection
    let mut client = connect(&edge).await;
    for round in 1..=2 {
        let r = exchange(
            &mut client,
            &edge,
            &http10(path, "Connection: keep-alive\r\n"),
        )
        .await;
        assert_readable_by_http10(&r, &segment(), &format!("keep-alive #{round}"));
        assert_eq!(
            connection_field(&r).as_deref(),
            Some("keep-alive"),
            "keep-alive #{round}"
        );
    }

    // HTTP/1.1 with close: answered, then closed
    let mut client = connect(&edge).await;
    let raw = format!("GET {path} HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n");
    let r = exchange(&mut client, &edge, &raw).await;
    assert_eq!(r.body, segment());
    assert_closed(&mut client, "HTTP/1.1 with Connection: close").await;

    // HTTP/1.1 without: kept
    let mut client = connect(&edge).await;
    let raw = format!("GET {path} HTTP/1.1\r\nHost: edge.test\r\n\r\n");
    for round in 1..=2 {
        let r = exchange(&mut client, &edge, &raw).await;
        assert_eq!(r.body, segment(), "HTTP/1.1 #{round}");
    }
}
