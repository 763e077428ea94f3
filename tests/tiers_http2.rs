//! HTTP/2 between tiers (issue 13 item 4): two edges reach one shield over
//! HTTP/2, over TLS (ALPN) or in cleartext (h2c), each on one connection
//! that carries every segment fetch, and the shield fetches each segment
//! from the origin once for both. Connections are counted by a TCP relay in
//! front of the shield, not by either edge.

mod common;

use std::net::SocketAddr;

use common::tls::TestPki;
use common::*;

const SEGMENTS: u64 = 24;

fn origin() -> CountingOrigin {
    let origin = CountingOrigin::start();
    origin.set(
        "/hls/v/index.m3u8",
        Reply::playlist(vod_playlist(4, SEGMENTS)),
    );
    for i in 0..SEGMENTS {
        origin.set(
            &format!("/hls/v/{}", segment_uri(i)),
            Reply::segment(40_000).delay(std::time::Duration::from_millis(20)),
        );
    }
    origin
}

/// An edge whose `/hls/` origin is the shield at `url`, over HTTP/2.
async fn edge_of(url: &str, id: &str, env: &[(&str, &str)]) -> TestEdge {
    let route = RouteConfig::new("/hls/").origin(url).group("http2", "true");
    let mut config = EdgeConfig::new().id(id).route_config(route);
    for (k, v) in env {
        config = config.env(k, v);
    }
    TestEdge::start_config(&config).await
}

/// Each edge asks for the playlist, then for every segment at once.
async fn play_through(edges: &[&TestEdge]) {
    for edge in edges {
        let playlist = edge.get("/hls/v/index.m3u8").await;
        assert_eq!(playlist.status, 200, "{}", edge.logs());
    }
    for edge in edges {
        let fetches = (0..SEGMENTS).map(|i| {
            let addr = edge.addr();
            tokio::spawn(
                async move { http_get(addr, &format!("/hls/v/{}", segment_uri(i)), &[]).await },
            )
        });
        for fetch in futures_join(fetches.collect()).await {
            let r = fetch.unwrap_or_else(|e| panic!("segment: {e}\n{}", edge.logs()));
            assert!(r.status == 200 && r.complete && r.body.len() == 40_000);
        }
    }
}

async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task joins"));
    }
    out
}

