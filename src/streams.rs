//! What the edge sees of each stream (design section 6): how many viewers
//! fetched from it lately, and how its live playlists advance: the playlist
//! age (time since the media sequence last advanced) and the segment lag
//! (how many segments the playlists sent to players trail the newest one
//! fetched from an origin).
//!
//! A stream is the first path segment after the route's prefix
//! (`/hls/demo/...` is `demo` on a `/hls/` route). Streams enter the book only
//! with a successful response, so random paths cannot grow it, and the book
//! is bounded: the least recently seen stream goes first. Pure bookkeeping,
//! the clock passed in; the proxy feeds it and the admin listener reads it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

/// A viewer counts for this long after its last request.
pub const VIEWER_WINDOW: Duration = Duration::from_secs(30);
/// Streams tracked at most.
pub const MAX_STREAMS: usize = 1_000;
/// Viewers tracked per stream at most (beyond it, the count saturates).
pub const MAX_VIEWERS: usize = 100_000;
/// Renditions tracked per stream at most.
const MAX_RENDITIONS: usize = 64;
/// A stream nobody asked for this long leaves the book.
const IDLE: Duration = Duration::from_secs(300);
/// A rendition counts in the playlist age while players fetch it.
const RENDITION_WINDOW: Duration = Duration::from_secs(30);
/// A playlist not advancing for this many target durations is frozen.
pub const FROZEN_AFTER: u32 = 3;

/// The stream a request path belongs to, if it has one.
pub fn stream_of<'a>(prefix: &str, path: &'a str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?.trim_start_matches('/');
    let (stream, more) = rest.split_once('/')?;
    (!stream.is_empty() && !more.is_empty()).then_some(stream)
}

