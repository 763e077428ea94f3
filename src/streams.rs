//! What the edge sees of each stream (design section 6), in one book read by origin
//! choice, `/status` and `/metrics`: how many viewers fetched from it lately, and how each
//! of its live playlists (renditions) advances, at each origin and as sent to players
//! (`rendition.rs` holds the rules: stale origins, the no-regression bound, frozen).
//!
//! A stream is the first path segment after the route's prefix (`/hls/demo/...` is `demo`
//! on a `/hls/` route); objects directly under the prefix belong to a stream named after
//! the route. Streams enter the book only with a successful response, so random paths
//! cannot grow it, and the book is bounded: the least recently seen stream goes first, and
//! a stream nobody asked for in `IDLE` leaves it. Pure bookkeeping, the clock passed in.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use serde::Serialize;

use crate::hls::PlaylistSummary;

mod parts;
mod rendition;

pub use parts::{PartIndex, PartKind};
pub use rendition::{OriginProgress, Rendition, Verdict};

/// A viewer counts for this long after its last request.
pub const VIEWER_WINDOW: Duration = Duration::from_secs(30);
/// Streams tracked at most.
pub const MAX_STREAMS: usize = 1_000;
/// Viewers tracked per stream at most (beyond it, the count saturates).
pub const MAX_VIEWERS: usize = 100_000;
/// Renditions tracked per stream at most.
const MAX_RENDITIONS: usize = 32;
/// A stream nobody asked for this long leaves the book.
const IDLE: Duration = Duration::from_secs(300);
/// A rendition counts in the playlist age while players fetch it.
const RENDITION_WINDOW: Duration = Duration::from_secs(30);

/// The stream a request path on the route (`prefix`, `route` name) belongs to: the first
/// path segment after the prefix, or the route's name for objects directly under it.
pub fn stream_of<'a>(route: &'a str, prefix: &str, path: &'a str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?.trim_start_matches('/');
    // a byte scan: cheaper than `split_once` on a short path, on every request
    match rest.bytes().position(|b| b == b'/') {
        Some(at) if at > 0 && at + 1 < rest.len() => Some(&rest[..at]),
        Some(_) => None,
        None => (!rest.is_empty()).then_some(route),
    }
}

/// A playlist about to be sent to a player, as the book records it.
#[derive(Debug)]
pub struct PlaylistSeen<'a> {
    pub stream: &'a str,
    /// The playlist's token-free path: the rendition.
    pub path: &'a str,
    /// The origin group behind the route, its size and `health.stale_after`.
    pub group: &'a str,
    pub origins: usize,
    pub stale_after: u32,
    /// The origin that just answered it (200 or 304), if one did for this request.
    pub from: Option<usize>,
    pub summary: &'a PlaylistSummary,
    pub body: &'a Bytes,
}

#[derive(Debug, Default)]
struct Stream {
    last_seen: Option<Instant>,
    /// Hash of the viewer's session id or address -> last request.
    viewers: HashMap<u64, Instant>,
    renditions: HashMap<String, Rendition>,
}

/// One stream as `/status` and the metrics show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StreamView {
    pub name: String,
    /// Distinct viewers in the last `VIEWER_WINDOW`.
    pub viewers: usize,
    /// Seconds since the live playlist's media sequence last advanced (the
    /// oldest of the renditions players fetch); `None` without a live playlist.
    pub playlist_age_seconds: Option<f64>,
    /// Segments the playlists sent trail the newest fetched from an origin.
    pub segment_lag: Option<u64>,
    /// A playlist players fetch has not advanced for `health.stale_after` target
    /// durations (the same window that makes an origin stale).
    pub frozen: bool,
    /// The newest position sent to players among its live playlists: the last segment,
    /// or `MSN.PARTS` while an LL-HLS segment is being produced (`17.2`: two parts of 17).
    pub latest: Option<String>,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct StreamBook {
    streams: Mutex<Book>,
    /// Which paths are LL-HLS parts (learned from the playlists passed on).
    pub parts: PartIndex,
}

#[derive(Debug, Default)]
struct Book {
    streams: HashMap<String, Stream>,
    /// Streams pushed out for room since the last snapshot (their metric
    /// labels must go too).
    evicted: Vec<String>,
}

impl StreamBook {
    pub fn new() -> StreamBook {
        StreamBook::default()
    }

    /// A successful request of `viewer` (session id, else client address): only its
    /// hash is kept.
    pub fn saw_viewer(&self, stream: &str, viewer: impl Hash, now: Instant) {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        viewer.hash(&mut hasher);
        let key = hasher.finish();
        let mut book = self.streams.lock();
        book.with_entry(stream, now, |s| {
            if s.viewers.len() >= MAX_VIEWERS && !s.viewers.contains_key(&key) {
                s.viewers
                    .retain(|_, at| now.saturating_duration_since(*at) <= VIEWER_WINDOW);
                if s.viewers.len() >= MAX_VIEWERS {
                    return;
                }
            }
            s.viewers.insert(key, now);
        });
    }

