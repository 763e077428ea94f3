//! Security: the admin API is not reachable from a web page. A cross-site
//! request (a foreign `Origin`, `Sec-Fetch-Site: cross-site`) and a request
//! for another host name (DNS rebinding) are refused before anything
//! happens; with `admin.token_env` every endpoint but the probes needs the
//! bearer token.

mod common;

use common::*;

async fn admin_request(
    edge: &TestEdge,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    http_request(edge.admin_addr(), method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

async fn revoked(edge: &TestEdge, headers: &[(&str, &str)]) -> String {
    let r = admin_request(edge, "GET", "/sessions", headers, b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cross_site_and_rebound_requests_are_refused() {
    let origin = CountingOrigin::start();
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;
    let own_host = edge.admin_addr().to_string();
    let own_origin = format!("http://{own_host}");
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("Origin", "http://evil.example"),
                ("Content-Type", "text/plain"),
            ],
            "origin",
        ),
        (&[("Origin", "null")], "origin"),
        (&[("Sec-Fetch-Site", "cross-site")], "origin"),
        (&[("Host", "evil.example:9090")], "host"),
    ];
    for (headers, reason) in cases {
        let r = admin_request(&edge, "POST", "/sessions/viewer-1/revoke", headers, b"x").await;
        assert_eq!(r.status, 403, "{headers:?}: {}", r.text());
        assert_eq!(r.header("x-admin-refused"), Some(reason), "{headers:?}");
        assert!(!revoked(&edge, &[]).await.contains("viewer-1"));
    }
    // a rebound name cannot read the status either
    let r = admin_request(&edge, "GET", "/status", &[("Host", "evil.example")], b"").await;
    assert_eq!(r.status, 403);
    // the operator's own tools (no Origin) and the same origin still work
    let r = admin_request(
        &edge,
        "POST",
        "/sessions/viewer-2/revoke",
        &[("Origin", own_origin.as_str())],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin_request(&edge, "POST", "/sessions/viewer-3/revoke", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let list = revoked(&edge, &[]).await;
    assert!(
        list.contains("viewer-2") && list.contains("viewer-3"),
        "{list}"
    );
    let metrics = edge.metrics().await;
    let refused = metric_value(&metrics, "hls_edge_admin_refused_total", &[]);
    assert_eq!(refused, Some(5.0), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_bearer_token_guards_every_endpoint_but_the_probes() {
    let origin = CountingOrigin::start();
    let token = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let config = EdgeConfig::new()
        .route("/hls/", origin.addr())
        .env("TEST_ADMIN_TOKEN", token)
        .extra_yaml("");
    // the kit writes `admin.listen`; the token key goes under it
    let yaml = config
        .yaml()
        .replace("admin:\n", "admin:\n  token_env: TEST_ADMIN_TOKEN\n");
    let edge = TestEdge::try_start_with_env(&yaml, &[("TEST_ADMIN_TOKEN", token)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for path in ["/healthz", "/readyz"] {
        let r = admin_request(&edge, "GET", path, &[], b"").await;
        assert_eq!(r.status, 200, "{path}");
    }
    let bearer = format!("Bearer {token}");
    for (method, path) in [
        ("GET", "/metrics"),
        ("GET", "/status"),
        ("GET", "/sessions"),
        ("POST", "/sessions/viewer-9/revoke"),
    ] {
        let none = admin_request(&edge, method, path, &[], b"").await;
        assert_eq!(none.status, 401, "{method} {path}");
        assert!(
            none.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{:?}",
            none.headers
        );
        let wrong = admin_request(
            &edge,
            method,
            path,
            &[("Authorization", "Bearer a1b2c3d4e5f60718293a4b5c6d7e8f91")],
            b"",
        )
        .await;
        assert_eq!(wrong.status, 401, "{method} {path}");
        assert!(!revoked(&edge, &[("Authorization", &bearer)])
            .await
            .contains("viewer-9"));
    }
    let r = admin_request(
        &edge,
        "POST",
        "/sessions/viewer-9/revoke",
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let metrics = admin_request(&edge, "GET", "/metrics", &[("Authorization", &bearer)], b"").await;
    assert_eq!(metrics.status, 200);
    let refused = metric_value(
        &metrics.text(),
        "hls_edge_admin_refused_total",
        &[("reason", "token")],
    );
    assert_eq!(refused, Some(8.0), "{}", metrics.text());
}
