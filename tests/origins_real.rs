//! Failover in front of real origins (design section 5, issue 10): two stock nginx
//! serving the live HLS directory ffmpeg's muxer writes (2 s segments, 6 per playlist,
//! the same files and modification times on both, so the same `ETag`s; conditional
//! requests answered `304` by nginx itself), each behind a fault hop, and an edge with
//! `conf/failover.yaml`'s shape in front of them (priority 0 and 1, probes on,
//! `stale_after: 3`).
//!
//! Each test injects one fault into the primary a few seconds into playback and clears
//! it later, while a poller checks that every playlist answer is a complete `200` whose
//! media sequence never goes backwards, ffmpeg decodes 40 s through the edge with no
//! error line, and hls.js in Chromium plays with no error and no stall over 3 s. Then
//! what the edge counted is compared with what really happened.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fault_proxy::{Fault, FaultProxy};
use common::live_hls::LiveHls;
use common::nginx::{Nginx, NginxFault};
use common::*;
use serde_json::Value;

const PLAYLIST: &str = "/hls/index.m3u8";
/// How long ffmpeg plays, and when the fault starts and ends.
const PLAY: Duration = Duration::from_secs(40);
const FAULT_AT: Duration = Duration::from_secs(8);
const CLEAR_AT: Duration = Duration::from_secs(24);

/// The stream, the two origins (0: primary, 1: backup) and the edge.
struct Rig {
    live: LiveHls,
    nginx: [Nginx; 2],
    hops: [FaultProxy; 2],
    edge: TestEdge,
}

impl Rig {
    /// `None` when nginx or ffmpeg is missing (a failure under `CI=true`).
    async fn start() -> Option<Rig> {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        if !(Nginx::available() && have("ffmpeg")) {
            assert!(
                !ci,
                "CI must have nginx and ffmpeg: .ci/setup installs them"
            );
            return None;
        }
        let live = LiveHls::start(2).expect("ffmpeg starts");
        let nginx = [0, 1].map(|i| Nginx::start(live.root(i)).expect("nginx starts"));
        let hops = [0, 1].map(|i| FaultProxy::start(nginx[i].addr()));
        live.wait_segments(3, Duration::from_secs(20))
            .expect("ffmpeg writes a live playlist");
        let route = RouteConfig::new("/hls/")
            .origin_priority(hops[0].addr(), 0)
            .origin_priority(hops[1].addr(), 1)
            .connect_timeout("1s")
            .read_timeout("2s")
            .group(
                "health",
                "{failures: 3, cooldown: 10s, probe_path: /healthz, probe_interval: 2s, probe_timeout: 1s, stale_after: 3}",
            )
            .group("retry_404_segments", "true");
        let config = EdgeConfig::new().route_config(route);
        let edge = TestEdge::start_config(&config).await;
        Some(Rig {
            live,
            nginx,
            hops,
            edge,
        })
    }

    async fn status(&self) -> Value {
        status_json(&self.edge).await
    }

    /// Origin `i`'s entry in `/status`.
    async fn origin(&self, i: usize) -> Value {
        let status = self.status().await;
        status["origin_groups"][0]["origins"][i].clone()
    }

    /// Polls `/status` until origin `i` satisfies `want`.
    async fn wait_origin(
        &self,
        i: usize,
        what: &str,
        within: Duration,
        want: impl Fn(&Value) -> bool,
    ) {
        let deadline = Deadline::new(format!("origin {i} {what}"), within);
        loop {
            let o = self.origin(i).await;
            if want(&o) {
                return;
            }
            deadline
                .tick(Duration::from_millis(200), || o.to_string())
                .await;
        }
    }
}

/// What the poller saw of the playlist.
#[derive(Debug, Default)]
struct Polled {
    answers: usize,
    failures: Vec<String>,
    /// (previous last segment, this one)
    regressions: Vec<(u64, u64)>,
}

