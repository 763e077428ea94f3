//! Live playlists across two origins (design section 5, issue 5): an origin
//! whose playlist freezes while the other's advances becomes `stale` and
//! playlist requests move to the advancing one; a player polling the playlist
//! never sees its media sequence go down, across the failover and back.
//!
//! Both counting origins serve a generated live playlist (target duration
//! 1 s) advanced by a ticker in the test; the player is a loop of GETs.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const PLAYLIST: &str = "/hls/live/index.m3u8";
/// `#EXT-X-TARGETDURATION` of the generated playlists.
const TARGET: Duration = Duration::from_secs(1);
/// `health.stale_after`: target durations without an advance.
const STALE_AFTER: u32 = 3;
/// How often the player reloads the playlist.
const RELOAD: Duration = Duration::from_millis(200);

/// What the ticker does to origin A's playlist at each tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum A {
    Advances,
    Frozen,
    /// Jumps to B's sequence (a redundant packager back in step), then advances.
    CatchesUp,
}

/// Origins A (priority 0) and B (priority 1) publishing the same live stream,
/// one segment per target duration, and the edge in front of them.
struct Stream {
    a: CountingOrigin,
    b: CountingOrigin,
    a_list: Arc<LivePlaylist>,
    b_list: Arc<LivePlaylist>,
    mode: Arc<Mutex<A>>,
    ticker: tokio::task::JoinHandle<()>,
    edge: TestEdge,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

fn live_origin() -> (CountingOrigin, Arc<LivePlaylist>) {
    let origin = CountingOrigin::start();
    origin.set_fallback(|req| match req.path.ends_with(".ts") {
        true => Reply::segment(10_000),
        false => Reply::status(404),
    });
    let list = origin.set_live_playlist(PLAYLIST, LivePlaylist::new(1, 3, 100));
    (origin, list)
}

/// `b_lag`: how many segments B's numbering trails A's.
async fn stream(b_lag: u64) -> Stream {
    let (a, a_list) = live_origin();
    let (b, b_list) = live_origin();
    b_list
        .media_sequence
        .store(100 - b_lag, std::sync::atomic::Ordering::SeqCst);
    let yaml = format!(
        "origin_groups:\n  live:\n    origins:\n      - {{url: \"{}\", priority: 0}}\n      - {{url: \"{}\", priority: 1}}\n    connect_timeout: 1s\n    read_timeout: 2s\n    health: {{stale_after: {STALE_AFTER}}}\nroutes:\n  - name: live\n    prefix: /hls/\n    origin_group: live\n",
        a.url(),
        b.url()
    );
    let edge = TestEdge::start_config(&EdgeConfig::new().extra_yaml(&yaml)).await;
    let mode = Arc::new(Mutex::new(A::Advances));
    let ticker = {
        let (a_list, b_list, mode) = (a_list.clone(), b_list.clone(), mode.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(TARGET);
            every.tick().await;
            loop {
                every.tick().await;
                let mut mode = mode.lock().unwrap_or_else(|e| e.into_inner());
                b_list.advance();
                match *mode {
                    A::Advances => {
                        a_list.advance();
                    }
                    A::Frozen => {}
                    A::CatchesUp => {
                        let b = b_list.sequence();
                        a_list
                            .media_sequence
                            .store(b, std::sync::atomic::Ordering::SeqCst);
                        *mode = A::Advances;
                    }
                }
            }
        })
    };
    Stream {
        a,
        b,
        a_list,
        b_list,
        mode,
        ticker,
        edge,
    }
}

