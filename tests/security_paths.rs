//! Security: one normalisation and one refusal rule for every request path,
//! public routes and token routes alike. Path tricks that an origin (or a
//! servlet container, IIS, a Unicode-folding file system) could resolve
//! outside the route get 400 and never reach the origin; spellings that
//! RFC 3986 6.2.2 says are the same path are one cache object.

mod common;

use std::time::Duration;

use common::tokens::{KEY, TOKENS};
use common::*;

/// Raw request targets under `{R}` (the route prefix without its slashes).
const TRICKS: &[&str] = &[
    "/{R}/a/..;/b.ts",
    "/{R}/a/..;x=1/b.ts",
    "/{R}/a/..%3b/b.ts",
    "/{R}/%2e%2e/x.ts",
    "/{R}/.%2E/x.ts",
    "/{R}/%252e%252e/x.ts",
    "/{R}/x.ts%2500",
    "/{R}/%c0%ae%c0%ae/x.ts",
    "/{R}/%e0%80%ae%e0%80%ae/x.ts",
    "/{R}/%f0%80%80%ae/x.ts",
    "/{R}/%u002e%u002e/x.ts",
    "/{R}/%ef%bc%8e%ef%bc%8e/x.ts",
    "/{R}/a%ef%bc%8fb.ts",
    "/{R}/a%2fb.ts",
    "/{R}/a%5cb.ts",
    "/{R}/a\\b.ts",
    "/{R}/x%00.ts",
    "/{R}/x%0d%0aSet-Cookie:%20a=b",
    "/{R}/./x.ts",
    "/{R}/a/../../x.ts",
    "/{R}/a%zz.ts",
    "/{R}/a%e",
];

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

async fn raw_get(edge: &TestEdge, target: &str) -> Response {
    let mut client = Client::connect_timeout(edge.addr(), Duration::from_secs(5))
        .await
        .expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: edge.example\r\n\r\n");
    client.send_raw(request.as_bytes()).await.expect("send");
    client
        .response("GET")
        .await
        .unwrap_or_else(|e| panic!("no response to {target}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn path_tricks_are_refused_on_public_and_token_routes_alike() {
    let origin = RecordingOrigin::start();
    let edge = edge_for(&origin).await;
    let token = entry_token("/hls/*", "viewer-1");
    let mut refused = 0;
    for trick in TRICKS {
        for (route, query) in [("pub", String::new()), ("hls", format!("?hdnts={token}"))] {
            let target = format!("{}{query}", trick.replace("{R}", route));
            let r = raw_get(&edge, &target).await;
            assert_eq!(r.status, 400, "{target}: {} {:?}", r.text(), r.headers);
            if r.header("x-edge-refused").is_some() {
                assert_eq!(r.header("x-edge-refused"), Some("bad-path"), "{target}");
                refused += 1;
            }
        }
    }
    origin.settle(Duration::from_millis(200), Duration::from_secs(2));
    assert_eq!(
        origin.received_text(),
        "",
        "a path trick reached the origin"
    );
    let metrics = edge.metrics().await;
    let counted = metric_value(
        &metrics,
        "hls_edge_refused_requests_total",
        &[("reason", "bad-path")],
    );
    assert_eq!(counted, Some(f64::from(refused)), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn equivalent_spellings_are_one_object() {
    let origin = RecordingOrigin::start();
    let edge = edge_for(&origin).await;
    // RFC 3986 6.2.2.1: hex digits are case-insensitive; 6.2.2.2: an escaped
    // unreserved character is that character
    for (first, second, origin_line) in [
        ("/pub/a.ts", "/pub/%61.ts", "GET /pub/a.ts HTTP/1.1"),
        ("/pub/%7Eu.ts", "/pub/~u.ts", "GET /pub/~u.ts HTTP/1.1"),
        (
            "/pub/%ec%95%88.ts",
            "/pub/%EC%95%88.ts",
            "GET /pub/%EC%95%88.ts HTTP/1.1",
        ),
    ] {
        let a = raw_get(&edge, first).await;
        assert_eq!(a.status, 200, "{first}: {}", a.text());
        let b = raw_get(&edge, second).await;
        assert_eq!(b.status, 200, "{second}: {}", b.text());
        assert_eq!(
            cache_status_of(&b, "edge-test").map(|c| c.hit),
            Some(true),
            "{second} after {first}: {:?}",
            b.header("cache-status")
        );
        assert_eq!(
            origin.request_lines().last().map(String::as_str),
            Some(origin_line)
        );
    }
    assert_eq!(origin.request_lines().len(), 3);

    // a token for exactly one file covers its other spellings too
    let exact = entry_token("/hls/A/seg.ts", "viewer-2");
    let r = raw_get(&edge, &format!("/hls/A/%73eg.ts?hdnts={exact}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = raw_get(&edge, &format!("/hls/A/%73eg2.ts?hdnts={exact}")).await;
    assert_eq!(r.status, 403);
}
