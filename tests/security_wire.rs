//! Security, on the wire: requests an attacker writes by hand, sent over raw
//! sockets to a real edge in front of a `RecordingOrigin` that keeps every
//! byte it received. Each test asserts what reached the origin (and what the
//! cache holds), not only the status the attacker saw.
//!
//! - `Upgrade` never turns a connection into an unchecked tunnel (RFC 9110
//!   7.8: the edge ignores no Upgrade silently, it refuses it);
//! - a request body on GET/HEAD is refused and never forwarded (RFC 9110
//!   9.3.1, RFC 9112 6.3 and 11.2: smuggling);
//! - hop-by-hop fields stop at the edge (RFC 9110 7.6.1);
//! - absolute-form targets reach the origin in origin-form (RFC 9112 3.2.2);
//! - an HTTP/1.1 request without `Host` gets 400 (RFC 9112 3.2).

mod common;

use std::time::Duration;

use common::tokens::{KEY, TOKENS};
use common::*;

/// A public route `/pub/` and a token route `/hls/`, both on `origin`.
async fn edge_for(origin: &RecordingOrigin) -> TestEdge {
    let config = EdgeConfig::new()
        .route("/pub/", origin.addr())
        .route_config(
            RouteConfig::new("/hls/")
                .origin(origin.addr())
                .option("tokens", TOKENS),
        )
        .env("TEST_TOKEN_KEY", KEY);
    TestEdge::start_config(&config).await
}

async fn connect(edge: &TestEdge) -> Client {
    Client::connect_timeout(edge.addr(), Duration::from_secs(5))
        .await
        .expect("connect to the edge")
}

