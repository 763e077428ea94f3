//! Security, as a real player meets it: hls.js in headless Chromium (the rig
//! in tests/player) plays the live demo through a token route on entry tokens
//! that grant one file only (a URL token for the master playlist, an ACL of
//! exactly that file). The sessions it is handed name each child exactly
//! (docs/tokens.md, "What a session may reach"), and live reloads, rendition
//! playlists and segments still play with no refusal. Skipped with a message
//! when the rig is not installed, except under `CI=true`.

mod common;

use std::time::Duration;

use common::tokens::{KEY, TOKENS};
use common::*;

/// The looping demo behind a token route `/hls/`, ready once a variant
/// playlist exists (reached with a token for the whole stream).
async fn token_demo_edge() -> TestEdge {
    let packager = free_addr();
    let route = RouteConfig::new("/hls/")
        .origin(packager)
        .option("tokens", TOKENS);
    let config = EdgeConfig::new()
        .route_config(route)
        .env("TEST_TOKEN_KEY", KEY)
        .demo_packager(packager);
    let edge = TestEdge::start_config(&config).await;
    let probe = entry_token("/hls/demo/*", "readiness");
    let deadline = Deadline::new(
        "the demo's playlists through the edge",
        Duration::from_secs(15),
    );
    loop {
        let master = edge
            .get(&format!("/hls/demo/master.m3u8?hdnts={probe}"))
            .await;
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

async fn play(url: String, seconds: u32) -> PlayerReport {
    tokio::task::spawn_blocking(move || hlsjs_play(&url, &PlayOptions::seconds(seconds)))
        .await
        .expect("the player thread joins")
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hlsjs_plays_on_entry_tokens_for_one_file() {
    if !have_hlsjs() {
        return;
    }
    let edge = token_demo_edge().await;
    for (kind, token) in [
        (
            "url token",
            url_token("/hls/demo/master.m3u8", "player-url"),
        ),
        (
            "acl of one file",
            entry_token("/hls/demo/master.m3u8", "player-acl"),
        ),
    ] {
        let url = edge.url(&format!("/hls/demo/master.m3u8?hdnts={token}"));
        let report = play(url, 15).await;
        assert!(report.started, "{kind}: {report}\n{}", edge.logs());
        assert_eq!(report.end_reason, "watched", "{kind}: {report}");
        assert!(report.fatal_errors().is_empty(), "{kind}: {report}");
        assert_eq!(report.not_ok_responses(), 0, "{kind}: a refusal\n{report}");
        assert!(
            report.counts.level_loads >= 5,
            "{kind}: live reloads: {report}"
        );
        assert!(report.played_seconds >= 10.0, "{kind}: {report}");
    }
    // and what it was handed opens nothing beside the stream's own files
    let master = edge
        .get(&format!(
            "/hls/demo/master.m3u8?hdnts={}",
            url_token("/hls/demo/master.m3u8", "player-url")
        ))
        .await;
    let variant = uris_in(&master.text())
        .into_iter()
        .next()
        .expect("a variant");
    let session = variant
        .split_once("hdntl=")
        .map(|(_, t)| t.to_string())
        .expect("a session token");
    let acl = token_field(&session, "acl").expect("an acl");
    assert!(!acl.contains('*'), "a session wider than one file: {acl}");
    let other = edge
        .get(&format!("/hls/demo/other.m3u8?hdntl={session}"))
        .await;
    assert_eq!(other.status, 403);
}
