//! The group's bookkeeping: selection with health and, for playlists, what the stream
//! book knows of each origin's copy (a `Rendition` fed as the proxy feeds it), clock
//! passed in.

use super::*;
use crate::config::Config;
use crate::hls::{ObjectClass, PlaylistSummary, Position};
use crate::streams::Rendition;

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
const TD: Duration = Duration::from_secs(2);
const MEDIA: Option<Traffic> = Some(Traffic::Media);

/// One live playlist as the stream book follows it for a group of two.
struct Playlist(Rendition);

impl Playlist {
    fn new(now: Instant) -> Playlist {
        Playlist(Rendition::new("g".into(), 2, 3, now))
    }

    /// Origin `i` answered with its last segment at `last`; it went to a player.
    fn fetched(&mut self, i: usize, last: u64, now: Instant) {
        let summary = PlaylistSummary {
            class: ObjectClass::LivePlaylist,
            position: Some(Position::after_segment(last)),
            first_msn: last.saturating_sub(5),
            target_duration: TD,
            live: true,
        };
        self.0.observe(i, &summary, now);
        self.0
            .serve(&summary, Some(i), &bytes::Bytes::new(), true, now);
    }

    fn first(&self, g: &OriginGroup, now: Instant) -> Option<usize> {
        let p = self.0.origins(now);
        g.select(&[], SelectFor::Playlist(&p), now).map(|(i, _)| i)
    }

    fn stale(&self, now: Instant) -> Vec<usize> {
        self.0.stale_origins(now).collect()
    }
}

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
    g.report(0, MEDIA, Outcome::Timeout, t0);
    assert_eq!(g.state(0, t0), Some(HealthState::Degraded));
    assert_eq!(
        walk(&g, SEG, t0),
        vec![0, 1],
        "degraded is still first at its priority"
    );
    g.report(0, MEDIA, Outcome::ConnectError, t0);
    g.report(0, MEDIA, Outcome::ConnectError, t0);
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
    g.report(0, MEDIA, Outcome::Ok, t1);
    assert_eq!(g.select(&[], SEG, t1).map(|(i, _)| i), Some(0));
    let status = g.status(t1 + s(20), &[0, 0]);
    assert_eq!(status[0].state, "healthy");
    assert_eq!(status[1].name, "127.0.0.1:9122");
}

#[test]
fn when_every_origin_is_down_they_are_tried_anyway() {
    let g = group(&[(9131, 0, 1), (9132, 1, 1)]);
    let t0 = Instant::now();
    for i in 0..2 {
        g.report(i, None, Outcome::Status5xx, t0);
        g.report(i, None, Outcome::Status5xx, t0);
    }
    assert_eq!(walk(&g, SEG, t0 + s(1)), vec![0, 1]);
}

#[test]
fn playlists_move_to_the_origin_whose_playlist_advances() {
    let g = group(&[(9141, 0, 1), (9142, 1, 1)]);
    let t0 = Instant::now();
    let mut p = Playlist::new(t0);
    // A (0) serves the playlist while it advances; B is never asked.
    for k in 0..4u32 {
        let now = t0 + TD * k;
        assert_eq!(p.first(&g, now), Some(0));
        p.fetched(0, 100 + u64::from(k), now);
    }
    // A freezes at 103 (advanced at 6 s, still 103 at 13 s): past 3 x 2 s
    // without an advance, the next request asks B, which was not heard from.
    p.fetched(0, 103, t0 + s(13));
    assert_eq!(p.first(&g, t0 + s(13)), Some(1));
    p.fetched(1, 106, t0 + s(13));
    assert_eq!(p.stale(t0 + s(13)), vec![0]);
    let status = g.status(t0 + s(13), &[1, 0]);
    assert_eq!(status[0].state, "stale");
    assert_eq!(status[1].state, "healthy");
    // From now on playlists go to B, A only as a last resort.
    let progress = p.0.origins(t0 + s(14));
    assert_eq!(
        walk(&g, SelectFor::Playlist(&progress), t0 + s(14)),
        vec![1, 0]
    );
    // Segments still follow priority: A is stale, not down.
    assert_eq!(g.select(&[], SEG, t0 + s(14)).map(|(i, _)| i), Some(0));
    // A catches up with the newest served.
    p.fetched(0, 107, t0 + s(15));
    assert!(p.stale(t0 + s(15)).is_empty());
    assert_eq!(p.first(&g, t0 + s(15)), Some(0));
}

