//! Stale-manifest detection (design section 5): per stream (a live media
//! playlist's path), the media sequence each origin last served and when it
//! last advanced. Pure and bounded: the caller passes the time in, and at
//! most `max_streams` paths are tracked (the least recently seen is dropped).
//!
//! Sequence numbers are compared across origins, so the origins of a group
//! must number the same stream alike (the usual redundant-packager set-up);
//! RFC 8216 6.2.1 already requires one origin to never reuse or skip them.
//!
//! An origin is *overdue* on a stream when its playlist has not advanced for
//! `stale_after` x target duration, and *stale* when it is overdue while
//! another origin has served a higher sequence. A stale origin stays stale
//! until it is back within one segment of the others: one that resumes
//! advancing several segments behind would otherwise take playlists back
//! and, once the no-regression bound lapses, send players backwards.
//!
//! It also keeps the highest sequence this edge has served per stream, so
//! that a failover never takes a player's playlist backwards (the proxy
//! enforces it; this only remembers).
//!
//! It does not parse playlists (`hls::playlist` does) and does not choose
//! origins (`selection` and `OriginGroup` do).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Streams tracked per origin group unless told otherwise.
pub const DEFAULT_MAX_STREAMS: usize = 10_000;

/// One origin's view of one stream.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// The sequence number of the playlist's last segment
    /// (`#EXT-X-MEDIA-SEQUENCE` + segment count - 1): it advances for sliding
    /// and for growing (EVENT) playlists alike.
    sequence: u64,
    advanced_at: Instant,
    observed_at: Instant,
    /// Found stale at an observation, and not caught up since.
    latched: bool,
}

#[derive(Debug)]
struct Stream {
    touched: u64,
    /// `#EXT-X-TARGETDURATION`, at least one second.
    target_duration: Duration,
    origins: Vec<Option<Seen>>,
    /// The highest sequence served to players, and when it was last served.
    served: Option<(u64, Instant)>,
    /// The body of the playlist with the highest sequence served, sent again
    /// in place of one that would go backwards.
    served_body: Option<(u64, bytes::Bytes)>,
}

/// See the module docs.
#[derive(Debug)]
pub struct ManifestWatch {
    origins: usize,
    stale_after: u32,
    max_streams: usize,
    streams: HashMap<String, Stream>,
    /// Touch tick -> path, oldest first, for eviction.
    recency: BTreeMap<u64, String>,
    tick: u64,
}

