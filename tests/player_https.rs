//! hls.js in headless Chromium (the rig in tests/player) plays the demo over
//! HTTPS for 30 s: every response comes over HTTP/2 on one connection, the
//! playlists compressed as the browser accepts, with no fatal error and no
//! stall over 1 s. The self-signed test certificate is accepted with the
//! rig's test-only `--ignore-certificate-errors`. Skipped with a message
//! when the rig or openssl is missing, except under `CI=true`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::tls::TestPki;
use common::*;

/// The demo edge with a TLS listener beside the kit's cleartext one; ready
/// once a variant playlist answers 200 (before its first segment the
/// packager says 404, which hls.js would rightly take as fatal).
async fn demo_edge_over_tls(pki: &TestPki) -> (TestEdge, SocketAddr) {
    let cert = pki.issue(&["127.0.0.1", "localhost"], 30);
    let packager = free_addr();
    let tls = free_addr();
    let config = EdgeConfig::new()
        .route("/hls/", packager)
        .tls_listener(tls, &cert.cert, &cert.key)
        .demo_packager(packager);
    let edge = TestEdge::start_config(&config).await;
    let deadline = Deadline::new("the demo's playlists", Duration::from_secs(15));
    loop {
        let master = edge.get("/hls/demo/master.m3u8").await;
        if let Some(variant) = uris_in(&master.text()).into_iter().next() {
            if edge.get(&format!("/hls/demo/{variant}")).await.status == 200 {
                return (edge, tls);
            }
        }
        deadline
            .tick(Duration::from_millis(100), || edge.logs())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hlsjs_plays_the_demo_over_https_and_http2_for_thirty_seconds() {
    if !have_hlsjs() {
        return;
    }
    let Some(pki) = TestPki::new() else { return };
    let (edge, tls) = demo_edge_over_tls(&pki).await;
    let before = edge.metrics().await;

    let url = format!("https://127.0.0.1:{}/hls/demo/master.m3u8", tls.port());
    let opts = PlayOptions::seconds(30).ignore_certificate_errors();
    let report = tokio::task::spawn_blocking(move || hlsjs_play(&url, &opts))
        .await
        .expect("the player thread joins")
        .unwrap_or_else(|e| panic!("{e}\n{}", edge.logs()));
    eprintln!("{report}");

    assert!(report.started, "{report}");
    assert_eq!(report.end_reason, "watched", "{report}");
    assert!(report.fatal_errors().is_empty(), "{report}");
    assert!(report.longest_stall_ms() <= 1000, "{report}");
    assert!(report.played_seconds >= 25.0, "{report}");
    assert!(report.decoded_bytes.audio.unwrap_or(0) > 0, "{report}");
    // what the browser's network stack saw: every response 200 over h2
    let http = &report.http;
    assert!(http.total >= 15, "{report}");
    assert_eq!(
        http.protocols.get("h2"),
        Some(&http.total),
        "{:?}",
        http.protocols
    );
    assert_eq!(
        http.statuses.get("200"),
        Some(&http.total),
        "{:?}",
        http.statuses
    );
    assert!(http.failed.is_empty() && http.not_ok.is_empty(), "{report}");

    // what the edge saw: one or two TLS connections carried it all, and the
    // playlists went compressed (Chromium accepts gzip, br and zstd); both
    // are counted once a response is sent, which can be after the browser
    // has it: the counts are polled until they reach what the browser saw
    let h2 = [("protocol", "h2")];
    let playlists = report.counts.manifest_loads + report.counts.level_loads;
    scrape_until(
        &edge,
        &before,
        "hls_edge_requests_by_protocol_total",
        &h2,
        http.total as f64,
    )
    .await;
    let after = scrape_until(
        &edge,
        &before,
        "hls_edge_compressed_responses_total",
        &[],
        playlists as f64,
    )
    .await;
    let delta =
        |name: &str, labels: &[(&str, &str)]| common::metrics::delta(&before, &after, name, labels);
    let listener = tls.to_string();
    let handshakes = delta(
        "hls_edge_tls_handshakes_total",
        &[("listener", &listener), ("version", "TLSv1.3")],
    );
    assert!(
        (1.0..=2.0).contains(&handshakes),
        "{handshakes} TLS connections"
    );
    let h2 = delta("hls_edge_requests_by_protocol_total", &h2);
    assert!(h2 >= http.total as f64, "{h2} h2 requests at the edge");
    let compressed: f64 = ["gzip", "br", "zstd"]
        .iter()
        .map(|e| delta("hls_edge_compressed_responses_total", &[("encoding", e)]))
        .sum();
    assert!(
        compressed >= playlists as f64,
        "{compressed} compressed responses for {playlists} playlist loads"
    );
}
