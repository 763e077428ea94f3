//! The group's bookkeeping: selection with health and playlists, clock passed in.

use super::*;
use crate::config::Config;

/// A group `g` of origins `(port, priority, weight)` on loopback (never contacted).
fn group(origins: &[(u16, u32, u32)]) -> OriginGroup {
    let list: Vec<String> = origins
        .iter()
        .map(|(port, priority, weight)| {
            format!("{{url: 'http://127.0.0.1:{port}', priority: {priority}, weight: {weight}}}")
        })
        .collect();
    let yaml = format!(
        "origin_groups:\n  g:\n    origins: [{}]\n    health: {{failures: 2, cooldown: 10s, stale_after: 3}}\nroutes: [{{prefix: /hls/, origin_group: g}}]\n",
        list.join(", ")
    );
    let config = Config::parse(&yaml).expect("valid test config");
    OriginGroup::new(&config.origin_groups["g"]).expect("loopback resolves")
}

const SEG: SelectFor<'static> = SelectFor::Segment;
const PLAYLIST: &str = "/hls/live/360p.m3u8";
const TD: Duration = Duration::from_secs(2);

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Every origin one request would try, in order, if each one failed.
fn walk(g: &OriginGroup, class: SelectFor<'_>, now: Instant) -> Vec<usize> {
    let mut tried = Vec::new();
    while let Some((i, _)) = g.select(&tried, class, now) {
        tried.push(i);
    }
    tried
}

#[test]
fn a_request_tries_each_origin_once_by_priority() {
    let g = group(&[(9101, 1, 1), (9102, 0, 1), (9103, 2, 1)]);
    let now = Instant::now();
    assert_eq!(walk(&g, SEG, now), vec![1, 0, 2]);
    let picked: Vec<&str> = walk(&g, SEG, now)
        .into_iter()
        .map(|i| g.origins[i].name.as_str())
        .collect();
    assert_eq!(
        picked,
        ["127.0.0.1:9102", "127.0.0.1:9101", "127.0.0.1:9103"]
    );
    assert!(g.has_untried(&[1, 0], SEG, now));
    assert!(!g.has_untried(&[1, 0, 2], SEG, now));
}

#[test]
fn weights_share_first_tries_within_a_priority() {
    let g = group(&[(9111, 0, 3), (9112, 0, 1)]);
    let now = Instant::now();
    let mut firsts = [0; 2];
    for _ in 0..400 {
        firsts[g.select(&[], SEG, now).expect("one").0] += 1;
    }
    assert_eq!(firsts, [300, 100]);
}

#[test]
fn an_ejected_origin_is_skipped_then_probed_once_after_its_cooldown() {
    let g = group(&[(9121, 0, 1), (9122, 1, 1)]);
    let t0 = Instant::now();
    g.report(0, Outcome::Timeout, t0);
    assert_eq!(g.state(0, t0), Some(HealthState::Degraded));
    assert_eq!(
        walk(&g, SEG, t0),
        vec![0, 1],
        "degraded is still first at its priority"
    );
    g.report(0, Outcome::ConnectError, t0);
    assert_eq!(g.state(0, t0), Some(HealthState::Down));
    assert_eq!(
        walk(&g, SEG, t0 + s(5)),
        vec![1],
        "down: skipped, no timeout paid"
    );
    // Cool-down over: the next request probes it; a concurrent one does not.
    let t1 = t0 + s(10);
    assert!(g.has_untried(&[], SEG, t1));
    assert_eq!(g.select(&[], SEG, t1).map(|(i, _)| i), Some(0));
    assert_eq!(g.select(&[], SEG, t1).map(|(i, _)| i), Some(1));
    g.report(0, Outcome::Ok, t1);
    assert_eq!(g.select(&[], SEG, t1).map(|(i, _)| i), Some(0));
    let status = g.status(t1 + s(20));
    assert_eq!(status[0].state, "healthy");
    assert_eq!(status[1].name, "127.0.0.1:9122");
}

#[test]
fn when_every_origin_is_down_they_are_tried_anyway() {
    let g = group(&[(9131, 0, 1), (9132, 1, 1)]);
    let t0 = Instant::now();
    for i in 0..2 {
        g.report(i, Outcome::Status5xx, t0);
        g.report(i, Outcome::Status5xx, t0);
    }
    assert_eq!(walk(&g, SEG, t0 + s(1)), vec![0, 1]);
}