    /// Records a playlist about to be sent to a player and decides what goes instead when
    /// it would take players backwards (see `rendition.rs`). Only live media playlists are
    /// followed.
    pub fn playlist(&self, seen: &PlaylistSeen<'_>, now: Instant) -> Verdict {
        if seen.summary.live_position().is_none() {
            return Verdict::Send;
        }
        let mut book = self.streams.lock();
        book.with_entry(seen.stream, now, |s| {
            if !s.renditions.contains_key(seen.path) && s.renditions.len() >= MAX_RENDITIONS {
                return Verdict::Send;
            }
            let r = s
                .renditions
                .entry(seen.path.to_string())
                .or_insert_with(|| {
                    Rendition::new(seen.group.into(), seen.origins, seen.stale_after, now)
                });
            r.seen_at = now;
            if let Some(i) = seen.from {
                r.observe(i, seen.summary, now);
            }
            r.serve(seen.summary, seen.from, seen.body, seen.origins > 1, now)
        })
    }

    /// What is known of each origin's copy of the playlist `path` of `stream` (`None`
    /// when the book does not follow it).
    pub fn origin_progress(
        &self,
        stream: &str,
        path: &str,
        now: Instant,
    ) -> Option<Vec<OriginProgress>> {
        let book = self.streams.lock();
        Some(book.streams.get(stream)?.renditions.get(path)?.origins(now))
    }

    /// The target duration of the live playlist `path` of `stream`, when followed.
    pub fn target_duration(&self, stream: &str, path: &str) -> Option<Duration> {
        let book = self.streams.lock();
        Some(
            book.streams
                .get(stream)?
                .renditions
                .get(path)?
                .target_duration(),
        )
    }

    /// For each origin of `group` (by index), how many playlists it is stale on.
    pub fn stale_counts(&self, group: &str, origins: usize, now: Instant) -> Vec<usize> {
        let mut counts = vec![0; origins];
        let book = self.streams.lock();
        let renditions = book.streams.values().flat_map(|s| s.renditions.values());
        for r in renditions.filter(|r| &*r.group == group) {
            for i in r.stale_origins(now) {
                if let Some(c) = counts.get_mut(i) {
                    *c += 1;
                }
            }
        }
        counts
    }

