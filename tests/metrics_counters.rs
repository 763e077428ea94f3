//! The counters on `/metrics` through a real edge (design section 6, issue 6):
//! a scripted sequence of misses, hits, collapsed fills, token refusals and a
//! loop refusal moves each counter by exactly its count and the hit-ratio
//! gauges agree with the counters; a failed cold fetch counts as a miss;
//! streams evicted from the stream book leave the metrics too.
//!
//! Every edge is the real binary on free loopback ports in front of a counting
//! origin; waits are bounded polls.
//!
//! Run: `cargo test --release --test metrics_counters`

mod common;

use std::time::Duration;

use common::metrics::{delta, value};
use common::*;

const EDGE_ID: &str = "edge-test";

fn edge_cache_status(r: &Response) -> CacheStatusEntry {
    cache_status_of(r, EDGE_ID)
        .unwrap_or_else(|| panic!("no Cache-Status entry of {EDGE_ID}: {:?}", r.headers))
}

/// A metric, the labels its samples must carry, and the expected delta.
type Expected<'a> = (&'a str, Vec<(&'a str, &'a str)>, f64);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scripted_sequence_moves_each_counter_by_exactly_its_count() {
    const SEG: usize = 10_000;
    const SLOW: usize = 50_000;
    let origin = CountingOrigin::start();
    for i in 1..=3 {
        origin.set(&format!("/hls/a/seg_{i}.ts"), Reply::segment(SEG));
    }
    origin.set(
        "/hls/a/slow.ts",
        Reply::segment(SLOW).delay(Duration::from_millis(400)),
    );
    // a refused request that leaked through would find something here
    origin.set_fallback(|_| Reply::segment(1_000));
    let edge = TestEdge::start_config(&two_routes(&origin)).await;
    let before = edge.metrics().await;
    let origin_name = origin.addr().to_string();

    // 3 cold segments: misses, stored
    for i in 1..=3 {
        let r = edge.get(&format!("/hls/a/seg_{i}.ts")).await;
        assert_eq!((r.status, r.body.len()), (200, SEG));
        let cs = edge_cache_status(&r);
        assert!(
            !cs.hit && !cs.collapsed && cs.stored,
            "cold GET {i}: {cs:?}"
        );
    }
    // 5 hits
    for path in [
        "/hls/a/seg_1.ts",
        "/hls/a/seg_2.ts",
        "/hls/a/seg_1.ts",
        "/hls/a/seg_3.ts",
        "/hls/a/seg_1.ts",
    ] {
        let r = edge.get(path).await;
        assert_eq!((r.status, r.body.len()), (200, SEG));
        assert!(
            edge_cache_status(&r).hit,
            "{path}: {:?}",
            r.header("cache-status")
        );
    }
    // 10 concurrent cold GETs of one segment on a slow origin: 1 fetch, 9 waiters
    let burst = concurrent_gets(edge.addr(), "/hls/a/slow.ts", 10).await;
    for r in &burst {
        assert_eq!(r.status, 200);
        assert!(
            r.complete && r.body.len() == SLOW,
            "{:?}",
            r.incomplete_reason
        );
    }
    let collapsed = burst
        .iter()
        .filter(|r| edge_cache_status(r).collapsed)
        .count();
    assert_eq!(
        collapsed, 9,
        "all but the fetching request waited for its fill"
    );
    assert_eq!(origin.hits("/hls/a/slow.ts"), 1);
    // token refusals: 2 without a token, 3 with a bad signature
    for _ in 0..2 {
        let r = edge.get("/sec/b/seg_1.ts").await;
        assert_eq!(
            (r.status, r.header("x-token-error")),
            (401, Some("missing"))
        );
    }
    for i in 0..3 {
        let token = with_bad_hmac(&entry_token("/sec/*", &format!("viewer-{i}")));
        let r = edge.get(&format!("/sec/b/seg_1.ts?hdnts={token}")).await;
        assert_eq!(
            (r.status, r.header("x-token-error")),
            (403, Some("bad-hmac"))
        );
    }
    // a request that already went through this edge
    let r = edge
        .get_with("/hls/a/seg_1.ts", &[("CDN-Loop", "shield-1, edge-test")])
        .await;
    assert_eq!((r.status, r.header("x-edge-refused")), (508, Some("loop")));

    let after = scrape_after(&edge, &before, 24.0).await;
    parse_exposition(&after).unwrap_or_else(|e| panic!("exposition: {e}\n{after}"));

    let seg = |cache: &'static str| {
        [
            ("route", "r0"),
            ("class", "segment"),
            ("status", "2xx"),
            ("cache", cache),
        ]
    };
    let expected: Vec<Expected> = vec![
        ("hls_edge_requests_total", vec![], 24.0),
        ("hls_edge_requests_total", seg("miss").to_vec(), 4.0),
        ("hls_edge_requests_total", seg("hit").to_vec(), 5.0),
        ("hls_edge_requests_total", seg("coalesced").to_vec(), 9.0),
        ("hls_edge_requests_total", vec![("cache", "stale")], 0.0),
        ("hls_edge_requests_total", vec![("cache", "bypass")], 0.0),
        ("hls_edge_requests_total", vec![("cache", "refused")], 6.0),
        (
            "hls_edge_requests_total",
            vec![("route", "r1"), ("status", "4xx"), ("cache", "refused")],
            5.0,
        ),
        (
            "hls_edge_requests_total",
            vec![("status", "5xx"), ("cache", "refused")],
            1.0,
        ),
        ("hls_edge_cache_lookups_total", vec![], 18.0),
        (
            "hls_edge_cache_lookups_total",
            vec![("class", "segment"), ("cache", "miss")],
            4.0,
        ),
        (
            "hls_edge_cache_lookups_total",
            vec![("class", "segment"), ("cache", "hit")],
            5.0,
        ),
        (
            "hls_edge_cache_lookups_total",
            vec![("class", "segment"), ("cache", "coalesced")],
            9.0,
        ),
        (
            "hls_edge_cache_lookups_total",
            vec![("cache", "stale")],
            0.0,
        ),
        ("hls_edge_token_rejections_total", vec![], 5.0),
        (
            "hls_edge_token_rejections_total",
            vec![("reason", "missing")],
            2.0,
        ),
        (
            "hls_edge_token_rejections_total",
            vec![("reason", "bad-hmac")],
            3.0,
        ),
        ("hls_edge_refused_requests_total", vec![], 1.0),
        (
            "hls_edge_refused_requests_total",
            vec![("reason", "loop")],
            1.0,
        ),
        ("hls_edge_origin_requests_total", vec![], 4.0),
        (
            "hls_edge_origin_requests_total",
            vec![
                ("group", "g0"),
                ("origin", origin_name.as_str()),
                ("outcome", "2xx"),
            ],
            4.0,
        ),
        ("hls_edge_origin_requests_total", vec![("group", "g1")], 0.0),
        (
            "hls_edge_origin_response_seconds_count",
            vec![("group", "g0")],
            4.0,
        ),
        (
            "hls_edge_sent_bytes_total",
            vec![("class", "segment"), ("cache", "miss")],
            (3 * SEG + SLOW) as f64,
        ),
        (
            "hls_edge_sent_bytes_total",
            vec![("class", "segment"), ("cache", "hit")],
            (5 * SEG) as f64,
        ),
        (
            "hls_edge_sent_bytes_total",
            vec![("class", "segment"), ("cache", "coalesced")],
            (9 * SLOW) as f64,
        ),
    ];
    let wrong: Vec<String> = expected
        .iter()
        .filter_map(|(name, labels, want)| {
            let got = delta(&before, &after, name, labels);
            (got != *want).then(|| format!("{name}{labels:?}: delta {got}, expected {want}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{}\n--- /metrics ---\n{after}",
        wrong.join("\n")
    );
    assert_eq!(origin.total(), 4, "the origin saw exactly the 4 misses");

    // the ratio gauges equal what the counters say (the edge is fresh, so the
    // cumulative counters are the deltas: 14 of 18 requests from the cache)
    let lookups = |cache: &str| {
        value(
            &after,
            "hls_edge_cache_lookups_total",
            &[("class", "segment"), ("cache", cache)],
        )
    };
    let requests = |cache: &str| {
        value(
            &after,
            "hls_edge_requests_total",
            &[("class", "segment"), ("cache", cache)],
        )
    };
    let ratio_of = |count: &dyn Fn(&str) -> f64| {
        (count("hit") + count("coalesced"))
            / (count("hit") + count("coalesced") + count("miss") + count("stale"))
    };
    let gauge = metric_value(&after, "hls_edge_cache_hit_ratio", &[("class", "segment")])
        .unwrap_or_else(|| panic!("no hit ratio for segments:\n{after}"));
    assert!((gauge - ratio_of(&lookups)).abs() < 1e-9, "gauge {gauge}");
    assert!((gauge - ratio_of(&requests)).abs() < 1e-9, "gauge {gauge}");
    assert!((gauge - 14.0 / 18.0).abs() < 1e-9, "gauge {gauge}");
    let bytes = |cache: &str| {
        value(
            &after,
            "hls_edge_sent_bytes_total",
            &[("class", "segment"), ("cache", cache)],
        )
    };
    let byte_gauge = metric_value(
        &after,
        "hls_edge_cache_byte_hit_ratio",
        &[("class", "segment")],
    )
    .unwrap_or_else(|| panic!("no byte hit ratio for segments:\n{after}"));
    assert!(
        (byte_gauge - ratio_of(&bytes)).abs() < 1e-9,
        "byte gauge {byte_gauge}"
    );
}

// ---------------------------------------------------------------------------
// regressions: bugs once found in src/ (each doc says what went wrong)

/// The stream book keeps at most `MAX_STREAMS` (1,000) streams and evicts the
/// least recently seen, but the evicted stream's `hls_edge_stream_*` series
/// stay in the registry: with stream names churning the label set grows
/// without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_evicted_from_the_book_leave_the_metrics_too() {
    let origin = CountingOrigin::start();
    origin.set_fallback(|_| Reply::segment(100));
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;
    for i in 0..1_005 {
        assert_eq!(edge.get(&format!("/hls/s{i}/a.ts")).await.status, 200);
        if i == 999 {
            // a scrape while the first 1,000 are in the book, as Prometheus does
            edge.metrics().await;
        }
    }
    let status = status_json(&edge).await;
    let on_status = status["streams"].as_array().expect("streams").len();
    let metrics = edge.metrics().await;
    let series = samples(&metrics)
        .into_iter()
        .filter(|s| s.name == "hls_edge_stream_viewers")
        .count();
    assert_eq!(on_status, 1_000, "the book is bounded");
    assert!(
        series <= 1_000,
        "{series} stream_viewers series for {on_status} streams"
    );
}

/// A cold segment whose origin fetch fails (connection refused: the edge
/// answers 502 itself) was a cache lookup that missed; it is counted as
/// `bypass`, so it is missing from `hls_edge_cache_lookups_total` and the hit
/// ratio (the ratio looks better during an origin outage).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_cold_fetch_counts_as_a_miss() {
    let dead = free_addr();
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", dead)).await;
    let before = edge.metrics().await;
    let r = edge.get("/hls/a/seg_1.ts").await;
    assert!(r.status >= 500, "{}", r.status);
    scrape_after(&edge, &before, 1.0).await;
    // the lookup is another family than the request: a scrape can fall between
    let after = scrape_until(&edge, &before, "hls_edge_cache_lookups_total", &[], 1.0).await;
    let seg = |cache| [("class", "segment"), ("cache", cache)];
    assert_eq!(
        (
            delta(&before, &after, "hls_edge_requests_total", &seg("miss")),
            delta(
                &before,
                &after,
                "hls_edge_cache_lookups_total",
                &seg("miss")
            ),
        ),
        (1.0, 1.0),
        "{after}"
    );
}
