//! Load over HTTP/2 with `h2load` (nghttp2): many streams multiplexed on a
//! few TLS connections, every request answered 200 from the cache, and as
//! many TLS handshakes as connections. The figures for docs/performance.md
//! come from `benches/h2.sh`; this test only asserts correctness under load.

mod common;

use std::process::Command;

use common::tls::{tool, TestPki};
use common::*;

const REQUESTS: usize = 3000;
const CONNECTIONS: usize = 4;
const STREAMS: usize = 32;

/// `N` from h2load's `requests: ... N succeeded, F failed, E errored, T timeout`
/// and `status codes: N 2xx`.
fn count(report: &str, line: &str, word: &str) -> Option<usize> {
    let line = report.lines().find(|l| l.trim_start().starts_with(line))?;
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let at = words.iter().position(|w| *w == word)?;
    words.get(at.checked_sub(1)?)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2load_many_streams_on_few_connections_without_an_error() {
    let Some(pki) = TestPki::new() else { return };
    if !tool("h2load", "--version") {
        return;
    }
    let origin = CountingOrigin::start();
    origin.set("/hls/v/index.m3u8", Reply::playlist(vod_playlist(4, 30)));
    origin.set("/hls/v/seg_1.ts", Reply::segment(100_000));
    let cert = pki.issue(&["127.0.0.1"], 30);
    let tls = free_addr();
    let config = EdgeConfig::new()
        .route("/hls/", origin.addr())
        .tls_listener(tls, &cert.cert, &cert.key);
    let edge = TestEdge::start_config(&config).await;
    let before = edge.metrics().await;

    let base = format!("https://127.0.0.1:{}", tls.port());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("h2load")
            .args(["-n", &REQUESTS.to_string()])
            .args(["-c", &CONNECTIONS.to_string()])
            .args(["-m", &STREAMS.to_string()])
            .args(["-T", "20", "-N", "20"])
            .arg(format!("{base}/hls/v/index.m3u8"))
            .arg(format!("{base}/hls/v/seg_1.ts"))
            .output()
            .expect("h2load runs")
    })
    .await
    .expect("joins");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "h2load: {report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("Application protocol: h2"), "{report}");
    assert_eq!(
        count(&report, "requests:", "succeeded"),
        Some(REQUESTS),
        "{report}"
    );
    for bad in ["failed", "errored", "timeout"] {
        assert_eq!(count(&report, "requests:", bad), Some(0), "{bad}: {report}");
    }
    assert_eq!(
        count(&report, "status codes:", "2xx"),
        Some(REQUESTS),
        "{report}"
    );

    // every object fetched once; the rest were hits on the few connections
    assert_eq!(origin.hits("/hls/v/index.m3u8"), 1);
    assert_eq!(origin.hits("/hls/v/seg_1.ts"), 1);
    // a request is counted once its response is sent, which can be after
    // h2load has it
    let h2 = [("protocol", "h2")];
    let after = scrape_until(
        &edge,
        &before,
        "hls_edge_requests_by_protocol_total",
        &h2,
        REQUESTS as f64,
    )
    .await;
    let listener = tls.to_string();
    let handshakes = common::metrics::delta(
        &before,
        &after,
        "hls_edge_tls_handshakes_total",
        &[("listener", &listener), ("version", "TLSv1.3")],
    );
    assert_eq!(handshakes, CONNECTIONS as f64);
    let h2 = common::metrics::delta(&before, &after, "hls_edge_requests_by_protocol_total", &h2);
    assert_eq!(h2, REQUESTS as f64);
}

#[test]
fn h2load_report_lines_are_read() {
    let report = "requests: 3000 total, 3000 started, 3000 done, 2999 succeeded, 1 failed, 0 errored, 0 timeout\nstatus codes: 2999 2xx, 0 3xx, 1 4xx, 0 5xx\n";
    assert_eq!(count(report, "requests:", "succeeded"), Some(2999));
    assert_eq!(count(report, "requests:", "failed"), Some(1));
    assert_eq!(count(report, "status codes:", "2xx"), Some(2999));
    assert_eq!(count(report, "status codes:", "4xx"), Some(1));
}