#[test]
fn playlists_move_to_the_origin_whose_playlist_advances() {
    let g = group(&[(9141, 0, 1), (9142, 1, 1)]);
    let class = SelectFor::Playlist {
        stream_key: PLAYLIST,
    };
    let t0 = Instant::now();
    // A (0) serves the playlist while it advances; B is never asked.
    for k in 0..4u32 {
        let now = t0 + TD * k;
        assert_eq!(g.select(&[], class, now).map(|(i, _)| i), Some(0));
        g.observe_playlist(0, PLAYLIST, 100 + u64::from(k), TD, now);
    }
    // A freezes at 103 (observed at 6 s). Past 3 x 2 s without an advance,
    // the next request asks B, which has not been heard from.
    let frozen = t0 + s(6);
    g.observe_playlist(0, PLAYLIST, 103, TD, t0 + s(10));
    assert_eq!(g.select(&[], class, frozen + s(7)).map(|(i, _)| i), Some(1));
    g.observe_playlist(1, PLAYLIST, 106, TD, frozen + s(7));
    assert_eq!(g.state(0, frozen + s(7)), Some(HealthState::Stale));
    assert_eq!(g.freshest(PLAYLIST), Some(1));
    // From now on playlists go to B, A only as a last resort.
    assert_eq!(walk(&g, class, frozen + s(8)), vec![1, 0]);
    // Segments still follow priority: A is stale, not down.
    assert_eq!(g.select(&[], SEG, frozen + s(8)).map(|(i, _)| i), Some(0));
    // A recovers.
    g.observe_playlist(0, PLAYLIST, 107, TD, frozen + s(9));
    assert_eq!(g.state(0, frozen + s(9)), Some(HealthState::Healthy));
    assert_eq!(g.select(&[], class, frozen + s(9)).map(|(i, _)| i), Some(0));
}

#[test]
fn a_stale_primary_is_asked_again_once_per_window_and_taken_back_when_caught_up() {
    let g = group(&[(9171, 0, 1), (9172, 1, 1)]);
    let class = SelectFor::Playlist {
        stream_key: PLAYLIST,
    };
    let first = |now| g.select(&[], class, now).map(|(i, _)| i);
    let t0 = Instant::now();
    g.observe_playlist(0, PLAYLIST, 100, TD, t0);
    g.observe_playlist(1, PLAYLIST, 100, TD, t0);
    // A frozen at 100 (last asked at 7 s), B advancing: A is stale.
    g.observe_playlist(0, PLAYLIST, 100, TD, t0 + s(7));
    g.observe_playlist(1, PLAYLIST, 104, TD, t0 + s(7));
    assert_eq!(g.state(0, t0 + s(7)), Some(HealthState::Stale));
    // B serves while A was heard from within the window (3 x 2 s)...
    for k in 8..=13 {
        assert_eq!(first(t0 + s(k)), Some(1), "at {k} s");
        g.observe_playlist(1, PLAYLIST, 100 + k, TD, t0 + s(k));
    }
    // ...then A gets one request to tell whether it is still frozen.
    assert_eq!(first(t0 + s(14)), Some(0));
    g.observe_playlist(0, PLAYLIST, 100, TD, t0 + s(14));
    assert_eq!(
        first(t0 + s(15)),
        Some(1),
        "still frozen: one re-check only"
    );
    assert_eq!(g.state(0, t0 + s(15)), Some(HealthState::Stale));
    g.observe_playlist(1, PLAYLIST, 115, TD, t0 + s(15));
    // At the next re-check A has caught up: it is the primary again.
    assert_eq!(first(t0 + s(21)), Some(0));
    g.observe_playlist(0, PLAYLIST, 121, TD, t0 + s(21));
    assert_eq!(g.state(0, t0 + s(21)), Some(HealthState::Healthy));
    assert_eq!(first(t0 + s(22)), Some(0));
    // A lower-priority origin that falls behind is not re-checked: it would
    // not be chosen anyway.
    g.observe_playlist(0, PLAYLIST, 130, TD, t0 + s(30));
    for k in 31..=40 {
        assert_eq!(first(t0 + s(k)), Some(0));
        g.observe_playlist(0, PLAYLIST, 100 + k, TD, t0 + s(k));
    }
}

#[test]
fn a_stream_paused_everywhere_goes_back_to_priority_order() {
    let g = group(&[(9151, 0, 1), (9152, 1, 1)]);
    let class = SelectFor::Playlist {
        stream_key: PLAYLIST,
    };
    let t0 = Instant::now();
    g.observe_playlist(0, PLAYLIST, 50, TD, t0);
    assert_eq!(
        g.select(&[], class, t0 + s(7)).map(|(i, _)| i),
        Some(1),
        "second opinion"
    );
    g.observe_playlist(1, PLAYLIST, 50, TD, t0 + s(7));
    assert_eq!(g.select(&[], class, t0 + s(8)).map(|(i, _)| i), Some(0));
    assert_eq!(g.state(0, t0 + s(8)), Some(HealthState::Healthy));
}

#[test]
fn the_served_bound_and_the_404_retry_rule() {
    let g = group(&[(9161, 0, 1), (9162, 0, 1)]);
    let t0 = Instant::now();
    g.served_playlist(PLAYLIST, 120, TD, t0);
    assert_eq!(g.highest_served(PLAYLIST, t0 + s(1)), Some(120));
    assert!(g.retries_404(SEG, &[0]));
    assert!(!g.retries_404(SEG, &[0, 1]), "once");
    assert!(!g.retries_404(
        SelectFor::Playlist {
            stream_key: PLAYLIST
        },
        &[0]
    ));
    assert!(matches!(g.owner("/hls/a.ts"), Owner::Me), "no siblings");
}