    /// Every stream, idle ones dropped first (their names are returned too, so
    /// that their metric labels can go).
    pub fn snapshot(&self, now: Instant) -> (Vec<StreamView>, Vec<String>) {
        let mut book = self.streams.lock();
        let mut gone = std::mem::take(&mut book.evicted);
        let streams = &mut book.streams;
        let idle: Vec<String> = streams
            .iter()
            .filter(|(_, s)| {
                s.last_seen
                    .is_some_and(|t| now.saturating_duration_since(t) > IDLE)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in &idle {
            streams.remove(name);
        }
        gone.extend(idle);
        let mut views: Vec<StreamView> = streams
            .iter_mut()
            .map(|(name, s)| view(name, s, now))
            .collect();
        views.sort_by(|a, b| a.name.cmp(&b.name));
        (views, gone)
    }
}

impl Book {
    /// Runs `f` on the stream `name`, entered (pushing out the least
    /// recently seen one when full) and marked as seen. A stream already
    /// followed (every request but its first) costs one lookup and no
    /// allocation.
    fn with_entry<R>(&mut self, name: &str, now: Instant, f: impl FnOnce(&mut Stream) -> R) -> R {
        if let Some(s) = self.streams.get_mut(name) {
            s.last_seen = Some(now);
            return f(s);
        }
        self.insert(name);
        let s = self
            .streams
            .get_mut(name)
            .expect("present: inserted just above");
        s.last_seen = Some(now);
        f(s)
    }

    /// Starts following `name`, forgetting the stream seen longest ago when full.
    fn insert(&mut self, name: &str) {
        if self.streams.len() >= MAX_STREAMS {
            let oldest = self
                .streams
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.streams.remove(&oldest);
                if self.evicted.len() < MAX_STREAMS {
                    self.evicted.push(oldest);
                }
            }
        }
        self.streams.insert(name.to_string(), Stream::default());
    }
}

fn view(name: &str, s: &mut Stream, now: Instant) -> StreamView {
    s.viewers
        .retain(|_, at| now.saturating_duration_since(*at) <= VIEWER_WINDOW);
    let active: Vec<&Rendition> = s
        .renditions
        .values()
        .filter(|r| now.saturating_duration_since(r.seen_at) <= RENDITION_WINDOW)
        .collect();
    StreamView {
        name: name.to_string(),
        viewers: s.viewers.len(),
        playlist_age_seconds: active
            .iter()
            .filter_map(|r| r.age(now))
            .max()
            .map(|a| (a.as_secs_f64() * 10.0).round() / 10.0),
        segment_lag: active.iter().filter_map(|r| r.lag()).max(),
        frozen: active.iter().any(|r| r.frozen(now)),
        latest: active
            .iter()
            .filter_map(|r| r.served())
            .max()
            .map(|p| p.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::{ObjectClass, Position};

    const TD: Duration = Duration::from_secs(2);

    fn live(last: u64) -> PlaylistSummary {
        PlaylistSummary {
            class: ObjectClass::LivePlaylist,
            position: Some(Position::after_segment(last)),
            first_msn: last.saturating_sub(5),
            target_duration: TD,
            live: true,
        }
    }

    /// Origin 0 of a group of one answered `last`, sent to a player.
    fn sent(book: &StreamBook, stream: &str, path: &str, last: u64, at: Instant) -> Verdict {
        let summary = live(last);
        let body = Bytes::new();
        let seen = PlaylistSeen {
            stream,
            path,
            group: "g",
            origins: 1,
            stale_after: 3,
            from: Some(0),
            summary: &summary,
            body: &body,
        };
        book.playlist(&seen, at)
    }

    #[test]
    fn streams_are_the_first_segment_after_the_prefix() {
        let of = |prefix, path| stream_of("live", prefix, path);
        assert_eq!(of("/hls/", "/hls/demo/g1/360p/index.m3u8"), Some("demo"));
        assert_eq!(of("/hls/", "/hls/demo/master.m3u8"), Some("demo"));
        assert_eq!(of("/hls", "/hls/demo/seg.ts"), Some("demo"));
        assert_eq!(
            of("/hls/", "/hls/index.m3u8"),
            Some("live"),
            "the route's own"
        );
        assert_eq!(of("/hls/", "/hls/demo/"), None);
        assert_eq!(of("/hls/", "/hls/"), None);
        assert_eq!(of("/vod/", "/hls/demo/x.ts"), None);
    }

    #[test]
    fn viewers_count_distinct_ids_within_the_window_then_expire() {
        let book = StreamBook::new();
        let t0 = Instant::now();
        for i in 0..20 {
            book.saw_viewer("demo", format!("session-{i}"), t0);
            book.saw_viewer("demo", format!("session-{i}"), t0 + Duration::from_secs(1));
        }
        book.saw_viewer("other", "session-0", t0);
        let (views, _) = book.snapshot(t0 + Duration::from_secs(2));
        assert_eq!(views[0].name, "demo");
        assert_eq!(views[0].viewers, 20);
        assert_eq!(views[1].viewers, 1);
        let (views, _) = book.snapshot(t0 + VIEWER_WINDOW + Duration::from_secs(2));
        assert_eq!(views[0].viewers, 0);
        let (views, gone) = book.snapshot(t0 + IDLE + Duration::from_secs(2));
        assert!(views.is_empty());
        assert_eq!(gone.len(), 2);
    }

    #[test]
    fn playlist_age_grows_while_the_sequence_stands_still() {
        let book = StreamBook::new();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let path = "/hls/demo/a/index.m3u8";
        sent(&book, "demo", path, 10, at(0));
        sent(&book, "demo", path, 11, at(2));
        let (v, _) = book.snapshot(at(3));
        assert_eq!(v[0].playlist_age_seconds, Some(1.0));
        assert!(!v[0].frozen);
        for s in 4..=10 {
            sent(&book, "demo", path, 11, at(s));
        }
        let (v, _) = book.snapshot(at(10));
        assert_eq!(v[0].playlist_age_seconds, Some(8.0));
        assert!(v[0].frozen);
        sent(&book, "demo", path, 12, at(11));
        let (v, _) = book.snapshot(at(11));
        assert_eq!(v[0].playlist_age_seconds, Some(0.0));
        assert!(!v[0].frozen);
        assert_eq!(v[0].segment_lag, Some(0));
    }

    #[test]
    fn the_book_follows_only_live_media_playlists_and_stays_bounded() {
        let book = StreamBook::new();
        let t0 = Instant::now();
        let vod = PlaylistSummary {
            live: false,
            ..live(3)
        };
        let body = Bytes::new();
        let seen = PlaylistSeen {
            stream: "s",
            path: "/vod.m3u8",
            group: "g",
            origins: 1,
            stale_after: 3,
            from: None,
            summary: &vod,
            body: &body,
        };
        assert_eq!(book.playlist(&seen, t0), Verdict::Send);
        assert_eq!(book.origin_progress("s", "/vod.m3u8", t0), None);
        for i in 0..(MAX_STREAMS + 10) {
            book.saw_viewer(&format!("s{i}"), "v", t0 + Duration::from_millis(i as u64));
        }
        let (v, gone) = book.snapshot(t0);
        assert_eq!(v.len(), MAX_STREAMS);
        assert!(!v.iter().any(|s| s.name == "s0"));
        assert_eq!(gone.len(), 10, "evicted streams are reported once");
        assert!(book.snapshot(t0).1.is_empty());
        for i in 0..(MAX_RENDITIONS + 5) {
            sent(&book, "s500", &format!("/r{i}"), 1, t0);
        }
        let followed = (0..MAX_RENDITIONS + 5)
            .filter(|i| {
                book.origin_progress("s500", &format!("/r{i}"), t0)
                    .is_some()
            })
            .count();
        assert_eq!(followed, MAX_RENDITIONS);
        assert_eq!(book.stale_counts("g", 1, t0), vec![0]);
    }
}
