//! Origin failover as a player sees it (design section 5): a real edge in
//! front of two counting origins, each test on its own loopback ports.
//! Asserts on statuses, body bytes, Cache-Status and origin hit counts.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;

const SEGMENT: &str = "/hls/live/seg_1.ts";

/// Group timeouts of every test unless it sets its own.
const TIMEOUTS: &str = "    connect_timeout: 1s\n    read_timeout: 5s\n";

/// An edge whose one route `/hls/` pulls from a group of `origins`: a URL and
/// its other keys (`"priority: 1, weight: 3"`); `group` is the rest of the
/// group as 4-space indented YAML lines.
fn edge_config(origins: &[(String, &str)], group: &str) -> EdgeConfig {
    let list: String = origins
        .iter()
        .map(|(url, keys)| format!("      - {{url: \"{url}\", {keys}}}\n"))
        .collect();
    EdgeConfig::new().extra_yaml(&format!(
        "origin_groups:\n  live:\n    origins:\n{list}{group}routes:\n  - name: live\n    prefix: /hls/\n    origin_group: live\n"
    ))
}

/// A primary (priority 0) and a secondary (priority 1).
fn pair(primary: String, secondary: String) -> [(String, &'static str); 2] {
    [(primary, "priority: 0"), (secondary, "priority: 1")]
}

/// A loopback address nothing listens on (connects are refused).
fn refusing_addr() -> SocketAddr {
    free_addr()
}

fn segment_origin(body_len: usize) -> CountingOrigin {
    let origin = CountingOrigin::start();
    origin.set(SEGMENT, Reply::segment(body_len));
    origin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_primary_is_served_by_the_secondary() {
    let secondary = segment_origin(100_000);
    let primary = origin_url(refusing_addr());
    let edge =
        TestEdge::start_config(&edge_config(&pair(primary, secondary.url()), TIMEOUTS)).await;

    let r = edge.get(SEGMENT).await;

    assert_eq!(r.status, 200);
    assert!(r.complete, "{:?}", r.incomplete_reason);
    assert_eq!(r.body, pattern_body(100_000, 0));
    assert_eq!(secondary.hits(SEGMENT), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_stopped_mid_stream_is_replaced_without_a_failed_request() {
    let primary = segment_origin(50_000);
    let secondary = segment_origin(50_000);
    for origin in [&primary, &secondary] {
        origin.set("/hls/live/seg_2.ts", Reply::segment(50_000));
    }
    let edge = TestEdge::start_config(&edge_config(
        &pair(primary.url(), secondary.url()),
        TIMEOUTS,
    ))
    .await;
    assert_eq!(edge.get(SEGMENT).await.status, 200);
    primary.stop();

    let r = edge.get("/hls/live/seg_2.ts").await;

    assert_eq!((r.status, r.complete), (200, true));
    assert_eq!((primary.hits(SEGMENT), secondary.hits(SEGMENT)), (1, 0));
    assert_eq!(secondary.hits("/hls/live/seg_2.ts"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_503_from_the_primary_is_served_by_the_secondary_and_stored() {
    let primary = CountingOrigin::start();
    primary.set(SEGMENT, Reply::status(503));
    let secondary = segment_origin(64_000);
    let edge = TestEdge::start_config(&edge_config(
        &pair(primary.url(), secondary.url()),
        TIMEOUTS,
    ))
    .await;

    let first = edge.get(SEGMENT).await;
    let second = edge.get(SEGMENT).await;

    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.body, pattern_body(64_000, 0));
    assert!(
        cache_status(&first)[0].stored,
        "{:?}",
        first.header("cache-status")
    );
    assert!(
        cache_status(&second)[0].hit,
        "{:?}",
        second.header("cache-status")
    );
    assert_eq!((primary.hits(SEGMENT), secondary.hits(SEGMENT)), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn priority_decides_whatever_the_order_written() {
    let low = segment_origin(1000);
    let high = segment_origin(1000);
    // The priority-1 origin is written first: the priority-0 one is asked.
    let edge = TestEdge::start_config(&edge_config(
        &[(low.url(), "priority: 1"), (high.url(), "priority: 0")],
        TIMEOUTS,
    ))
    .await;

    for n in 0..5 {
        let path = format!("/hls/live/p{n}.ts");
        high.set(&path, Reply::segment(1000));
        assert_eq!(edge.get(&path).await.status, 200);
    }

    assert_eq!(low.total(), 0);
    assert_eq!(high.total(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_every_origin_fails_the_player_gets_an_error_not_a_hang() {
    let primary = CountingOrigin::start();
    primary.set(SEGMENT, Reply::status(503));
    let secondary = CountingOrigin::start();
    secondary.set(SEGMENT, Reply::status(502));
    let edge = TestEdge::start_config(&edge_config(
        &pair(primary.url(), secondary.url()),
        TIMEOUTS,
    ))
    .await;

    let r = edge.get(SEGMENT).await;

    assert!(r.status >= 500, "{}", r.status);
    assert_eq!(
        (primary.hits(SEGMENT), secondary.hits(SEGMENT)),
        (1, 1),
        "each once"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_down_origin_is_skipped_so_requests_no_longer_pay_its_timeout() {
    let primary = CountingOrigin::start();
    primary.set_fallback(|_| Reply::hang());
    let secondary = CountingOrigin::start();
    secondary.set_fallback(|_| Reply::segment(10_000));
    let group = "    connect_timeout: 1s\n    read_timeout: 400ms\n    health: {failures: 2, cooldown: 1m}\n";
    let config = edge_config(&pair(primary.url(), secondary.url()), group);
    let edge = TestEdge::start_config(&config).await;

    for n in 0..2 {
        let started = Instant::now();
        let r = edge.get(&format!("/hls/live/slow{n}.ts")).await;
        assert_eq!(r.status, 200);
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "paid the read timeout"
        );
    }
    for n in 0..5 {
        let started = Instant::now();
        let r = edge.get(&format!("/hls/live/fast{n}.ts")).await;
        assert_eq!(r.status, 200);
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "request {n} took {:?}: the ejected origin was asked",
            started.elapsed()
        );
    }
    assert_eq!(primary.total(), 2, "ejected after 2 failures");
    assert_eq!(secondary.total(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn weights_share_requests_between_origins_of_one_priority() {
    let a = CountingOrigin::start();
    let b = CountingOrigin::start();
    for origin in [&a, &b] {
        origin.set_fallback(|_| Reply::segment(1000));
    }
    let origins = [(a.url(), "weight: 3"), (b.url(), "weight: 1")];
    let edge = TestEdge::start_config(&edge_config(&origins, TIMEOUTS)).await;

    for n in 0..40 {
        assert_eq!(edge.get(&format!("/hls/live/w{n}.ts")).await.status, 200);
    }

    assert_eq!((a.total(), b.total()), (30, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_probe_ejects_an_origin_before_any_player_request() {
    let primary = CountingOrigin::start();
    primary.set("/healthz", Reply::status(503));
    primary.set(SEGMENT, Reply::segment(1000));
    let secondary = segment_origin(1000);
    secondary.set("/healthz", Reply::ok("ok", "text/plain"));
    let group = format!("{TIMEOUTS}    health: {{failures: 2, cooldown: 1m, probe_path: /healthz, probe_interval: 100ms, probe_timeout: 1s}}\n");
    let config = edge_config(&pair(primary.url(), secondary.url()), &group);
    let edge = TestEdge::start_config(&config).await;

    assert!(
        primary
            .wait_for_hits("/healthz", 3, Duration::from_secs(5))
            .await,
        "probed every 100 ms"
    );
    let r = edge.get(SEGMENT).await;

    assert_eq!(r.status, 200);
    assert_eq!((primary.hits(SEGMENT), secondary.hits(SEGMENT)), (0, 1));
    let probe = secondary.last_request("/healthz").expect("probed");
    assert_eq!(
        probe.header("host"),
        Some(secondary.addr().to_string().as_str())
    );
}