/// GETs the playlist every 500 ms until `stop`, checking each answer.
async fn poll(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> Polled {
    let mut seen = Polled::default();
    let mut last = None;
    while !stop.load(Ordering::Relaxed) {
        match http_get(addr, PLAYLIST, &[]).await {
            Ok(r) if r.status == 200 && r.complete => {
                let text = r.text();
                let count = text.lines().filter(|l| l.starts_with("#EXTINF")).count() as u64;
                match media_sequence_in(&text).filter(|_| count > 0) {
                    Some(first) => {
                        let newest = first + count - 1;
                        if let Some(prev) = last.filter(|&p| newest < p) {
                            seen.regressions.push((prev, newest));
                        }
                        last = Some(newest.max(last.unwrap_or(0)));
                        seen.answers += 1;
                    }
                    None => seen.failures.push(format!("not a live playlist: {text:?}")),
                }
            }
            Ok(r) => seen.failures.push(format!(
                "{} complete={} {:?}: {:?}",
                r.status,
                r.complete,
                r.incomplete_reason,
                r.text()
            )),
            Err(e) => seen.failures.push(format!("no answer: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    seen
}

/// Plays 40 s with ffmpeg and the poller, injecting `fault` at 8 s and `clear` at 24 s;
/// asserts every playlist answer was complete and never went backwards, and that ffmpeg
/// printed no error. `during` runs right after the fault is injected.
async fn play_through<F, C, D>(rig: &Rig, fault: F, during: D, clear: C)
where
    F: FnOnce(&Rig),
    C: FnOnce(&Rig),
    D: AsyncFnOnce(&Rig),
{
    let stop = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(poll(rig.edge.addr(), stop.clone()));
    let url = rig.edge.url(PLAYLIST);
    let hlsjs = have_hlsjs().then(|| {
        let url = url.clone();
        let opts = PlayOptions::seconds(PLAY.as_secs() as u32 - 6).start_timeout(20);
        tokio::task::spawn_blocking(move || hlsjs_play(&url, &opts))
    });
    let ffmpeg = tokio::task::spawn_blocking(move || ffmpeg_plays(&url, PLAY.as_secs()));
    let started = Instant::now();
    tokio::time::sleep(FAULT_AT).await;
    fault(rig);
    during(rig).await;
    tokio::time::sleep(CLEAR_AT.saturating_sub(started.elapsed())).await;
    clear(rig);
    let played = ffmpeg.await.expect("ffmpeg task");
    stop.store(true, Ordering::Relaxed);
    let polled = poller.await.expect("poller task");
    let logs = || rig.edge.logs();
    assert!(polled.answers > 40, "{polled:?}");
    assert!(
        polled.failures.is_empty(),
        "poller: {:?}\n{}",
        polled.failures,
        logs()
    );
    assert!(
        polled.regressions.is_empty(),
        "went backwards: {:?}\n{}",
        polled.regressions,
        logs()
    );
    assert_eq!(played, Ok(()), "ffmpeg through the edge\n{}", logs());
    if let Some(hlsjs) = hlsjs {
        let report = hlsjs
            .await
            .expect("hls.js task")
            .expect("the player rig runs");
        assert!(
            report.started && report.fatal.is_none(),
            "hls.js: {}",
            report.raw
        );
        // hls.js skipping a gap in the encoder's first frames is the source's, not the
        // edge's; a stall is how hls.js reports a buffer that ran dry, bounded below (a
        // frozen origin is only known as such after `stale_after` target durations, about
        // as long as the player's buffer); anything else (every network error above all)
        // is a failure
        let errors: Vec<_> = report
            .errors
            .iter()
            .filter(|e| {
                !matches!(
                    e.details.as_str(),
                    "bufferSeekOverHole" | "bufferStalledError"
                )
            })
            .map(|e| &e.details)
            .collect();
        assert!(
            errors.is_empty(),
            "hls.js errors {errors:?}: {}",
            report.raw
        );
        assert!(
            report.stalls.longest_ms <= 3000,
            "hls.js stalled: {:?}",
            report.stalls
        );
        assert!(
            report.played_seconds >= 25.0,
            "hls.js played {} s",
            report.played_seconds
        );
    }
}

async fn metrics_value(rig: &Rig, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = rig.edge.metrics().await;
    common::metrics::value(&text, name, labels)
}

fn nothing(_: &Rig) {}

async fn nothing_during(_: &Rig) {}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_fault_every_answer_is_whole_and_the_backup_stays_healthy() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    play_through(&rig, nothing, nothing_during, nothing).await;
    // nginx answered revalidations with 304: the edge served the stored body
    assert!(
        rig.nginx[0].answered(304, PLAYLIST) > 5,
        "{}",
        rig.nginx[0].access_log()
    );
    for i in 0..2 {
        let o = rig.origin(i).await;
        assert_eq!(o["state"], "healthy", "origin {i}: {o}");
    }
    let failovers = metrics_value(&rig, "hls_edge_origin_failovers_total", &[]).await;
    assert_eq!(failovers, 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_killed_and_restarted_costs_players_nothing() {
    let Some(mut rig) = Rig::start().await else {
        return;
    };
    play_through(
        &rig,
        |r| r.hops[0].set(Fault::Down),
        async |r: &Rig| {
            r.wait_origin(0, "down", Duration::from_secs(10), |o| o["state"] == "down")
                .await
        },
        |r| r.hops[0].set(Fault::None),
    )
    .await;
    rig.nginx[0].restart().expect("nginx restarts");
    rig.wait_origin(0, "back in service", Duration::from_secs(20), |o| {
        o["state"] != "down"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_primary_is_stale_until_it_catches_up_and_players_never_go_back() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    play_through(
        &rig,
        |r| r.live.freeze(0, true),
        async |r: &Rig| {
            r.wait_origin(0, "stale", Duration::from_secs(14), |o| {
                o["state"] == "stale"
            })
            .await
        },
        |r| r.live.freeze(0, false),
    )
    .await;
    rig.wait_origin(0, "caught up", Duration::from_secs(15), |o| {
        o["state"] == "healthy"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_answering_503_fails_over_and_each_503_is_counted_once() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    play_through(
        &rig,
        |r| r.nginx[0].set_fault(NginxFault::Unavailable, true),
        nothing_during,
        |r| r.nginx[0].set_fault(NginxFault::Unavailable, false),
    )
    .await;
    let origin = rig.hops[0].addr().to_string();
    let answered = rig.nginx[0].answered(503, "/hls/") as f64;
    let labels = [("origin", origin.as_str()), ("reason", "5xx")];
    let counted = metrics_value(&rig, "hls_edge_origin_failovers_total", &labels).await;
    assert!(answered > 0.0);
    assert_eq!(counted, answered, "one failover per 503 nginx sent");
    let truncated = [("origin", origin.as_str()), ("reason", "truncated")];
    assert_eq!(
        metrics_value(&rig, "hls_edge_origin_failovers_total", &truncated).await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn segments_missing_at_the_primary_come_from_the_backup_and_eject_it_for_media() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    play_through(
        &rig,
        |r| r.nginx[0].set_fault(NginxFault::SegmentsMissing, true),
        async |r: &Rig| {
            r.wait_origin(0, "ejected for media", Duration::from_secs(14), |o| {
                o["traffic"]["media"]["state"] == "down"
                    && o["traffic"]["playlists"]["state"] != "down"
            })
            .await
        },
        |r| r.nginx[0].set_fault(NginxFault::SegmentsMissing, false),
    )
    .await;
    assert!(rig.nginx[0].answered(404, ".ts") > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn segments_cut_at_half_are_completed_from_the_backup_and_the_primary_is_ejected() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    play_through(
        &rig,
        |r| r.hops[0].set(Fault::CutSegments),
        async |r: &Rig| {
            r.wait_origin(0, "ejected for media", Duration::from_secs(14), |o| {
                o["traffic"]["media"]["state"] == "down"
            })
            .await
        },
        |r| r.hops[0].set(Fault::None),
    )
    .await;
    let (_, cut, _, _) = rig.hops[0].counts();
    assert!(cut > 0, "the primary cut segments");
    let completed = metrics_value(
        &rig,
        "hls_edge_origin_resumes_total",
        &[("outcome", "completed")],
    )
    .await;
    // a cut before the edge's own header went out is retried on the backup at once;
    // one after it is completed with a range request: each cut is one or the other
    let origin = rig.hops[0].addr().to_string();
    let retried = metrics_value(
        &rig,
        "hls_edge_origin_failovers_total",
        &[("origin", origin.as_str()), ("reason", "truncated")],
    )
    .await;
    assert_eq!(
        completed + retried,
        cut as f64,
        "every cut body was completed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_slower_than_the_read_timeout_fails_over() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    play_through(
        &rig,
        |r| r.hops[0].set(Fault::Delay(Duration::from_secs(4))),
        nothing_during,
        |r| r.hops[0].set(Fault::None),
    )
    .await;
    let origin = rig.hops[0].addr().to_string();
    let labels = [("origin", origin.as_str()), ("reason", "timeout")];
    assert!(metrics_value(&rig, "hls_edge_origin_failovers_total", &labels).await > 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_closing_connections_without_an_answer_fails_over() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    play_through(
        &rig,
        |r| r.hops[0].set(Fault::Silent),
        nothing_during,
        |r| r.hops[0].set(Fault::None),
    )
    .await;
    let (_, _, _, silenced) = rig.hops[0].counts();
    assert!(silenced > 0);
}