impl ManifestWatch {
    pub fn new(origins: usize, stale_after: u32, max_streams: usize) -> ManifestWatch {
        ManifestWatch {
            origins,
            stale_after: stale_after.max(1),
            max_streams: max_streams.max(1),
            streams: HashMap::new(),
            recency: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Records that `origin` served the playlist of `path` with last segment
    /// `sequence`. Returns the origins that are stale on `path` now.
    pub fn observe(
        &mut self,
        origin: usize,
        path: &str,
        sequence: u64,
        target_duration: Duration,
        now: Instant,
    ) -> Vec<usize> {
        if origin >= self.origins {
            return Vec::new();
        }
        let stream = self.touch(path);
        stream.target_duration = target_duration.max(Duration::from_secs(1));
        let seen = &mut stream.origins[origin];
        *seen = Some(match *seen {
            // Same or backwards (an origin restarted): not an advance, but a
            // backwards jump restarts the clock so a reset origin is not
            // condemned for the old numbering's age.
            Some(old) if sequence == old.sequence => Seen {
                observed_at: now,
                ..old
            },
            old => Seen {
                sequence,
                advanced_at: now,
                observed_at: now,
                latched: old.is_some_and(|o| o.latched),
            },
        });
        let stale: Vec<usize> = (0..self.origins)
            .filter(|&i| self.is_stale(i, path, now))
            .collect();
        if let Some(stream) = self.streams.get_mut(path) {
            for (i, seen) in stream.origins.iter_mut().enumerate() {
                if let Some(seen) = seen {
                    seen.latched = stale.contains(&i);
                }
            }
        }
        stale
    }

    /// Not advanced for `stale_after` x target duration (false if never seen).
    pub fn is_overdue(&self, origin: usize, path: &str, now: Instant) -> bool {
        self.seen(origin, path)
            .is_some_and(|(s, window)| now.saturating_duration_since(s.advanced_at) > window)
    }

    /// Overdue while another origin has served a higher sequence; or found
    /// so before and still more than one segment behind another origin.
    pub fn is_stale(&self, origin: usize, path: &str, now: Instant) -> bool {
        let Some(stream) = self.streams.get(path) else {
            return false;
        };
        let Some((mine, _)) = self.seen(origin, path) else {
            return false;
        };
        let highest = stream
            .origins
            .iter()
            .flatten()
            .map(|other| other.sequence)
            .max()
            .unwrap_or(mine.sequence);
        (self.is_overdue(origin, path, now) && highest > mine.sequence)
            || (mine.latched && mine.sequence.saturating_add(1) < highest)
    }

    /// Whether `origin`'s playlist of `path` was fetched within the last
    /// `stale_after` x target duration (what is known of it is current).
    pub fn observed_recently(&self, origin: usize, path: &str, now: Instant) -> bool {
        self.seen(origin, path)
            .is_some_and(|(s, window)| now.saturating_duration_since(s.observed_at) <= window)
    }

    /// The origin that has served the highest sequence of `path` (the first
    /// one to reach it on a tie).
    pub fn freshest(&self, path: &str) -> Option<usize> {
        let stream = self.streams.get(path)?;
        stream
            .origins
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .max_by(|(_, a), (_, b)| {
                a.sequence
                    .cmp(&b.sequence)
                    .then(b.advanced_at.cmp(&a.advanced_at))
            })
            .map(|(i, _)| i)
    }

    /// Records that a playlist of `path` with last segment `sequence` went to
    /// a player.
    pub fn served(&mut self, path: &str, sequence: u64, target_duration: Duration, now: Instant) {
        let stale_after = self.stale_after;
        let stream = self.touch(path);
        if stream.target_duration.is_zero() {
            stream.target_duration = target_duration.max(Duration::from_secs(1));
        }
        let window = stream.target_duration * stale_after;
        match stream.served {
            Some((highest, at))
                if sequence < highest && now.saturating_duration_since(at) <= window => {}
            _ => stream.served = Some((sequence, now)),
        }
    }

    /// The lowest last-segment sequence the proxy may still serve for `path`:
    /// the highest already served, if it was served within the last
    /// `stale_after` x target duration (older guards lapse, so a stream that
    /// restarts its numbering is not refused forever).
    pub fn highest_served(&self, path: &str, now: Instant) -> Option<u64> {
        let stream = self.streams.get(path)?;
        let (sequence, at) = stream.served?;
        let window = stream.target_duration * self.stale_after;
        (now.saturating_duration_since(at) <= window).then_some(sequence)
    }

    /// Keeps `body`, a playlist of `path` ending at `sequence`, as the copy to
    /// send in place of an older one (only if it is the highest served).
    pub fn keep_served_body(&mut self, path: &str, sequence: u64, body: bytes::Bytes) {
        let Some(stream) = self.streams.get_mut(path) else {
            return;
        };
        if stream
            .served
            .is_some_and(|(highest, _)| highest == sequence)
        {
            stream.served_body = Some((sequence, body));
        }
    }

    /// The kept copy of the highest playlist served for `path` within the
    /// guard window (see `highest_served`).
    pub fn served_body(&self, path: &str, now: Instant) -> Option<bytes::Bytes> {
        let highest = self.highest_served(path, now)?;
        let (sequence, body) = self.streams.get(path)?.served_body.as_ref()?;
        (*sequence == highest).then(|| body.clone())
    }

    /// Streams tracked now.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    fn seen(&self, origin: usize, path: &str) -> Option<(Seen, Duration)> {
        let stream = self.streams.get(path)?;
        let seen = (*stream.origins.get(origin)?)?;
        Some((seen, stream.target_duration * self.stale_after))
    }

    /// The stream of `path`, created (evicting the least recently touched one
    /// when full) and marked as just used.
    fn touch(&mut self, path: &str) -> &mut Stream {
        self.tick += 1;
        let tick = self.tick;
        if !self.streams.contains_key(path) {
            while self.streams.len() >= self.max_streams {
                let Some((_, oldest)) = self.recency.pop_first() else {
                    break;
                };
                self.streams.remove(&oldest);
            }
        }
        let origins = self.origins;
        let stream = self
            .streams
            .entry(path.to_string())
            .or_insert_with(|| Stream {
                touched: tick,
                target_duration: Duration::ZERO,
                origins: vec![None; origins],
                served: None,
                served_body: None,
            });
        self.recency.remove(&stream.touched);
        self.recency.insert(tick, path.to_string());
        stream.touched = tick;
        stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD: Duration = Duration::from_secs(2);
    const P: &str = "/hls/live/360p.m3u8";

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn an_origin_frozen_while_another_advances_is_stale() {
        let t0 = Instant::now();
        let mut w = ManifestWatch::new(2, 3, 100);
        assert!(w.observe(0, P, 100, TD, t0).is_empty());
        assert!(w.observe(1, P, 100, TD, t0).is_empty());
        // A stays at 100; B advances every target duration.
        for k in 1..=3u64 {
            assert!(w.observe(0, P, 100, TD, t0 + TD * k as u32).is_empty());
            w.observe(1, P, 100 + k, TD, t0 + TD * k as u32);
        }
        // 3 x 2 s without an advance is not yet "more than" the window.
        assert!(!w.is_overdue(0, P, t0 + s(6)));
        assert_eq!(w.observe(0, P, 100, TD, t0 + s(7)), vec![0]);
        assert!(w.is_stale(0, P, t0 + s(7)));
        assert!(!w.is_stale(1, P, t0 + s(7)));
        assert_eq!(w.freshest(P), Some(1));
        // A catches up: fresh again.
        assert!(w.observe(0, P, 104, TD, t0 + s(8)).is_empty());
        assert!(!w.is_stale(0, P, t0 + s(8)));
    }

    #[test]
    fn a_stale_origin_stays_stale_until_it_is_within_one_segment_again() {
        let t0 = Instant::now();
        let mut w = ManifestWatch::new(2, 3, 100);
        w.observe(0, P, 100, TD, t0);
        w.observe(1, P, 100, TD, t0);
        // A frozen at 100 for 7 s (over 3 x 2 s) while B reached 104.
        assert_eq!(w.observe(1, P, 104, TD, t0 + s(7)), vec![0]);
        assert_eq!(w.observe(0, P, 100, TD, t0 + s(7)), vec![0]);
        // Advancing again, but four segments behind: still stale.
        assert_eq!(w.observe(0, P, 101, TD, t0 + s(8)), vec![0]);
        assert!(!w.is_overdue(0, P, t0 + s(8)));
        assert!(w.is_stale(0, P, t0 + s(8)));
        // One segment behind is close enough (the no-regression bound covers it).
        assert!(w.observe(0, P, 103, TD, t0 + s(9)).is_empty());
        assert!(!w.is_stale(0, P, t0 + s(9)));
        // Never found stale: a lagging origin that advances is not stale.
        let mut fresh = ManifestWatch::new(2, 3, 100);
        fresh.observe(0, P, 90, TD, t0);
        assert!(fresh.observe(1, P, 100, TD, t0 + s(1)).is_empty());
    }

    #[test]
    fn a_stream_stalled_everywhere_makes_no_origin_stale() {
        let t0 = Instant::now();
        let mut w = ManifestWatch::new(2, 3, 100);
        w.observe(0, P, 50, TD, t0);
        w.observe(1, P, 50, TD, t0);
        assert!(w.observe(0, P, 50, TD, t0 + s(60)).is_empty());
        assert!(w.is_overdue(0, P, t0 + s(60)));
        assert!(!w.is_stale(0, P, t0 + s(60)));
        assert!(!w.is_stale(1, P, t0 + s(60)));
        // A single origin is never stale: nothing to compare with.
        let mut one = ManifestWatch::new(1, 3, 100);
        one.observe(0, P, 1, TD, t0);
        assert!(one.observe(0, P, 1, TD, t0 + s(600)).is_empty());
    }

    #[test]
    fn observed_recently_tells_when_a_second_opinion_is_due() {
        let t0 = Instant::now();
        let mut w = ManifestWatch::new(2, 3, 100);
        w.observe(1, P, 10, TD, t0);
        assert!(w.observed_recently(1, P, t0 + s(6)));
        assert!(!w.observed_recently(1, P, t0 + s(7)));
        assert!(!w.observed_recently(0, P, t0));
        assert_eq!(w.freshest("/other.m3u8"), None);
    }

    #[test]
    fn the_highest_served_sequence_is_a_bound_within_the_window() {
        let t0 = Instant::now();
        let mut w = ManifestWatch::new(2, 3, 100);
        assert_eq!(w.highest_served(P, t0), None);
        w.served(P, 105, TD, t0);
        w.served(P, 103, TD, t0 + s(1));
        assert_eq!(w.highest_served(P, t0 + s(1)), Some(105));
        assert_eq!(w.highest_served(P, t0 + s(6)), Some(105));
        assert_eq!(w.highest_served(P, t0 + s(7)), None, "the guard lapses");
        // After it lapsed a restarted numbering is accepted.
        w.served(P, 1, TD, t0 + s(7));
        assert_eq!(w.highest_served(P, t0 + s(7)), Some(1));
    }

    #[test]
    fn memory_is_bounded_by_evicting_the_least_recently_seen_stream() {
        let t0 = Instant::now();
        let mut w = ManifestWatch::new(2, 3, 3);
        for path in ["/a", "/b", "/c"] {
            w.observe(0, path, 1, TD, t0);
        }
        w.observe(1, "/a", 2, TD, t0); // /a is now the most recent
        w.served("/d", 7, TD, t0);
        assert_eq!(w.len(), 3);
        assert_eq!(w.freshest("/b"), None, "/b was the oldest");
        assert_eq!(w.freshest("/a"), Some(1));
        assert_eq!(w.freshest("/c"), Some(0));
        assert_eq!(w.highest_served("/d", t0), Some(7));
        for i in 0..1000 {
            w.observe(0, &format!("/s{i}"), i, TD, t0);
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.recency.len(), 3);
    }

    #[test]
    fn unknown_origins_and_backwards_jumps_are_handled() {
        let t0 = Instant::now();
        let mut w = ManifestWatch::new(2, 3, 100);
        assert!(w.observe(7, P, 1, TD, t0).is_empty());
        assert!(w.is_empty());
        w.observe(0, P, 500, TD, t0);
        w.observe(1, P, 500, TD, t0);
        // Origin 0 restarted its numbering: its clock restarts, it is not
        // overdue, but it is behind.
        w.observe(0, P, 3, TD, t0 + s(10));
        assert!(!w.is_overdue(0, P, t0 + s(10)));
        assert_eq!(w.freshest(P), Some(1));
    }
}