impl Stream {
    fn set(&self, mode: A) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    /// `/status`'s state of the origin at `addr`.
    async fn state_of(&self, origin: &CountingOrigin) -> String {
        let status = self.edge.admin_get("/status").await;
        assert_eq!(status.status, 200);
        let doc: serde_json::Value = serde_json::from_slice(&status.body).expect("/status is JSON");
        let name = origin.addr().to_string();
        doc["origin_groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["origins"].as_array().into_iter().flatten())
            .find(|o| o["name"] == name.as_str())
            .and_then(|o| o["state"].as_str())
            .unwrap_or_else(|| panic!("{name} not on /status: {}", status.text()))
            .to_string()
    }

    async fn health_metric(&self, origin: &CountingOrigin, state: &str) -> Option<f64> {
        let name = origin.addr().to_string();
        metric_value(
            &self.edge.metrics().await,
            "hls_edge_origin_health",
            &[("origin", &name), ("state", state)],
        )
    }
}

/// A player reloading the live playlist; panics the moment its last media
/// sequence goes down.
struct Player {
    highest: u64,
    reloads: usize,
}

impl Player {
    fn new() -> Player {
        Player {
            highest: 0,
            reloads: 0,
        }
    }

    /// One reload; returns the playlist's last media sequence.
    async fn reload(&mut self, edge: &TestEdge) -> u64 {
        let r = edge.get(PLAYLIST).await;
        assert_eq!(
            (r.status, r.complete),
            (200, true),
            "reload {}",
            self.reloads
        );
        let text = r.text();
        let first = media_sequence_in(&text).expect("a media sequence");
        let segments = uris_in(&text).len() as u64;
        assert!(segments > 0, "{text}");
        let last = first + segments - 1;
        assert!(
            last >= self.highest,
            "the playlist went backwards at reload {}: last segment {last} after {}\n{text}",
            self.reloads,
            self.highest
        );
        self.highest = last;
        self.reloads += 1;
        last
    }

    /// Reloads every `RELOAD` until `done` holds (checked after each reload)
    /// or `within` passes; returns how long it took.
    async fn reload_until(
        &mut self,
        edge: &TestEdge,
        within: Duration,
        mut done: impl FnMut(u64) -> bool,
    ) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < within {
            let last = self.reload(edge).await;
            if done(last) {
                return Some(started.elapsed());
            }
            tokio::time::sleep(RELOAD).await;
        }
        None
    }

    async fn reload_for(&mut self, edge: &TestEdge, during: Duration) {
        self.reload_until(edge, during, |_| false).await;
    }
}

