//! What `/status` and `/metrics` say about each live stream through a real
//! edge (design section 6, issue 6): a frozen origin playlist ages past three
//! target durations and is flagged, then thaws when it advances again; twenty
//! token sessions count as twenty viewers of their stream until 30 s after
//! their last request.
//!
//! Every edge is the real binary on free loopback ports in front of a counting
//! origin; waits are bounded polls. The viewers test waits out the 30 s window.
//!
//! Run: `cargo test --release --test stream_stats`

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::tokens::{KEY, TOKENS};
use common::*;
use serde_json::Value;

// ---------------------------------------------------------------------------
// a frozen live stream

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_origin_playlist_ages_past_three_target_durations_and_is_flagged() {
    const PLAYLIST: &str = "/hls/live1/index.m3u8";
    let origin = CountingOrigin::start();
    let live = origin.set_live_playlist(PLAYLIST, LivePlaylist::new(1, 3, 100));
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;

    // a player polling the live playlist through the edge every 200 ms
    let polling = Arc::new(AtomicBool::new(true));
    let player = {
        let (addr, polling) = (edge.addr(), polling.clone());
        tokio::spawn(async move {
            let mut fetched = 0u32;
            while polling.load(Ordering::SeqCst) {
                let r = http_get(addr, PLAYLIST, &[]).await.expect("edge answers");
                assert_eq!(r.status, 200, "{}", r.text());
                fetched += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            fetched
        })
    };

    // the origin advances every second for 4 s: never frozen, young playlist
    let mut checked = 0;
    for _ in 0..4 {
        let next = Instant::now() + Duration::from_secs(1);
        while Instant::now() < next {
            if let Some(view) = stream_in(&status_json(&edge).await, "live1") {
                if view["playlist_age_seconds"].is_number() {
                    let age = view["playlist_age_seconds"].as_f64().expect("number");
                    assert!(age < 3.0 && view["frozen"] == false, "advancing: {view}");
                    checked += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        live.advance();
    }
    assert!(
        checked >= 8,
        "the stream was seen while advancing ({checked} views)"
    );
    let stopped = Instant::now();
    // once the player's second fetch after the last advance reaches the
    // origin, the edge has recorded the first one (recorded as it is sent)
    let fetched_at_stop = origin.hits(PLAYLIST);
    assert!(
        origin
            .wait_for_hits(PLAYLIST, fetched_at_stop + 2, Duration::from_secs(5))
            .await,
        "the player keeps polling"
    );

    // the origin freezes: the age grows past 3 x target duration (3 s)
    let deadline = Deadline::new("live1 frozen on /status", Duration::from_secs(15));
    let mut ages = Vec::new();
    let frozen_view = loop {
        let view = stream_in(&status_json(&edge).await, "live1").expect("live1 on /status");
        let age = view["playlist_age_seconds"].as_f64().expect("an age");
        ages.push(age);
        if view["frozen"] == true && age > 3.0 {
            break view;
        }
        // the age is rounded to 0.1 s: 3.04 s shows as 3.0
        if view["frozen"] == true && age < 2.95 {
            panic!("frozen with an age of {age} s: {view}");
        }
        deadline
            .tick(Duration::from_millis(100), || view.to_string())
            .await;
    };
    let frozen_after = stopped.elapsed();
    assert!(
        frozen_after >= Duration::from_millis(2900),
        "flagged {frozen_after:?} after the last advance"
    );
    assert!(
        ages.windows(2).all(|w| w[0] <= w[1]),
        "the age only grows while frozen: {ages:?}"
    );
    assert_eq!(
        frozen_view["segment_lag"], 0,
        "one origin: no lag: {frozen_view}"
    );
    assert!(frozen_view["viewers"].as_u64() >= Some(1), "{frozen_view}");
    let metrics = edge.metrics().await;
    let age = metric_value(
        &metrics,
        "hls_edge_stream_playlist_age_seconds",
        &[("stream", "live1")],
    )
    .unwrap_or_else(|| panic!("no playlist age for live1:\n{metrics}"));
    assert!(age > 3.0, "playlist age gauge {age}");
    assert_eq!(
        metric_value(
            &metrics,
            "hls_edge_stream_segment_lag",
            &[("stream", "live1")]
        ),
        Some(0.0)
    );

    // the origin advances again: no longer frozen
    live.advance();
    let deadline = Deadline::new("live1 thawed on /status", Duration::from_secs(5));
    loop {
        let view = stream_in(&status_json(&edge).await, "live1").expect("live1 on /status");
        let age = view["playlist_age_seconds"].as_f64();
        if view["frozen"] == false && age.is_some_and(|a| a < 1.0) {
            break;
        }
        deadline
            .tick(Duration::from_millis(50), || view.to_string())
            .await;
    }
    polling.store(false, Ordering::SeqCst);
    let fetched = player.await.expect("the player task");
    assert!(fetched >= 20, "{fetched} playlist fetches");
}

// ---------------------------------------------------------------------------
// viewers per stream

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_sessions_count_as_twenty_viewers_until_their_window_ends() {
    let origin = CountingOrigin::start();
    origin.set_fallback(|req| {
        if req.path.ends_with(".ts") {
            Reply::segment(5_000)
        } else {
            Reply::status(404)
        }
    });
    let edge = TestEdge::start_config(
        &EdgeConfig::new()
            .route_config(
                RouteConfig::new("/hls/")
                    .origin(origin.addr())
                    .option("tokens", TOKENS),
            )
            .env("TEST_TOKEN_KEY", KEY),
    )
    .await;

    // 20 sessions, all from 127.0.0.1, two segments each (the second a hit);
    // and one session of another stream
    let first_request = Instant::now();
    for i in 0..20 {
        let token = entry_token("/hls/x/*", &format!("viewer-{i}"));
        for seg in ["seg_1.ts", "seg_2.ts"] {
            let r = edge.get(&format!("/hls/x/{seg}?hdnts={token}")).await;
            assert_eq!(r.status, 200, "{:?}", r.header("x-token-error"));
        }
    }
    let token = entry_token("/hls/y/*", "viewer-0");
    assert_eq!(
        edge.get(&format!("/hls/y/seg_1.ts?hdnts={token}"))
            .await
            .status,
        200
    );
    // refused requests are no viewers
    assert_eq!(edge.get("/hls/x/seg_1.ts").await.status, 401);
    let last_request = Instant::now();

    let viewers = |metrics: &str, stream: &str| {
        metric_value(metrics, "hls_edge_stream_viewers", &[("stream", stream)])
    };
    // a viewer is counted once its response is sent, which can be after the
    // player has it: y's may land after x's twentieth
    let deadline = Deadline::new("20 viewers of x and 1 of y", Duration::from_secs(5));
    loop {
        let metrics = edge.metrics().await;
        let (x, y) = (viewers(&metrics, "x"), viewers(&metrics, "y"));
        if x >= Some(20.0) && y >= Some(1.0) {
            assert_eq!((x, y), (Some(20.0), Some(1.0)), "{metrics}");
            break;
        }
        deadline
            .tick(Duration::from_millis(20), || metrics.clone())
            .await;
    }
    let status = status_json(&edge).await;
    let x = stream_in(&status, "x").unwrap_or_else(|| panic!("no stream x: {status}"));
    assert_eq!(x["viewers"], 20, "{x}");
    assert_eq!(
        x["playlist_age_seconds"],
        Value::Null,
        "no playlist seen: {x}"
    );
    assert_eq!(stream_in(&status, "y").expect("stream y")["viewers"], 1);

    // 30 s after their last request they are gone, not before
    let deadline = Deadline::new("viewers of x expiring", Duration::from_secs(45));
    loop {
        let metrics = edge.metrics().await;
        let now = viewers(&metrics, "x");
        if now == Some(0.0) {
            break;
        }
        // the 20 were seen within a fraction of a second: they leave together
        if now != Some(20.0) {
            assert!(
                first_request.elapsed() >= Duration::from_secs(29),
                "{now:?} viewers {:?} after the first request:\n{metrics}",
                first_request.elapsed()
            );
        }
        deadline
            .tick(Duration::from_millis(500), || metrics.clone())
            .await;
    }
    let gone_after = first_request.elapsed();
    assert!(
        gone_after >= Duration::from_secs(29),
        "viewers expired {gone_after:?} after their first request"
    );
    assert!(
        last_request.elapsed() <= Duration::from_secs(40),
        "expired only {:?} after the last request",
        last_request.elapsed()
    );
    let status = status_json(&edge).await;
    assert_eq!(
        stream_in(&status, "x").expect("stream x")["viewers"],
        0,
        "{status}"
    );
    assert_eq!(
        stream_in(&status, "y").expect("stream y")["viewers"],
        0,
        "{status}"
    );
}