/// Sends `raw` on a new connection and reads one response.
async fn exchange(edge: &TestEdge, raw: &str) -> Response {
    let mut client = connect(edge).await;
    client.send_raw(raw.as_bytes()).await.expect("send");
    client
        .response("GET")
        .await
        .unwrap_or_else(|e| panic!("no response to {raw:?}: {e}\n{}", edge.logs()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrade_never_opens_a_tunnel_to_the_origin() {
    let origin = RecordingOrigin::start();
    let edge = edge_for(&origin).await;
    let token = entry_token("/hls/streamA/*", "viewer-1");
    let after_tunnel = "GET /hls/streamB/secret.ts HTTP/1.1\r\nHost: x\r\n\
                        X-HLS-Edge-Peer: t=1;sig=00\r\n\r\n\
                        GET /hls/streamA/../streamB/x.ts HTTP/1.1\r\nHost: x\r\n\r\n";
    for (target, upgrade) in [
        (format!("/hls/streamA/x.ts?hdnts={token}"), "websocket"),
        ("/pub/a.ts".to_string(), "websocket"),
        ("/pub/a.ts".to_string(), "h2c"),
    ] {
        let mut client = connect(&edge).await;
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\
             Upgrade: {upgrade}\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
        );
        client.send_raw(request.as_bytes()).await.expect("send");
        let r = client.response("GET").await.expect("a response");
        assert_eq!(r.status, 400, "{target} upgrade {upgrade}: {}", r.text());
        assert_eq!(r.header("x-edge-refused"), Some("upgrade"));
        // whatever the attacker sends next on that socket is still checked
        // (or the connection is gone): it never reaches the origin raw
        let _ = client.send_raw(after_tunnel.as_bytes()).await;
        let _ = client.closed_within(Duration::from_millis(500)).await;
    }
    origin.settle(Duration::from_millis(200), Duration::from_secs(2));
    assert_eq!(
        origin.received_text(),
        "",
        "bytes reached the origin through an upgrade attempt"
    );
    let metrics = edge.metrics().await;
    let refused = metric_value(
        &metrics,
        "hls_edge_refused_requests_total",
        &[("reason", "upgrade")],
    );
    assert_eq!(refused, Some(3.0), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_on_get_or_head_is_refused_and_never_forwarded() {
    let origin = RecordingOrigin::start();
    let edge = edge_for(&origin).await;
    let smuggled = "GET /pub/smuggled.ts HTTP/1.1\r\nHost: x\r\n\r\n";
    let chunked_smuggle = format!("{:x}\r\n{smuggled}\r\n0\r\n\r\n", smuggled.len());
    let cases = [
        format!(
            "GET /pub/a.ts HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{smuggled}",
            smuggled.len()
        ),
        format!(
            "HEAD /pub/a.ts HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{smuggled}",
            smuggled.len()
        ),
        format!("GET /pub/a.ts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunked_smuggle}"),
    ];
    for raw in &cases {
        let method = raw.split(' ').next().unwrap_or("GET");
        let mut client = connect(&edge).await;
        client.send_raw(raw.as_bytes()).await.expect("send");
        let r = client.response(method).await.expect("a response");
        assert_eq!(r.status, 400, "{raw:?}: {}", r.text());
        assert_eq!(r.header("x-edge-refused"), Some("body"), "{raw:?}");
        // the body is never read as a next request: the edge closes
        let rest = client.closed_within(Duration::from_secs(3)).await;
        let rest = rest.unwrap_or_else(|| panic!("connection left open after {raw:?}"));
        assert!(
            !String::from_utf8_lossy(&rest).contains("HTTP/1.1"),
            "a second response after {raw:?}: {}",
            String::from_utf8_lossy(&rest)
        );
    }
    origin.settle(Duration::from_millis(200), Duration::from_secs(2));
    assert_eq!(
        origin.received_text(),
        "",
        "a request with a body reached the origin"
    );

    // nothing was stored for /pub/a.ts: a clean request goes to the origin
    let clean = edge.get("/pub/a.ts").await;
    assert_eq!(clean.status, 200);
    assert_eq!(clean.text(), "origin saw /pub/a.ts\n");
    assert_eq!(origin.request_lines(), vec!["GET /pub/a.ts HTTP/1.1"]);

    // `Content-Length: 0` is no body: served, and not passed on
    let empty = exchange(
        &edge,
        "GET /pub/empty.ts HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(empty.status, 200);
    let head = origin.heads().pop().expect("a second origin request");
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hop_by_hop_fields_stop_at_the_edge() {
    let origin = RecordingOrigin::start();
    let edge = edge_for(&origin).await;
    let r = exchange(
        &edge,
        "GET /pub/hop.ts HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Hop-Secret\r\n\
         X-Hop-Secret: do-not-forward\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n\
         Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic cGxheWVyOnB3\r\n\
         Expect: 100-continue\r\nX-End-To-End: kept\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let head = origin.heads().pop().expect("the origin got the request");
    let lower = head.to_ascii_lowercase();
    for field in [
        "x-hop-secret",
        "do-not-forward",
        "keep-alive:",
        "te:",
        "proxy-connection",
        "proxy-authorization",
        "expect:",
        "upgrade",
    ] {
        assert!(
            !lower.contains(field),
            "{field} reached the origin:\n{head}"
        );
    }
    assert!(lower.contains("x-end-to-end: kept"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn absolute_form_reaches_the_origin_in_origin_form() {
    let origin = RecordingOrigin::start();
    let edge = edge_for(&origin).await;
    let r = exchange(
        &edge,
        "GET http://player.example/pub/abs.ts?q=1 HTTP/1.1\r\nHost: player.example\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(origin.request_lines(), vec!["GET /pub/abs.ts?q=1 HTTP/1.1"]);
    // one object whichever form asked for it
    let again = edge.get("/pub/abs.ts?q=1").await;
    assert_eq!(
        cache_status_of(&again, "edge-test").map(|c| c.hit),
        Some(true)
    );
    // an authority that contradicts Host, or a scheme the edge does not
    // serve, is no target: 400 (Pingora refuses the first itself)
    for raw in [
        "GET http://other.example/pub/abs2.ts HTTP/1.1\r\nHost: player.example\r\n\r\n",
        "GET ftp://x/pub/a.ts HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let r = exchange(&edge, raw).await;
        assert_eq!(r.status, 400, "{raw:?}: {}", r.text());
    }
    assert_eq!(origin.request_lines().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http11_without_a_valid_host_is_400() {
    let origin = RecordingOrigin::start();
    let edge = edge_for(&origin).await;
    for raw in [
        "GET /pub/nohost.ts HTTP/1.1\r\n\r\n",
        "GET /pub/nohost.ts HTTP/1.1\r\nHost: a b\r\n\r\n",
        "GET /pub/nohost.ts HTTP/1.1\r\nHost: x/y\r\n\r\n",
        "GET /pub/nohost.ts HTTP/1.1\r\nHost: u@x\r\n\r\n",
        "GET /pub/nohost.ts HTTP/1.1\r\nHost:\r\n\r\n",
    ] {
        let r = exchange(&edge, raw).await;
        assert_eq!(r.status, 400, "{raw:?}: {}", r.text());
        // Pingora's own parser refuses some of these before the edge sees them
        if let Some(reason) = r.header("x-edge-refused") {
            assert_eq!(reason, "host", "{raw:?}");
        }
    }
    assert_eq!(origin.request_lines(), Vec::<String>::new());
    // HTTP/1.0 predates Host: still served
    let old = exchange(&edge, "GET /pub/old.ts HTTP/1.0\r\n\r\n").await;
    assert_eq!(old.status, 200);
    assert_eq!(origin.request_lines(), vec!["GET /pub/old.ts HTTP/1.1"]);
}