/// Plays a while on A, freezes A and reloads until the playlist moves past
/// A's frozen one; returns how long that took after the freeze.
async fn freeze_a_until_moved(s: &Stream, player: &mut Player) -> Duration {
    player
        .reload_for(&s.edge, Duration::from_millis(1500))
        .await;
    assert_eq!(
        s.b.hits(PLAYLIST),
        0,
        "B is the backup: not asked while A advances"
    );
    assert_eq!(s.state_of(&s.a).await, "healthy");

    // A freezes: its last segment stays where it is.
    s.set(A::Frozen);
    let frozen_at = Instant::now();
    let a_last = s.a_list.sequence() + 2;
    let moved = player
        .reload_until(&s.edge, TARGET * (STALE_AFTER + 3), |last| last > a_last)
        .await;
    let moved = moved.unwrap_or_else(|| {
        panic!(
            "still on the frozen origin {:?} after the freeze (B asked {} times)",
            frozen_at.elapsed(),
            s.b.hits(PLAYLIST)
        )
    });
    eprintln!(
        "playlists moved off the frozen origin {moved:?} after the freeze (stale_after {STALE_AFTER} x {TARGET:?})"
    );
    assert!(
        moved <= TARGET * (STALE_AFTER + 1) + RELOAD * 2,
        "moved only after {moved:?}"
    );
    moved
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_origin_goes_stale_and_playlists_move_to_the_advancing_one_and_back() {
    let s = stream(0).await;
    let mut player = Player::new();
    freeze_a_until_moved(&s, &mut player).await;

    // From now on B answers; A is `stale` on /status and in the metric.
    let (a_before, b_before) = (s.a.hits(PLAYLIST), s.b.hits(PLAYLIST));
    player.reload_for(&s.edge, Duration::from_secs(1)).await;
    assert!(s.b.hits(PLAYLIST) - b_before >= 3, "B serves the reloads");
    assert!(
        s.a.hits(PLAYLIST) - a_before <= 1,
        "A is not asked while stale"
    );
    assert_eq!(s.state_of(&s.a).await, "stale");
    assert_eq!(s.state_of(&s.b).await, "healthy");
    assert_eq!(s.health_metric(&s.a, "stale").await, Some(1.0));
    assert_eq!(s.health_metric(&s.a, "healthy").await, Some(0.0));
    assert_eq!(s.health_metric(&s.b, "healthy").await, Some(1.0));

    // A is back in step with B: being the primary, it gets the playlists again.
    s.set(A::CatchesUp);
    let recovered_at = Instant::now();
    let mut a_seen = s.a.hits(PLAYLIST);
    let mut b_seen = s.b.hits(PLAYLIST);
    let mut quiet_since: Option<Instant> = None;
    let back = player
        .reload_until(&s.edge, TARGET * (STALE_AFTER * 3), |_| {
            // Back means: A answers and B has not been asked for a second.
            let (a, b) = (s.a.hits(PLAYLIST), s.b.hits(PLAYLIST));
            if b > b_seen || a == a_seen {
                quiet_since = None;
            } else if quiet_since.is_none() {
                quiet_since = Some(Instant::now());
            }
            (a_seen, b_seen) = (a, b);
            quiet_since.is_some_and(|t| t.elapsed() >= Duration::from_secs(1))
        })
        .await;
    let back = back.unwrap_or_else(|| {
        panic!(
            "A never preferred again {:?} after catching up (A {} / B {} playlist requests)",
            recovered_at.elapsed(),
            s.a.hits(PLAYLIST),
            s.b.hits(PLAYLIST)
        )
    });
    eprintln!(
        "playlists back on the caught-up primary {:?} after it caught up",
        back.saturating_sub(Duration::from_secs(1))
    );
    assert_ne!(s.state_of(&s.a).await, "stale");
    assert!(player.highest > s.b_list.sequence(), "still live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failover_to_an_origin_that_is_behind_never_takes_the_playlist_backwards() {
    // B trails A by two segments: the usual redundant set-up with a late
    // packager. When A dies the edge must not serve B's older playlist.
    let s = stream(2).await;
    let mut player = Player::new();
    player
        .reload_for(&s.edge, Duration::from_millis(1200))
        .await;
    let served = player.highest;
    assert_eq!(s.b.hits(PLAYLIST), 0);

    s.a.stop();
    let killed_at = Instant::now();
    // B reaches what A had served after about two target durations: until
    // then the player keeps getting the newest playlist already served.
    let caught_up = player
        .reload_until(&s.edge, TARGET * 6, |last| last > served + 1)
        .await
        .unwrap_or_else(|| panic!("the playlist stopped advancing after A died"));
    eprintln!(
        "after the primary died, the lagging backup's playlist went past the served one {caught_up:?} later"
    );
    assert!(s.b.hits(PLAYLIST) >= 3, "B answered after the kill");
    let prevented = metric_value(
        &s.edge.metrics().await,
        "hls_edge_playlist_regressions_prevented_total",
        &[],
    );
    assert!(
        prevented.unwrap_or(0.0) >= 1.0,
        "B's older playlists were replaced: {prevented:?}"
    );
    // Only the failover was held back: B's own playlists are served again.
    player.reload_for(&s.edge, Duration::from_secs(1)).await;
    assert!(player.highest > s.b_list.sequence());
    assert!(killed_at.elapsed() < Duration::from_secs(15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_primary_that_resumes_several_segments_behind_is_not_taken_back() {
    let s = stream(0).await;
    let mut player = Player::new();
    freeze_a_until_moved(&s, &mut player).await;

    // A advances again from where it froze: it stays behind B for good.
    s.set(A::Advances);
    let lag = s.b_list.sequence() - s.a_list.sequence();
    assert!(lag > 1, "A resumes {lag} segments behind");
    let b_before = s.b.hits(PLAYLIST);
    // Longer than the no-regression window: had A been taken back, the
    // player would see its older playlist once that window lapsed.
    player
        .reload_for(&s.edge, TARGET * (STALE_AFTER * 2 + 2))
        .await;

    assert!(s.b.hits(PLAYLIST) - b_before >= 20, "B kept serving");
    assert_eq!(s.state_of(&s.a).await, "stale");
    assert!(player.highest > s.b_list.sequence(), "still live");
}
