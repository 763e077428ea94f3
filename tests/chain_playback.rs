//! Issue 5 "done when": ffmpeg plays the demo for 60 s through a two-tier
//! chain without an error while the primary origin is killed and restarted.
//!
//! ```text
//! ffmpeg -> edge-1 -> shield-1 -> origin-1 (priority 0) -\
//!                              \-> origin-2 (priority 1) --> packager (demo loop)
//! ```
//!
//! The two origins are edges in front of one packager, so they publish the
//! very same generation, URLs and media sequences, as redundant packagers
//! fed from one encoder would (two independent packagers start their own
//! generations, and a player could not switch between them mid-stream).
//! Killing origin-1 (SIGKILL) is the primary origin dying; it comes back on
//! the same ports. Run: `cargo test --release --test chain_playback`.

mod common;

use std::time::{Duration, Instant};

use common::*;

const SECRET: &str = "chain-playback-shared-secret-42";
const PLAY: Duration = Duration::from_secs(60);
const KILL_AT: Duration = Duration::from_secs(15);
const RESTART_AT: Duration = Duration::from_secs(35);

/// An edge `id` whose `/hls/` route pulls from `origins` (URL and keys).
fn tier(id: &str, origins: &[(String, &str)], group: &str) -> EdgeConfig {
    tier_config(id, SECRET, origins, group, "")
}

fn url(edge: &TestEdge) -> String {
    format!("http://{}", edge.addr())
}

/// Segments an edge served, from its own /metrics (probes are playlists).
async fn served(edge: &TestEdge) -> f64 {
    metric_value(
        &edge.metrics().await,
        "hls_edge_requests_total",
        &[("class", "segment")],
    )
    .unwrap_or(0.0)
}

/// Starts `config` again on its own ports (the old process is gone; its
/// port may take a moment to be free again).
async fn restart(config: &EdgeConfig) -> TestEdge {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TestEdge::try_start_with_env(&config.yaml(), &config.env_pairs()).await {
            Ok(edge) => return edge,
            Err(EdgeStartError::PortInUse { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("origin-1 did not come back: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ffmpeg_plays_through_edge_and_shield_while_the_primary_origin_dies_and_returns() {
    if !have("ffmpeg") {
        return;
    }
    let packager_addr = free_addr();
    let packager = TestEdge::start_config(
        &EdgeConfig::new()
            .id("packager")
            .demo_packager(packager_addr),
    )
    .await;
    let to_packager = [(format!("http://{packager_addr}"), "priority: 0")];
    let origin1_config = tier("origin-1", &to_packager, "");
    let mut origin1 = TestEdge::start_config(&origin1_config).await;
    let origin2 = TestEdge::start_config(&tier("origin-2", &to_packager, "")).await;
    let shield = TestEdge::start_config(&tier(
        "shield-1",
        &[
            (url(&origin1), "priority: 0, peer: true"),
            (url(&origin2), "priority: 1, peer: true"),
        ],
        "    health: {failures: 2, cooldown: 3s, probe_path: /hls/demo/master.m3u8, probe_interval: 1s, probe_timeout: 1s}\n",
    ))
    .await;
    let edge = TestEdge::start_config(&tier("edge-1", &[(url(&shield), "peer: true")], "")).await;
    // The packager has cut its first segments once the master is listed.
    let listed = Instant::now();
    while edge.get("/hls/demo/master.m3u8").await.status != 200 {
        assert!(
            listed.elapsed() < Duration::from_secs(20),
            "no master through the chain"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let player = {
        let url = edge.url("/hls/demo/master.m3u8");
        tokio::task::spawn_blocking(move || ffmpeg_plays(&url, PLAY.as_secs()))
    };
    let started = Instant::now();
    tokio::time::sleep(KILL_AT).await;
    let before_kill = served(&origin1).await;
    origin1.kill();
    let origin2_at_kill = served(&origin2).await;
    eprintln!(
        "origin-1 killed {:?} into playback after serving {before_kill} requests",
        started.elapsed()
    );
    tokio::time::sleep(RESTART_AT.saturating_sub(started.elapsed())).await;
    let origin2_while_down = served(&origin2).await - origin2_at_kill;
    origin1 = restart(&origin1_config).await;
    eprintln!(
        "origin-1 restarted {:?} into playback; origin-2 served {origin2_while_down} requests meanwhile",
        started.elapsed()
    );

    let played = player.await.expect("joins");
    let took = started.elapsed();
    played.unwrap_or_else(|e| {
        panic!(
            "{e}\n--- shield ---\n{}\n--- edge ---\n{}",
            shield.logs(),
            edge.logs()
        )
    });
    let after_restart = served(&origin1).await;
    eprintln!(
        "ffmpeg played {PLAY:?} in {took:?}; origin-1 served {after_restart} requests after its restart"
    );
    assert!(before_kill > 0.0, "origin-1 was the primary");
    assert!(origin2_while_down > 0.0, "origin-2 took over");
    assert!(
        after_restart > 0.0,
        "origin-1 was taken back after its restart"
    );
    drop(packager);
}