async fn assert_shared_over_h2(
    origin: &CountingOrigin,
    shield: &TestEdge,
    relays: &[&TcpRelay],
    edges: &[&TestEdge],
) {
    for (relay, edge) in relays.iter().zip(edges) {
        assert_eq!(
            relay.accepted(),
            1,
            "{} opened {} connections to the shield",
            edge.addr(),
            relay.accepted()
        );
    }
    for i in 0..SEGMENTS {
        assert_eq!(origin.hits(&format!("/hls/v/{}", segment_uri(i))), 1);
    }
    let expected = (edges.len() as u64 * (SEGMENTS + 1)) as f64;
    // the shield counts a request once its response is sent, which can be
    // after the edges have relayed it (a fresh shield counts from nothing)
    let h2 = [("protocol", "h2")];
    let metrics = scrape_until(
        shield,
        "",
        "hls_edge_requests_by_protocol_total",
        &h2,
        expected,
    )
    .await;
    let h2 = metric_value(&metrics, "hls_edge_requests_by_protocol_total", &h2);
    assert_eq!(h2, Some(expected), "requests the shield got over h2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_edges_share_a_shield_over_tls_h2_one_connection_each() {
    let Some(pki) = TestPki::new() else { return };
    let origin = origin();
    let cert = pki.issue(&["127.0.0.1"], 30);
    let shield_tls: SocketAddr = free_addr();
    let shield = TestEdge::start_config(
        &EdgeConfig::new()
            .id("shield")
            .route("/hls/", origin.addr())
            .tls_listener(shield_tls, &cert.cert, &cert.key),
    )
    .await;
    let (relay1, relay2) = (
        TcpRelay::start(shield_tls).await,
        TcpRelay::start(shield_tls).await,
    );
    // the edges trust the test CA (rustls reads SSL_CERT_FILE) and verify
    // the shield's certificate for 127.0.0.1
    let ca = pki.ca_cert().display().to_string();
    let env = [("SSL_CERT_FILE", ca.as_str())];
    let edge1 = edge_of(
        &format!("https://127.0.0.1:{}", relay1.addr().port()),
        "edge-1",
        &env,
    )
    .await;
    let edge2 = edge_of(
        &format!("https://127.0.0.1:{}", relay2.addr().port()),
        "edge-2",
        &env,
    )
    .await;

    play_through(&[&edge1, &edge2]).await;
    assert_shared_over_h2(&origin, &shield, &[&relay1, &relay2], &[&edge1, &edge2]).await;
    let handshakes = metric_value(
        &shield.metrics().await,
        "hls_edge_tls_handshakes_total",
        &[
            ("listener", &shield_tls.to_string()),
            ("version", "TLSv1.3"),
        ],
    );
    assert_eq!(handshakes, Some(2.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_edges_share_a_shield_over_h2c_one_connection_each() {
    let origin = origin();
    let shield_h2c: SocketAddr = free_addr();
    let shield = TestEdge::start_config(
        &EdgeConfig::new()
            .id("shield")
            .route("/hls/", origin.addr())
            .listener(&format!("{{addr: \"{shield_h2c}\", h2c: true}}")),
    )
    .await;
    let (relay1, relay2) = (
        TcpRelay::start(shield_h2c).await,
        TcpRelay::start(shield_h2c).await,
    );
    let edge1 = edge_of(
        &format!("http://127.0.0.1:{}", relay1.addr().port()),
        "edge-1",
        &[],
    )
    .await;
    let edge2 = edge_of(
        &format!("http://127.0.0.1:{}", relay2.addr().port()),
        "edge-2",
        &[],
    )
    .await;

    play_through(&[&edge1, &edge2]).await;
    assert_shared_over_h2(&origin, &shield, &[&relay1, &relay2], &[&edge1, &edge2]).await;
    // the shield's cleartext HTTP/1.1 listener (the kit's) is untouched by h2c
    let plain = shield.get("/hls/v/index.m3u8").await;
    assert_eq!((plain.status, plain.version.as_str()), (200, "HTTP/1.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_https_origin_without_h2_is_still_reached_over_http1() {
    let Some(pki) = TestPki::new() else { return };
    let origin = origin();
    let cert = pki.issue(&["127.0.0.1"], 30);
    let shield_tls: SocketAddr = free_addr();
    let entry = format!(
        "{{addr: \"{shield_tls}\", tls: {{cert: \"{}\", key: \"{}\", http2: false}}}}",
        cert.cert.display(),
        cert.key.display()
    );
    let shield = TestEdge::start_config(
        &EdgeConfig::new()
            .id("shield")
            .route("/hls/", origin.addr())
            .listener(&entry),
    )
    .await;
    let ca = pki.ca_cert().display().to_string();
    let edge = edge_of(
        &format!("https://127.0.0.1:{}", shield_tls.port()),
        "edge-1",
        &[("SSL_CERT_FILE", ca.as_str())],
    )
    .await;

    play_through(&[&edge]).await;
    // counted once sent, which can be after the edge has relayed it
    let h1 = [("protocol", "h1")];
    let expected = (SEGMENTS + 1) as f64;
    let metrics = scrape_until(
        &shield,
        "",
        "hls_edge_requests_by_protocol_total",
        &h1,
        expected,
    )
    .await;
    let h1 = metric_value(&metrics, "hls_edge_requests_by_protocol_total", &h1);
    assert_eq!(h1, Some(expected), "ALPN fell back to http/1.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_h2c_tier_connection_is_not_cut_by_the_http1_timeouts() {
    let origin = CountingOrigin::start();
    origin.set("/hls/v/index.m3u8", Reply::playlist(vod_playlist(4, 2)));
    // slower than every HTTP/1.1 limit of the shield below
    origin.set(
        "/hls/v/slow.ts",
        Reply::segment(40_000).delay(std::time::Duration::from_millis(2500)),
    );
    let shield_h2c: SocketAddr = free_addr();
    let shield = TestEdge::start_config(
        &EdgeConfig::new()
            .id("shield")
            .route("/hls/", origin.addr())
            .listener(&format!("{{addr: \"{shield_h2c}\", h2c: true}}"))
            .extra_yaml(
                "connections:\n  idle_timeout: 1s\n  header_timeout: 1s\n  keepalive_timeout: 1s\n",
            ),
    )
    .await;
    let relay = TcpRelay::start(shield_h2c).await;
    let route = RouteConfig::new("/hls/")
        .origin(format!("http://127.0.0.1:{}", relay.addr().port()))
        .group("http2", "true")
        .read_timeout("10s");
    let edge = TestEdge::start_config(&EdgeConfig::new().id("edge-1").route_config(route)).await;

    // an HTTP/2 connection has no header phase of its own: the shield's
    // 1 s header and keep-alive limits must not cut it while a stream waits
    let playlist = edge.get("/hls/v/index.m3u8").await;
    assert_eq!(playlist.status, 200);
    let slow = edge.get("/hls/v/slow.ts").await;
    assert!(
        slow.status == 200 && slow.complete,
        "{}\n{}",
        slow.status,
        shield.logs()
    );
    assert_eq!(
        relay.accepted(),
        1,
        "the tier connection was cut and reopened"
    );
    let metrics = shield.metrics().await;
    let timeouts: f64 = ["idle", "header", "keepalive"]
        .iter()
        .map(|p| {
            metric_value(
                &metrics,
                "hls_edge_connection_timeouts_total",
                &[("phase", p)],
            )
            .unwrap_or(0.0)
        })
        .sum();
    assert_eq!(timeouts, 0.0);
}
