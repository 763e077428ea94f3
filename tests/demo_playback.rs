//! The embedded default as a player sees it: one hls-edge process with the
//! packager looping the bundled demo and a pushed live stream, both played
//! through the edge's cache (issue 2 and 3 "done when").

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The stream key of the pushable stream (configured only as its SHA-256).
const KEY: &str = "push-secret-5d8a1f3e";

fn key_sha256() -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("printf %s {KEY} | sha256sum")])
        .output()
        .expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The edge of conf/edge.yaml, on free ports, with a pushable stream too.
async fn demo_edge() -> (TestEdge, std::net::SocketAddr) {
    let packager = free_addr();
    let yaml = format!(
        "packager:\n  listen: {packager}\n  streams:\n    - name: demo\n      loop:\n        - {{ rendition: 360p, file: conf/demo/360p.ts }}\n        - {{ rendition: 180p, file: conf/demo/180p.ts }}\n    - {{ name: live, key_sha256: \"{}\" }}\n",
        key_sha256()
    );
    let config = EdgeConfig::new().route("/hls/", packager).extra_yaml(&yaml);
    (TestEdge::start_config(&config).await, packager)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_plays_thirty_seconds_through_the_edge_with_no_error() {
    if !have("ffmpeg") {
        return;
    }
    let (edge, _) = demo_edge().await;
    let url = edge.url("/hls/demo/master.m3u8");

    let played = tokio::task::spawn_blocking(move || ffmpeg_plays(&url, 30))
        .await
        .expect("joins");
    played.unwrap_or_else(|e| panic!("{e}\n{}", edge.logs()));

    // what the player went through: segments were stored and shared, live
    // playlists never were
    let master = edge.get("/hls/demo/master.m3u8").await;
    let variant = uris_in(&master.text())
        .into_iter()
        .next()
        .expect("a variant");
    let playlist = edge.get(&format!("/hls/demo/{variant}")).await;
    assert_eq!(playlist.header("cache-control"), Some("no-cache"));
    assert!(!cache_status(&playlist)[0].hit);
    let base = variant
        .rsplit_once('/')
        .map_or("", |(dir, _)| dir)
        .to_string();
    let segment = uris_in(&playlist.text())
        .into_iter()
        .next()
        .expect("a segment");
    let path = format!("/hls/demo/{base}/{segment}");
    edge.get(&path).await;
    let again = edge.get(&path).await;
    assert!(
        cache_status(&again)[0].hit,
        "{:?}",
        again.header("cache-status")
    );
    // at least one segment hit counted (once sent, which can be after the
    // player has it: polled, and a panic if it never is)
    let hits = [("class", "segment"), ("cache", "hit")];
    let metrics = scrape_until(&edge, "", "hls_edge_requests_total", &hits, 1.0).await;
    assert_eq!(
        metric_value(
            &metrics,
            "hls_edge_requests_total",
            &[("class", "live_playlist"), ("cache", "hit")]
        ),
        None
    );
    let produced = metric_value(
        &metrics,
        "hls_edge_packager_segments_produced_total",
        &[("stream", "demo")],
    );
    assert!(produced.unwrap_or(0.0) >= 12.0, "{produced:?}");
    assert!(
        metric_value(
            &metrics,
            "hls_edge_packager_ingest_bytes_total",
            &[("stream", "demo")]
        )
        .unwrap_or(0.0)
            > 0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pushed_stream_plays_through_the_edge_within_three_target_durations() {
    if !have("ffmpeg") {
        return;
    }
    let (edge, packager) = demo_edge().await;
    let ingest = format!("http://{packager}/ingest/live/180p?key={KEY}");
    let started = Instant::now();
    let mut push = push_test_pattern(&ingest, 12, Stdio::null());

    // the master appears through the edge once the first segment is cut
    let mut listed = None;
    while started.elapsed() < Duration::from_secs(10) {
        let r = edge.get("/hls/live/master.m3u8").await;
        if r.status == 200 {
            listed = Some(started.elapsed());
            break;
        }
        assert_eq!(
            r.header("cache-control"),
            Some("no-store"),
            "a not-yet 404 is never cached"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = listed.unwrap_or_else(|| panic!("no master within 10 s\n{}", edge.logs()));
    assert!(
        listed <= Duration::from_secs(6),
        "master listed {listed:?} after the push began (target 2 s)"
    );
    eprintln!("pushed stream listed through the edge {listed:?} after the push began");

    let url = edge.url("/hls/live/master.m3u8");
    let played = tokio::task::spawn_blocking(move || ffmpeg_plays(&url, 4))
        .await
        .expect("joins");
    let _ = push.kill();
    let _ = push.wait();
    played.unwrap_or_else(|e| panic!("{e}\n{}", edge.logs()));
}
