//! hls.js in a real browser (headless Chromium, the rig in tests/player)
//! playing through the edge: the default demo for 30 s with no fatal error
//! and no stall over 1 s, and two cases that show the rig reports failure
//! when there is one: a stream that does not exist and a segment the origin
//! holds back. Skipped with a message when the rig is not installed, except
//! under `CI=true`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

async fn play(url: String, opts: PlayOptions) -> Result<PlayerReport, PlayerUnavailable> {
    tokio::task::spawn_blocking(move || hlsjs_play(&url, &opts))
        .await
        .expect("the player thread joins")
}

/// The edge of conf/edge.yaml on free ports: the packager loops the bundled
/// two-rendition demo behind the `/hls/` route. Ready once a variant playlist
/// answers 200 through the edge (before its first segment the packager says
/// 404, which hls.js would rightly take as fatal).
async fn demo_edge() -> TestEdge {
    let packager = free_addr();
    let edge = TestEdge::start_config(
        &EdgeConfig::new()
            .route("/hls/", packager)
            .demo_packager(packager),
    )
    .await;
    let deadline = Deadline::new(
        "the demo's playlists through the edge",
        Duration::from_secs(15),
    );
    loop {
        let master = edge.get("/hls/demo/master.m3u8").await;
        if let Some(variant) = uris_in(&master.text()).into_iter().next() {
            if edge.get(&format!("/hls/demo/{variant}")).await.status == 200 {
                return edge;
            }
        }
        deadline
            .tick(Duration::from_millis(100), || edge.logs())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hlsjs_plays_the_demo_thirty_seconds_through_the_edge_without_a_stall() {
    if !have_hlsjs() {
        return;
    }
    let edge = demo_edge().await;
    let report = play(edge.url("/hls/demo/master.m3u8"), PlayOptions::seconds(30))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", edge.logs()));
    eprintln!("{report}");
    eprintln!(
        "hls.js through the edge: first frame {:?} ms, latency median {:?} s (max {:?}, target {:?}), \
         {:?} s behind the wall clock",
        report.time_to_first_frame_ms,
        report.latency.median_s,
        report.latency.max_s,
        report.latency.target_median_s,
        report.latency.wallclock_median_s,
    );

    assert!(report.started, "{report}");
    assert_eq!(report.end_reason, "watched", "{report}");
    assert!(report.fatal_errors().is_empty(), "{report}");
    assert!(report.longest_stall_ms() <= 1000, "{report}");
    assert!(report.played_seconds >= 25.0, "{report}");
    // H.264 and AAC really decoded, at about 25 frames a second
    let frames = report.video_frames.decoded.unwrap_or(0) as f64;
    assert!(
        frames >= 20.0 * report.played_seconds,
        "{frames} frames\n{report}"
    );
    assert!(report.decoded_bytes.audio.unwrap_or(0) > 0, "{report}");
    assert_eq!(report.not_ok_responses(), 0, "{report}");
    assert!(
        report.fragments.iter().all(|f| f.status == Some(200)),
        "{report}"
    );
    assert!(report.counts.level_loads >= 10, "live reloads: {report}");
    let latency = report.latency.median_s.expect("live latency sampled");
    assert!(latency > 0.0 && latency <= 12.0, "{report}");

    // every fragment hls.js loaded went through the edge, and no live
    // playlist was ever answered from the cache (a request is counted once
    // its response is sent, which can be after hls.js has it: polled, and a
    // panic if the edge never counts as many segments as hls.js loaded)
    let fragments = report.counts.fragments as f64;
    let segment = [("class", "segment")];
    let metrics = scrape_until(&edge, "", "hls_edge_requests_total", &segment, fragments).await;
    let stale = metric_value(
        &metrics,
        "hls_edge_requests_total",
        &[("class", "live_playlist"), ("cache", "hit")],
    );
    assert_eq!(stale, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_stream_gives_a_fatal_error_and_no_playback() {
    if !have_hlsjs() {
        return;
    }
    let origin = CountingOrigin::start(); // 404 for everything
    let edge = TestEdge::start_config(&EdgeConfig::new().route("/hls/", origin.addr())).await;
    // the query a player adds to every request reaches the origin
    let opts = PlayOptions::seconds(5).query("player=rig");
    let report = play(edge.url("/hls/missing/master.m3u8"), opts)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", edge.logs()));

    assert!(!report.started, "{report}");
    assert_eq!(report.end_reason, "fatal_error", "{report}");
    assert_eq!(report.played_seconds, 0.0, "{report}");
    let fatal = report.fatal_errors();
    assert_eq!(fatal.len(), 1, "{report}");
    assert_eq!(fatal[0].details, "manifestLoadError", "{report}");
    assert_eq!(fatal[0].response_code, Some(404), "{report}");
    assert_eq!(report.http.statuses.get("404"), Some(&1), "{report}");
    assert_eq!(
        origin.hits("/hls/missing/master.m3u8?player=rig"),
        1,
        "{:?}",
        origin.requests()
    );
}

/// A three-segment VOD rendition of the bundled 180p stream, cut by ffmpeg.
fn vod_rendition(dir: &TempDir) -> Vec<(String, Vec<u8>)> {
    let playlist = dir.path().join("index.m3u8");
    let status = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-i",
            "conf/demo/180p.ts",
            "-c",
            "copy",
        ])
        .args(["-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod"])
        .arg(&playlist)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg cut the demo into a VOD rendition");
    let mut files = vec![];
    for entry in std::fs::read_dir(dir.path()).expect("read the VOD dir") {
        let path = entry.expect("a dir entry").path();
        let name = path
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .to_string();
        files.push((name, std::fs::read(&path).expect("read a VOD file")));
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_segment_held_back_by_the_origin_shows_as_a_stall() {
    if !have_hlsjs() || !have("ffmpeg") {
        return;
    }
    let dir = TempDir::new("hls-edge-vod").expect("a temp dir");
    let origin = CountingOrigin::start();
    let files = vod_rendition(&dir);
    let segments: Vec<String> = {
        let index = &files
            .iter()
            .find(|(n, _)| n == "index.m3u8")
            .expect("index")
            .1;
        uris_in(&String::from_utf8_lossy(index))
    };
    assert_eq!(segments.len(), 3, "{segments:?}");
    for (name, body) in files {
        let reply = if name == "index.m3u8" {
            Reply::playlist(String::from_utf8_lossy(&body).to_string())
        } else {
            Reply::ok(body, SEGMENT_TYPE)
        };
        // the last segment comes 8 s late: playback runs dry after 4 s
        let reply = if name == segments[2] {
            reply.delay(Duration::from_secs(8))
        } else {
            reply
        };
        origin.set(&format!("/vod/{name}"), reply);
    }
    let route = RouteConfig::new("/vod/")
        .origin(origin.addr())
        .read_timeout("20s");
    let edge = TestEdge::start_config(&EdgeConfig::new().route_config(route)).await;
    let report = play(edge.url("/vod/index.m3u8"), PlayOptions::seconds(20))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", edge.logs()));
    eprintln!("{report}");

    assert!(report.started, "{report}");
    assert_eq!(
        report.end_reason, "ended",
        "the VOD plays to its end: {report}"
    );
    assert!(report.fatal_errors().is_empty(), "{report}");
    assert!(report.stalls.count >= 1, "{report}");
    assert!(report.stalls.longest_ms >= 2000, "{report}");
    assert!(report.longest_stall_ms() >= 2000, "{report}");
    assert_eq!(origin.hits(&format!("/vod/{}", segments[2])), 1);
}
