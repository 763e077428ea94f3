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

/// A miss served by a working origin, for comparison with a failover.
async fn timed_get(edge: &TestEdge, path: &str) -> (Response, Duration) {
    let started = Instant::now();
    let r = edge.get(path).await;
    (r, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_primary_costs_one_read_timeout_then_the_secondary_answers() {
    const WARM: &str = "/hls/live/seg_0.ts";
    let primary = CountingOrigin::start();
    primary.set(WARM, Reply::segment(100_000));
    primary.set(SEGMENT, Reply::hang());
    let secondary = segment_origin(100_000);
    let group = "    connect_timeout: 1s\n    read_timeout: 500ms\n";
    let config = edge_config(&pair(primary.url(), secondary.url()), group);
    let edge = TestEdge::start_config(&config).await;
    let (warm, baseline) = timed_get(&edge, WARM).await;
    assert_eq!(warm.status, 200);

    let (r, took) = timed_get(&edge, SEGMENT).await;

    assert_eq!(
        (r.status, r.complete),
        (200, true),
        "{:?}",
        r.incomplete_reason
    );
    assert_eq!(r.body, pattern_body(100_000, 0));
    assert_eq!((primary.hits(SEGMENT), secondary.hits(SEGMENT)), (1, 1));
    let added = took.saturating_sub(baseline);
    eprintln!(
        "read-timeout failover (read_timeout 500ms): {took:?} against {baseline:?} for a plain miss, added {added:?}"
    );
    assert!(
        took >= Duration::from_millis(500),
        "answered in {took:?}: no timeout paid?"
    );
    assert!(
        added < Duration::from_millis(1200),
        "the failover added {added:?}: more than the read timeout and a margin"
    );
    assert!(
        cache_status(&r)[0].stored,
        "the secondary's copy is stored: {:?}",
        r.header("cache-status")
    );
}

/// An edge whose primary cuts `SEGMENT` with `cut`, ejected after one
/// failure so the next request goes to the secondary.
async fn cut_body_case(cut: Reply) {
    let primary = CountingOrigin::start();
    primary.set(SEGMENT, cut);
    let secondary = segment_origin(100_000);
    let group = format!("{TIMEOUTS}    health: {{failures: 1, cooldown: 1m}}\n");
    let config = edge_config(&pair(primary.url(), secondary.url()), &group);
    let edge = TestEdge::start_config(&config).await;

    // The head may already be on its way when the body breaks: the player
    // must then see a broken response, never a short body that looks whole.
    match edge.try_get_with(SEGMENT, &[]).await {
        Ok(r) => {
            eprintln!(
                "the player saw: status {}, {} bytes, {:?}",
                r.status,
                r.body.len(),
                r.incomplete_reason
            );
            assert!(
                r.status >= 500 || !r.complete,
                "a cut body reached the player as complete: status {}, {} bytes, {:?}",
                r.status,
                r.body.len(),
                r.framing
            );
        }
        Err(e) => eprintln!("the cut request ended without a response head: {e}"),
    }
    assert_eq!(primary.hits(SEGMENT), 1);

    let next = edge.get(SEGMENT).await;
    let again = edge.get(SEGMENT).await;

    assert_eq!(
        (next.status, next.complete),
        (200, true),
        "{:?}",
        next.incomplete_reason
    );
    assert_eq!(next.body, pattern_body(100_000, 0));
    let entry = &cache_status(&next)[0];
    assert!(
        !entry.hit && entry.stored,
        "the cut copy was not stored, the secondary's is: {:?}",
        next.header("cache-status")
    );
    assert_eq!((primary.hits(SEGMENT), secondary.hits(SEGMENT)), (1, 1));
    assert!(
        cache_status(&again)[0].hit,
        "{:?}",
        again.header("cache-status")
    );
    assert_eq!(again.body, pattern_body(100_000, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_cut_short_of_its_content_length_is_not_passed_off_or_stored() {
    cut_body_case(Reply::truncated(100_000, 30_000)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chunked_body_without_its_last_chunk_is_not_passed_off_or_stored() {
    cut_body_case(Reply::segment(100_000).chunked().cut_after(30_000)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_segment_missing_on_the_primary_is_fetched_from_the_secondary() {
    const NOWHERE: &str = "/hls/live/seg_99.ts";
    const PLAYLIST: &str = "/hls/live/index.m3u8";
    let primary = CountingOrigin::start();
    primary.set(SEGMENT, Reply::status(404));
    let secondary = segment_origin(40_000);
    secondary.set(PLAYLIST, Reply::playlist(vod_playlist(2, 3)));
    let edge = TestEdge::start_config(&edge_config(
        &pair(primary.url(), secondary.url()),
        TIMEOUTS,
    ))
    .await;

    let found = edge.get(SEGMENT).await;
    let nowhere = edge.get(NOWHERE).await;
    let playlist = edge.get(PLAYLIST).await;

    assert_eq!((found.status, found.complete), (200, true));
    assert_eq!(found.body, pattern_body(40_000, 0));
    assert_eq!((primary.hits(SEGMENT), secondary.hits(SEGMENT)), (1, 1));
    // Neither has it: a 404, each origin asked once, never stored.
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.header("cache-control"), Some("no-store"));
    assert_eq!((primary.hits(NOWHERE), secondary.hits(NOWHERE)), (1, 1));
    // A playlist's 404 is the origin's answer: not asked again elsewhere.
    assert_eq!(playlist.status, 404);
    assert_eq!((primary.hits(PLAYLIST), secondary.hits(PLAYLIST)), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_retry_404_segments_off_the_primary_404_is_the_answer() {
    let primary = CountingOrigin::start();
    primary.set(SEGMENT, Reply::status(404));
    let secondary = segment_origin(1000);
    let group = format!("{TIMEOUTS}    retry_404_segments: false\n");
    let config = edge_config(&pair(primary.url(), secondary.url()), &group);
    let edge = TestEdge::start_config(&config).await;

    let r = edge.get(SEGMENT).await;

    assert_eq!(r.status, 404);
    assert_eq!((primary.hits(SEGMENT), secondary.hits(SEGMENT)), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stored_segment_is_served_stale_while_every_origin_fails_within_stale_if_error_only() {
    const TTL: Duration = Duration::from_secs(1);
    const STALE_IF_ERROR: Duration = Duration::from_secs(3);
    let primary = segment_origin(30_000);
    let secondary = segment_origin(30_000);
    let config = edge_config(&pair(primary.url(), secondary.url()), TIMEOUTS)
        .cache("segment_ttl", "1s")
        .cache("stale_if_error", "3s");
    let edge = TestEdge::start_config(&config).await;
    let before = Instant::now();
    let stored = edge.get(SEGMENT).await;
    let after = Instant::now();
    assert!(
        cache_status(&stored)[0].stored,
        "{:?}",
        stored.header("cache-status")
    );
    primary.stop();
    secondary.stop();

    // Fresh hits first, then (TTL over, every origin refusing) stale copies.
    let mut first_stale = None;
    let mut last_stale = None;
    let mut refused = None;
    let deadline = after + TTL + STALE_IF_ERROR + Duration::from_secs(3);
    while Instant::now() < deadline {
        let sent = Instant::now();
        let r = edge.get(SEGMENT).await;
        let entry = cache_status(&r).last().cloned().unwrap_or_default();
        if r.status != 200 {
            refused = Some((
                sent,
                Instant::now(),
                r.status,
                r.header("cache-control").map(str::to_string),
            ));
            break;
        }
        assert!(
            r.complete && r.body == pattern_body(30_000, 0),
            "stale or not, whole"
        );
        assert!(
            entry.hit,
            "200 without an origin: from the cache {:?}",
            r.header("cache-status")
        );
        if entry.fwd.as_deref() == Some("stale") {
            first_stale.get_or_insert(Instant::now());
            last_stale = Some(sent);
        } else {
            assert!(first_stale.is_none(), "fresh again after stale?");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let first_stale = first_stale.expect("served stale once the TTL was over");
    let last_stale = last_stale.expect("served stale");
    let (refused_sent, refused_at, status, cache_control) =
        refused.expect("an error once the stale-if-error window closed");
    eprintln!(
        "stale from {:?} to {:?} after storing, error {status} from {:?}",
        first_stale - before,
        last_stale - before,
        refused_at - before
    );
    assert!(first_stale - before >= TTL, "stale only after the TTL");
    assert!(
        last_stale <= after + TTL + STALE_IF_ERROR,
        "never stale past the window"
    );
    assert!(
        refused_at - before >= TTL + STALE_IF_ERROR,
        "not refused inside the window"
    );
    assert!(
        refused_sent <= after + TTL + STALE_IF_ERROR + Duration::from_millis(1500),
        "still served long after the window"
    );
    assert!(status >= 500, "{status}");
    assert!(
        cache_control
            .as_deref()
            .is_some_and(|cc| cc.contains("no-store")),
        "{cache_control:?}"
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
