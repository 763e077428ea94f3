//! Origin failover as a player sees it (design section 5): a real edge in
//! front of two counting origins, each test on its own loopback ports.
//! A refused, stopped, 503-answering, probe-failing or dead primary is
//! replaced by the secondary; priority and weight pick the origin; a down
//! origin is skipped. Asserts on statuses, body bytes, Cache-Status and
//! origin hit counts. Origin errors that are not a failed connect or status
//! (hangs, cut bodies, 404s, stale-if-error) are in `origins_errors.rs`.
//!
//! Run: `cargo test --release --test origins_failover`

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::origin_group::{edge_config, pair, segment_origin, timed_get, SEGMENT, TIMEOUTS};
use common::*;

/// A loopback address nothing listens on (connects are refused).
fn refusing_addr() -> SocketAddr {
    free_addr()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_player_reading_a_live_stream_sees_no_failed_request_when_the_primary_dies() {
    const PLAYLIST: &str = "/hls/live/index.m3u8";
    let origins = [CountingOrigin::start(), CountingOrigin::start()];
    let playlists: Vec<_> = origins
        .iter()
        .map(|o| {
            o.set_fallback(|req| match req.path.ends_with(".ts") {
                true => Reply::segment(50_000),
                false => Reply::status(404),
            });
            o.set_live_playlist(PLAYLIST, LivePlaylist::new(1, 3, 100))
        })
        .collect();
    let [primary, secondary] = &origins;
    let edge = TestEdge::start_config(&edge_config(
        &pair(primary.url(), secondary.url()),
        TIMEOUTS,
    ))
    .await;

    // Both origins publish one segment every 250 ms (a fast live stream),
    // the player reloads every 100 ms and fetches each new segment once.
    let ticker = {
        let playlists = playlists.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(250));
            every.tick().await;
            loop {
                every.tick().await;
                playlists.iter().for_each(|p| {
                    p.advance();
                });
            }
        })
    };
    let started = Instant::now();
    let mut killed_at = None;
    let mut fetched = std::collections::BTreeSet::new();
    let mut before_kill = Vec::new();
    let mut after_kill = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        if killed_at.is_none() && started.elapsed() >= Duration::from_millis(1200) {
            primary.stop();
            killed_at = Some(Instant::now());
        }
        let (list, took) = timed_get(&edge, PLAYLIST).await;
        assert_eq!(
            (list.status, list.complete),
            (200, true),
            "playlist after {:?}",
            started.elapsed()
        );
        let mut timings = vec![took];
        for uri in uris_in(&list.text()) {
            if fetched.insert(uri.clone()) {
                let (seg, took) = timed_get(&edge, &format!("/hls/live/{uri}")).await;
                assert_eq!((seg.status, seg.complete), (200, true), "{uri}");
                timings.push(took);
            }
        }
        match killed_at {
            None => before_kill.extend(timings),
            Some(_) => after_kill.extend(timings),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ticker.abort();

    let newest = playlists[1].sequence() + 2;
    assert!(
        fetched.contains(&segment_uri(newest - 1)) || fetched.contains(&segment_uri(newest)),
        "the player kept getting new segments after the kill: {fetched:?}"
    );
    assert!(secondary.total() > 0 && primary.total() > 0);
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let first_after = after_kill[0];
    let worst_after = *after_kill.iter().max().expect("requests after the kill");
    eprintln!(
        "primary killed mid-stream: median request {:?} before, first request after the kill {first_after:?}, worst after {worst_after:?} ({} requests after)",
        median(&mut before_kill),
        after_kill.len()
    );
    assert!(
        worst_after < Duration::from_millis(1000),
        "a refused connect must not cost a timeout"
    );
}
