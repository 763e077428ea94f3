//! HTTPS to players (issue 13): a TLS listener through rustls beside the
//! cleartext one, HTTP/2 chosen by ALPN with HTTP/1.1 still accepted, the
//! certificate chosen by SNI, HSTS on TLS only, and the demo played over
//! `https://` by ffmpeg. Certificates come from a throwaway CA made with
//! openssl; clients trust that CA only.

mod common;

use common::tls::{curl, https_get, tls_connect, tool, TestPki};
use common::*;

const NAME: &str = "edge.test";

/// An edge with a cleartext listener (the kit's) and a TLS one for `NAME`.
async fn tls_edge(
    pki: &TestPki,
    origin: &CountingOrigin,
    extra: impl FnOnce(EdgeConfig) -> EdgeConfig,
) -> (TestEdge, std::net::SocketAddr) {
    let cert = pki.issue(&[NAME, "127.0.0.1"], 30);
    let tls = free_addr();
    let config = extra(
        EdgeConfig::new()
            .route("/hls/", origin.addr())
            .tls_listener(tls, &cert.cert, &cert.key),
    );
    (TestEdge::start_config(&config).await, tls)
}

fn vod_origin() -> CountingOrigin {
    let origin = CountingOrigin::start();
    origin.set("/hls/v/index.m3u8", Reply::playlist(vod_playlist(4, 3)));
    origin.set("/hls/v/seg_1.ts", Reply::segment(300_000));
    origin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alpn_picks_h2_and_http1_is_still_served_from_the_same_cache() {
    let Some(pki) = TestPki::new() else { return };
    if !tool("curl", "--version") {
        return;
    }
    let origin = vod_origin();
    let (edge, tls) = tls_edge(&pki, &origin, |c| c).await;
    let ca = pki.ca_cert();

    // a browser offers h2 first: the edge takes it
    let (_, offered_both) = tls_connect(tls, NAME, &ca, &["h2", "http/1.1"])
        .await
        .unwrap_or_else(|e| panic!("handshake: {e}\n{}", edge.logs()));
    assert_eq!(offered_both.alpn.as_deref(), Some("h2"));
    // a client without h2 gets HTTP/1.1 over TLS
    let (first, h1) = https_get(tls, NAME, &ca, "/hls/v/seg_1.ts", &[])
        .await
        .expect("HTTPS/1.1 GET");
    assert_eq!(h1.alpn.as_deref(), Some("http/1.1"));
    assert_eq!((first.status, first.version.as_str()), (200, "HTTP/1.1"));
    assert!(first.complete && first.body.len() == 300_000);
    assert!(
        cache_status(&first)[0].stored,
        "{:?}",
        first.header("cache-status")
    );

    // curl over HTTP/2 is served the stored copy
    let url = format!("https://{NAME}:{}/hls/v/seg_1.ts", tls.port());
    let resolve = format!("{NAME}:{}:127.0.0.1", tls.port());
    let ca_arg = ca.display().to_string();
    let args = ["--http2", "--cacert", &ca_arg, "--resolve", &resolve];
    let h2 = curl(&args, &url).unwrap_or_else(|e| panic!("{e}\n{}", edge.logs()));
    assert_eq!((h2.version.as_str(), h2.status), ("HTTP/2", 200));
    let status = h2.header("cache-status").expect("Cache-Status over h2");
    assert!(status.contains("edge-test; hit"), "{status}");
    assert_eq!(h2.body, first.body);
    assert_eq!(
        origin.hits("/hls/v/seg_1.ts"),
        1,
        "one fetch for both protocols"
    );

    // and cleartext HTTP/1.1 still works beside it
    let plain = edge.get("/hls/v/seg_1.ts").await;
    assert_eq!((plain.status, plain.body.len()), (200, 300_000));

    // curl's request is counted once its response is sent, which can be
    // after curl has it (a fresh edge counts from nothing)
    let h2 = [("protocol", "h2")];
    let metrics = scrape_until(&edge, "", "hls_edge_requests_by_protocol_total", &h2, 1.0).await;
    let listener = tls.to_string();
    let handshakes = metric_value(
        &metrics,
        "hls_edge_tls_handshakes_total",
        &[("listener", &listener), ("version", "TLSv1.3")],
    );
    assert!(handshakes.unwrap_or(0.0) >= 3.0, "{handshakes:?}");
    let h2_requests = metric_value(&metrics, "hls_edge_requests_by_protocol_total", &h2);
    assert_eq!(h2_requests, Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http2_false_offers_http1_only() {
    let Some(pki) = TestPki::new() else { return };
    let origin = vod_origin();
    let cert = pki.issue(&[NAME], 30);
    let tls = free_addr();
    let entry = format!(
        "{{addr: \"{tls}\", tls: {{cert: \"{}\", key: \"{}\", http2: false}}}}",
        cert.cert.display(),
        cert.key.display()
    );
    let config = EdgeConfig::new()
        .route("/hls/", origin.addr())
        .listener(&entry);
    let edge = TestEdge::start_config(&config).await;

    let (_, handshake) = tls_connect(tls, NAME, &pki.ca_cert(), &["h2", "http/1.1"])
        .await
        .unwrap_or_else(|e| panic!("handshake: {e}\n{}", edge.logs()));
    assert_eq!(handshake.alpn.as_deref(), Some("http/1.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sni_chooses_among_several_certificates() {
    let Some(pki) = TestPki::new() else { return };
    let origin = vod_origin();
    let first = pki.issue(&["default.test"], 30);
    let exact = pki.issue(&["a.test"], 30);
    let wildcard = pki.issue(&["*.b.test"], 30);
    let tls = free_addr();
    let cert = |c: &common::tls::ServerCert| {
        format!(
            "{{cert: \"{}\", key: \"{}\"}}",
            c.cert.display(),
            c.key.display()
        )
    };
    let entry = format!(
        "{{addr: \"{tls}\", tls: {{certificates: [{}, {}, {}]}}}}",
        cert(&first),
        cert(&exact),
        cert(&wildcard)
    );
    let config = EdgeConfig::new()
        .route("/hls/", origin.addr())
        .listener(&entry);
    let edge = TestEdge::start_config(&config).await;
    let ca = pki.ca_cert();

    for (name, expected) in [
        ("a.test", &exact),
        ("x.b.test", &wildcard),
        ("default.test", &first),
    ] {
        let (response, handshake) = https_get(tls, name, &ca, "/hls/v/index.m3u8", &[])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", edge.logs()));
        assert_eq!(response.status, 200, "{name}");
        assert!(
            handshake.peer_cert == expected.der,
            "{name}: wrong certificate"
        );
    }
    // a name no certificate carries gets the first one, which the client
    // refuses: the edge never presents a certificate for another name as valid
    let refused = tls_connect(tls, "other.test", &ca, &["http/1.1"]).await;
    assert!(
        refused.is_err(),
        "a certificate for other.test was accepted"
    );
    let metrics = edge.metrics().await;
    let unmatched = metric_value(
        &metrics,
        "hls_edge_tls_sni_unmatched_total",
        &[("listener", &tls.to_string())],
    );
    assert_eq!(unmatched, Some(1.0));
    let expiry = metric_value(
        &metrics,
        "hls_edge_tls_certificate_expiry_timestamp_seconds",
        &[("listener", &tls.to_string()), ("certificate", "*.b.test")],
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let days_left = (expiry.expect("expiry published") - now) / 86400.0;
    assert!((29.0..=31.0).contains(&days_left), "{days_left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hsts_is_sent_over_tls_only_when_configured() {
    let Some(pki) = TestPki::new() else { return };
    let origin = vod_origin();
    let (edge, tls) = tls_edge(&pki, &origin, |c| c.edge("hsts_max_age", "365d")).await;

    let (over_tls, _) = https_get(tls, NAME, &pki.ca_cert(), "/hls/v/index.m3u8", &[])
        .await
        .expect("HTTPS GET");
    assert_eq!(
        over_tls.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    // RFC 6797 7.2: never over cleartext
    let plain = edge.get("/hls/v/index.m3u8").await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("strict-transport-security"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_plays_over_https_with_ffmpeg() {
    let Some(pki) = TestPki::new() else { return };
    if !have("ffmpeg") {
        return;
    }
    let cert = pki.issue(&["127.0.0.1"], 30);
    let packager = free_addr();
    let tls = free_addr();
    let config = EdgeConfig::new()
        .route("/hls/", packager)
        .tls_listener(tls, &cert.cert, &cert.key)
        .demo_packager(packager);
    let edge = TestEdge::start_config(&config).await;

    // ffmpeg checks the certificate against the test CA
    let url = format!("https://127.0.0.1:{}/hls/demo/master.m3u8", tls.port());
    let ca = pki.ca_cert().display().to_string();
    let played = tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-v",
                "error",
                "-ca_file",
                &ca,
                "-tls_verify",
                "1",
            ])
            .args(["-i", &url, "-t", "8", "-f", "null", "-"])
            .output()
            .expect("ffmpeg runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("joins");
    assert!(
        played.0 && played.1.trim().is_empty(),
        "ffmpeg: {}\n{}",
        played.1,
        edge.logs()
    );

    let metrics = edge.metrics().await;
    let segments = metric_value(
        &metrics,
        "hls_edge_requests_total",
        &[
            ("route", "r0"),
            ("class", "segment"),
            ("status", "2xx"),
            ("cache", "miss"),
        ],
    );
    assert!(
        segments.unwrap_or(0.0) >= 2.0,
        "segments fetched: {segments:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn head_over_http2_has_no_body_on_a_miss_or_a_hit() {
    let Some(pki) = TestPki::new() else { return };
    if !tool("curl", "--version") {
        return;
    }
    let origin = vod_origin();
    let (edge, tls) = tls_edge(&pki, &origin, |c| c).await;
    let resolve = format!("{NAME}:{}:127.0.0.1", tls.port());
    let ca = pki.ca_cert().display().to_string();
    let args = ["--http2", "-I", "--cacert", &ca, "--resolve", &resolve];
    let url = |path: &str| format!("https://{NAME}:{}{path}", tls.port());

    // a miss fills the cache with the body; the HEAD response carries none
    // (RFC 9110 9.3.2), so curl's HTTP/2 stack sees a clean stream end
    for path in [
        "/hls/v/seg_1.ts",
        "/hls/v/seg_1.ts",
        "/hls/v/index.m3u8",
        "/hls/v/nope.ts",
    ] {
        let r =
            curl(&args, &url(path)).unwrap_or_else(|e| panic!("HEAD {path}: {e}\n{}", edge.logs()));
        // (curl -I writes the head where the body would go: no body check)
        assert_eq!(r.version, "HTTP/2", "{path}");
    }
    let hit = curl(
        &["--http2", "--cacert", &ca, "--resolve", &resolve],
        &url("/hls/v/seg_1.ts"),
    )
    .expect("GET after HEAD");
    assert_eq!((hit.status, hit.body.len()), (200, 300_000));
    assert!(hit
        .header("cache-status")
        .is_some_and(|s| s.contains("hit")));
    assert_eq!(origin.hits("/hls/v/seg_1.ts"), 1);
}