#[test]
fn a_stale_primary_is_asked_again_once_per_window_and_taken_back_when_caught_up() {
    let g = group(&[(9171, 0, 1), (9172, 1, 1)]);
    let t0 = Instant::now();
    let mut p = Playlist::new(t0);
    p.fetched(0, 100, t0);
    p.fetched(1, 100, t0);
    // A frozen at 100 (last asked at 7 s), B advancing: A is stale.
    p.fetched(1, 104, t0 + s(7));
    p.fetched(0, 100, t0 + s(7));
    assert_eq!(p.stale(t0 + s(7)), vec![0]);
    // B serves while A was heard from within the window (3 x 2 s)...
    for k in 8..=13 {
        assert_eq!(p.first(&g, t0 + s(k)), Some(1), "at {k} s");
        p.fetched(1, 100 + k, t0 + s(k));
    }
    // ...then A gets one request to tell whether it is still frozen.
    assert_eq!(p.first(&g, t0 + s(14)), Some(0));
    p.fetched(0, 100, t0 + s(14));
    assert_eq!(
        p.first(&g, t0 + s(15)),
        Some(1),
        "still frozen: one re-check only"
    );
    assert_eq!(p.stale(t0 + s(15)), vec![0]);
    p.fetched(1, 115, t0 + s(15));
    // Re-checked while it advances again but behind: still stale.
    assert_eq!(p.first(&g, t0 + s(21)), Some(0));
    p.fetched(0, 112, t0 + s(21));
    assert_eq!(p.stale(t0 + s(21)), vec![0], "behind the newest served");
    p.fetched(1, 121, t0 + s(21));
    // At the next re-check A has caught up: it is the primary again.
    assert_eq!(p.first(&g, t0 + s(28)), Some(0));
    p.fetched(0, 121, t0 + s(28));
    assert!(p.stale(t0 + s(28)).is_empty());
    assert_eq!(p.first(&g, t0 + s(29)), Some(0));
}

#[test]
fn a_stream_paused_everywhere_goes_back_to_priority_order() {
    let g = group(&[(9151, 0, 1), (9152, 1, 1)]);
    let t0 = Instant::now();
    let mut p = Playlist::new(t0);
    p.fetched(0, 50, t0);
    assert_eq!(p.first(&g, t0 + s(7)), Some(1), "second opinion");
    p.fetched(1, 50, t0 + s(7));
    assert_eq!(p.first(&g, t0 + s(8)), Some(0));
    assert!(p.stale(t0 + s(8)).is_empty());
}

#[test]
fn health_is_kept_per_traffic_in_selection() {
    let g = group(&[(9181, 0, 1), (9182, 1, 1)]);
    let t0 = Instant::now();
    // origin 0 cuts every segment (failures=2 in this group) but serves playlists
    for _ in 0..2 {
        g.report(0, Some(Traffic::Playlists), Outcome::Ok, t0);
        g.report(0, MEDIA, Outcome::Truncated, t0);
    }
    assert_eq!(g.select(&[], SEG, t0).map(|(i, _)| i), Some(1));
    let p = Playlist::new(t0);
    assert_eq!(p.first(&g, t0), Some(0));
    let status = g.status(t0, &[0, 0]);
    assert_eq!(status[0].state, "degraded");
    assert_eq!(status[0].traffic["media"].state, "down");
    assert_eq!(status[0].traffic["playlists"].state, "healthy");
    assert_eq!(
        status[0].traffic["media"].ejected_for.as_deref(),
        Some("2 in a row: truncated")
    );
}

#[test]
fn the_404_retry_rule() {
    let g = group(&[(9161, 0, 1), (9162, 0, 1)]);
    assert!(g.retries_404(SEG, &[0]));
    assert!(!g.retries_404(SEG, &[0, 1]), "once");
    assert!(!g.retries_404(SelectFor::Playlist(&[]), &[0]));
    assert!(matches!(g.owner("/hls/a.ts"), Owner::Me), "no siblings");
}