#[derive(Debug)]
struct Rendition {
    /// Last media sequence sent to a player, and when it last advanced.
    served: u64,
    advanced_at: Instant,
    /// Highest last media sequence fetched from an origin.
    origin: u64,
    target_duration: Duration,
    seen_at: Instant,
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
    /// The playlist has not advanced for `FROZEN_AFTER` target durations.
    pub frozen: bool,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct StreamBook {
    streams: Mutex<Book>,
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

    /// A successful request of `viewer` (session id, else client address).
    pub fn saw_viewer(&self, stream: &str, viewer: &str, now: Instant) {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        viewer.hash(&mut hasher);
        let key = hasher.finish();
        let mut book = self.streams.lock();
        let s = book.entry(stream, now);
        if s.viewers.len() >= MAX_VIEWERS && !s.viewers.contains_key(&key) {
            s.viewers
                .retain(|_, at| now.saturating_duration_since(*at) <= VIEWER_WINDOW);
            if s.viewers.len() >= MAX_VIEWERS {
                return;
            }
        }
        s.viewers.insert(key, now);
    }

    /// A live media playlist of `rendition` (its path) ending at `last_sequence`
    /// was sent to a player; `from_origin` when it was just fetched.
    pub fn saw_playlist(
        &self,
        stream: &str,
        rendition: &str,
        last_sequence: u64,
        target_duration: Duration,
        from_origin: bool,
        now: Instant,
    ) {
        let mut book = self.streams.lock();
        let s = book.entry(stream, now);
        if !s.renditions.contains_key(rendition) && s.renditions.len() >= MAX_RENDITIONS {
            return;
        }
        let r = s
            .renditions
            .entry(rendition.to_string())
            .or_insert(Rendition {
                served: last_sequence,
                advanced_at: now,
                origin: last_sequence,
                target_duration,
                seen_at: now,
            });
        if last_sequence > r.served {
            r.advanced_at = now;
        }
        // a restart numbers from lower again: follow it
        if last_sequence != r.served {
            r.served = last_sequence;
        }
        // the origin's mark only goes up, unless the stream restarted lower
        let restarted = last_sequence.saturating_add(MAX_LAG_JUMP) < r.origin;
        if (from_origin && restarted) || last_sequence > r.origin {
            r.origin = last_sequence;
        }
        r.target_duration = target_duration;
        r.seen_at = now;
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

/// A sequence this far below the origin's mark is a restarted stream, not a
/// lag (real lags are a few segments).
const MAX_LAG_JUMP: u64 = 1_000;

impl Book {
    /// The stream `name`, entered (pushing out the least recently seen one
    /// when full) and marked as seen.
    fn entry(&mut self, name: &str, now: Instant) -> &mut Stream {
        if !self.streams.contains_key(name) && self.streams.len() >= MAX_STREAMS {
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
        let s = self.streams.entry(name.to_string()).or_default();
        s.last_seen = Some(now);
        s
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
    let age = active
        .iter()
        .map(|r| now.saturating_duration_since(r.advanced_at))
        .max();
    let frozen = active.iter().any(|r| {
        now.saturating_duration_since(r.advanced_at)
            > r.target_duration.max(Duration::from_secs(1)) * FROZEN_AFTER
    });
    StreamView {
        name: name.to_string(),
        viewers: s.viewers.len(),
        playlist_age_seconds: age.map(|a| (a.as_secs_f64() * 10.0).round() / 10.0),
        segment_lag: active
            .iter()
            .map(|r| r.origin.saturating_sub(r.served))
            .max(),
        frozen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD: Duration = Duration::from_secs(2);

    #[test]
    fn streams_are_the_first_segment_after_the_prefix() {
        assert_eq!(
            stream_of("/hls/", "/hls/demo/g1/360p/index.m3u8"),
            Some("demo")
        );
        assert_eq!(stream_of("/hls/", "/hls/demo/master.m3u8"), Some("demo"));
        assert_eq!(stream_of("/hls", "/hls/demo/seg.ts"), Some("demo"));
        assert_eq!(stream_of("/hls/", "/hls/master.m3u8"), None);
        assert_eq!(stream_of("/hls/", "/hls/demo/"), None);
        assert_eq!(stream_of("/vod/", "/hls/demo/x.ts"), None);
    }

    #[test]
    fn viewers_count_distinct_ids_within_the_window_then_expire() {
        let book = StreamBook::new();
        let t0 = Instant::now();
        for i in 0..20 {
            book.saw_viewer("demo", &format!("session-{i}"), t0);
            book.saw_viewer("demo", &format!("session-{i}"), t0 + Duration::from_secs(1));
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
        book.saw_playlist("demo", "/hls/demo/a/index.m3u8", 10, TD, true, at(0));
        book.saw_playlist("demo", "/hls/demo/a/index.m3u8", 11, TD, true, at(2));
        let (v, _) = book.snapshot(at(3));
        assert_eq!(v[0].playlist_age_seconds, Some(1.0));
        assert!(!v[0].frozen);
        // frozen origin: the same sequence for 8 s
        for s in 4..=10 {
            book.saw_playlist("demo", "/hls/demo/a/index.m3u8", 11, TD, true, at(s));
        }
        let (v, _) = book.snapshot(at(10));
        assert_eq!(v[0].playlist_age_seconds, Some(8.0));
        assert!(v[0].frozen);
        book.saw_playlist("demo", "/hls/demo/a/index.m3u8", 12, TD, true, at(11));
        let (v, _) = book.snapshot(at(11));
        assert_eq!(v[0].playlist_age_seconds, Some(0.0));
        assert!(!v[0].frozen);
    }

    #[test]
    fn lag_is_what_players_were_sent_behind_the_origin() {
        let book = StreamBook::new();
        let t0 = Instant::now();
        book.saw_playlist("demo", "/r", 20, TD, true, t0);
        // an older copy sent to a player (e.g. a lagging origin)
        book.saw_playlist("demo", "/r", 18, TD, false, t0);
        let (v, _) = book.snapshot(t0);
        assert_eq!(v[0].segment_lag, Some(2));
        book.saw_playlist("demo", "/r", 20, TD, false, t0);
        let (v, _) = book.snapshot(t0);
        assert_eq!(v[0].segment_lag, Some(0));
    }

    #[test]
    fn the_book_is_bounded() {
        let book = StreamBook::new();
        let t0 = Instant::now();
        for i in 0..(MAX_STREAMS + 10) {
            book.saw_viewer(&format!("s{i}"), "v", t0 + Duration::from_millis(i as u64));
        }
        let (v, gone) = book.snapshot(t0);
        assert_eq!(v.len(), MAX_STREAMS);
        assert!(!v.iter().any(|s| s.name == "s0"));
        assert_eq!(gone.len(), 10, "evicted streams are reported once");
        assert!(book.snapshot(t0).1.is_empty());
        for i in 0..(MAX_RENDITIONS + 5) {
            book.saw_playlist("s5", &format!("/r{i}"), 1, TD, true, t0);
        }
    }
}
