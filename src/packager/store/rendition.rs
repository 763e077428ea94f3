//! One rendition of one generation: its segments in media-sequence order, the
//! live window over them, the parts of the segment being produced (LL-HLS),
//! and the measurements the playlists need (longest duration, peak and average
//! bit rate, codecs).
//!
//! Pure data: no locking, no clock (times arrive with the segments). The store
//! decides how many segments to keep; the playlist writer decides the text.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::watch;

use super::parts::{NewPart, OpenSegment, PartPosition, Progress, StoredPart};

/// A segment as a source hands it to the store.
#[derive(Debug, Clone)]
pub struct NewSegment {
    /// Starts with PAT, PMT and a keyframe (ISO/IEC 13818-1 transport packets).
    pub data: Bytes,
    pub duration: Duration,
    /// Wall clock at the start of the segment (`#EXT-X-PROGRAM-DATE-TIME`).
    pub program_date_time: SystemTime,
    /// A timestamp jump or source loop before this segment (`#EXT-X-DISCONTINUITY`).
    pub discontinuity: bool,
}

/// A segment held by the store, named by its media sequence number.
#[derive(Debug, Clone)]
pub struct StoredSegment {
    pub msn: u64,
    pub data: Bytes,
    pub duration: Duration,
    pub program_date_time: SystemTime,
    pub discontinuity: bool,
    /// Its partial segments (LL-HLS), slices of `data`; empty without parts.
    pub parts: Vec<StoredPart>,
}

/// What a multivariant playlist says about a rendition, where known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenditionInfo {
    /// RFC 6381 codec strings, e.g. `avc1.42c01e`, `mp4a.40.2`.
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
}

/// Segments shorter than this do not count towards the peak bit rate: the
/// last segment flushed when an input stops can be a few frames long, and one
/// keyframe over 40 ms would claim a bit rate the stream never had.
const PEAK_MIN_DURATION: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
pub struct Rendition {
    segments: VecDeque<StoredSegment>,
    next_msn: u64,
    /// `#EXT-X-DISCONTINUITY` tags of segments no longer stored.
    pruned_discontinuities: u64,
    ended: bool,
    bytes: u64,
    /// Longest duration published so far, in whole milliseconds as written in `#EXTINF`.
    longest_ms: u64,
    peak_bps: u64,
    total_bytes: u64,
    total_duration: Duration,
    info: RenditionInfo,
    /// The segment being produced, once a part of it is published.
    open: Option<OpenSegment>,
    /// The store refused the segment being produced at its first part: its
    /// other parts and the segment itself are refused too.
    refusing: bool,
    progress: Progress,
}

impl Rendition {
    /// Appends a segment; returns its media sequence number.
    pub fn push(&mut self, s: NewSegment) -> u64 {
        let msn = self.next_msn;
        self.next_msn += 1;
        let len = s.data.len() as u64;
        self.bytes += len;
        self.total_bytes += len;
        self.total_duration += s.duration;
        self.longest_ms = self.longest_ms.max(millis(s.duration));
        if s.duration >= PEAK_MIN_DURATION {
            let bps = (len as f64 * 8.0 / s.duration.as_secs_f64()).ceil() as u64;
            self.peak_bps = self.peak_bps.max(bps);
        }
        let parts = self
            .open
            .take()
            .map(|open| open.into_slices_of(&s.data))
            .unwrap_or_default();
        self.segments.push_back(StoredSegment {
            msn,
            data: s.data,
            duration: s.duration,
            program_date_time: s.program_date_time,
            discontinuity: s.discontinuity,
            parts,
        });
        self.progress.advance();
        msn
    }

    /// Appends a part of the segment being produced (the next `push` completes it).
    pub fn push_part(&mut self, p: NewPart) -> PartPosition {
        let open = self.open.get_or_insert_with(|| OpenSegment {
            parts: Vec::new(),
            discontinuity: p.discontinuity,
            program_date_time: p.program_date_time,
        });
        open.parts.push(StoredPart::from(p));
        let part = open.parts.len() as u64 - 1;
        self.progress.advance();
        PartPosition {
            msn: self.next_msn,
            part,
        }
    }

    /// The input stopped: the playlist gets `#EXT-X-ENDLIST`; parts of a segment
    /// that was never completed are dropped.
    pub fn end(&mut self) {
        self.ended = true;
        self.open = None;
        self.progress.advance();
    }

    /// Drops the parts of the segment being produced (it will not be stored).
    pub fn drop_open(&mut self) -> u64 {
        let freed = self.open.take().map_or(0, |o| o.bytes());
        if freed > 0 {
            self.progress.advance();
        }
        freed
    }

    /// The segment being produced, if a part of it is out.
    pub fn open_segment(&self) -> Option<&OpenSegment> {
        self.open.as_ref()
    }

    /// The media sequence number the next segment will have.
    pub fn next_msn(&self) -> u64 {
        self.next_msn
    }

    /// The last part published: of the segment being produced, else of the
    /// last segment; `None` when that has no parts.
    pub fn last_part(&self) -> Option<PartPosition> {
        let (msn, count) = match &self.open {
            Some(open) => (self.next_msn, open.parts.len()),
            None => (
                self.next_msn.checked_sub(1)?,
                self.segments.back()?.parts.len(),
            ),
        };
        let part = (count as u64).checked_sub(1)?;
        Some(PartPosition { msn, part })
    }

    /// The part a source publishes next (what `#EXT-X-PRELOAD-HINT` names);
    /// `None` once the input stopped.
    pub fn next_part(&self) -> Option<PartPosition> {
        if self.ended {
            return None;
        }
        let part = self.open.as_ref().map_or(0, |o| o.parts.len() as u64);
        Some(PartPosition {
            msn: self.next_msn,
            part,
        })
    }

    /// A published part, of a stored segment or of the one being produced.
    pub fn part(&self, at: PartPosition) -> Option<&StoredPart> {
        let index = usize::try_from(at.part).ok()?;
        if at.msn == self.next_msn {
            return self.open.as_ref()?.parts.get(index);
        }
        self.segment(at.msn)?.parts.get(index)
    }

    /// A receiver that sees every later part, segment and end of this rendition.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.progress.subscribe()
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Bytes held: the segments, and the parts of the segment being produced.
    pub fn bytes(&self) -> u64 {
        self.bytes + self.open.as_ref().map_or(0, OpenSegment::bytes)
    }

    /// Refuses the segment being produced (its first part did not fit).
    pub fn refuse_open(&mut self) {
        self.open = None;
        self.refusing = true;
    }

    /// Whether the segment being produced was refused; `finished` ends that
    /// refusal (the segment itself arrived).
    pub fn refusing(&mut self, finished: bool) -> bool {
        let refusing = self.refusing;
        if finished {
            self.refusing = false;
        }
        refusing
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Keeps the newest `keep` segments; returns the bytes freed.
    pub fn prune(&mut self, keep: usize) -> u64 {
        let mut freed = 0;
        while self.segments.len() > keep {
            freed += self.drop_front();
        }
        freed
    }

    /// Segments held behind the live window of `window` segments.
    pub fn behind(&self, window: usize) -> usize {
        self.segments.len().saturating_sub(window)
    }

    /// Bytes of the segments behind the window.
    pub fn behind_bytes(&self, window: usize) -> u64 {
        let behind = self.segments.iter().take(self.behind(window));
        behind.map(|s| s.data.len() as u64).sum()
    }

    /// Drops the oldest segment behind the window, if any; returns the bytes freed.
    pub fn drop_behind(&mut self, window: usize) -> u64 {
        if self.behind(window) == 0 {
            return 0;
        }
        self.drop_front()
    }

    fn drop_front(&mut self) -> u64 {
        let Some(s) = self.segments.pop_front() else {
            return 0;
        };
        if s.discontinuity {
            self.pruned_discontinuities += 1;
        }
        let len = s.data.len() as u64;
        self.bytes -= len;
        len
    }

    /// The newest `window` segments: what a media playlist lists.
    pub fn window(&self, window: usize) -> impl Iterator<Item = &StoredSegment> {
        self.segments.iter().skip(self.behind(window))
    }

    /// `#EXT-X-DISCONTINUITY-SEQUENCE` of a playlist listing `window(window)`:
    /// the discontinuity tags that have slid out of it (RFC 8216 §6.2.2).
    pub fn discontinuity_sequence(&self, window: usize) -> u64 {
        let behind = self.segments.iter().take(self.behind(window));
        self.pruned_discontinuities + behind.filter(|s| s.discontinuity).count() as u64
    }

    /// `#EXT-X-MEDIA-SEQUENCE` of a playlist listing `window(window)`.
    pub fn media_sequence(&self, window: usize) -> u64 {
        self.window(window).next().map_or(self.next_msn, |s| s.msn)
    }

    pub fn segment(&self, msn: u64) -> Option<&StoredSegment> {
        let first = self.segments.front()?.msn;
        self.segments
            .get(usize::try_from(msn.checked_sub(first)?).ok()?)
    }

    /// Longest segment duration so far, as written (whole milliseconds).
    pub fn longest(&self) -> Duration {
        Duration::from_millis(self.longest_ms)
    }

    /// Peak segment bit rate so far (`BANDWIDTH`, RFC 8216 §4.3.4.2).
    pub fn peak_bandwidth(&self) -> u64 {
        self.peak_bps
    }

    /// Mean bit rate so far (`AVERAGE-BANDWIDTH`); `None` before any media.
    pub fn average_bandwidth(&self) -> Option<u64> {
        let secs = self.total_duration.as_secs_f64();
        (secs > 0.0).then(|| (self.total_bytes as f64 * 8.0 / secs).ceil() as u64)
    }

    pub fn info(&self) -> &RenditionInfo {
        &self.info
    }

    pub fn set_info(&mut self, info: RenditionInfo) {
        self.info = info;
    }
}

/// A duration rounded to whole milliseconds, the precision of `#EXTINF` here.
pub fn millis(d: Duration) -> u64 {
    u64::try_from((d.as_micros() + 500) / 1000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn seg(len: usize, ms: u64, discontinuity: bool) -> NewSegment {
        NewSegment {
            data: Bytes::from(vec![0x47; len]),
            duration: Duration::from_millis(ms),
            program_date_time: UNIX_EPOCH,
            discontinuity,
        }
    }

    #[test]
    fn window_slides_and_pruning_keeps_the_newest() {
        let mut r = Rendition::default();
        for i in 0..10 {
            assert_eq!(r.push(seg(100, 2000, false)), i);
        }
        assert_eq!(r.window(3).map(|s| s.msn).collect::<Vec<_>>(), [7, 8, 9]);
        assert_eq!(r.media_sequence(3), 7);
        assert_eq!(r.prune(5), 500);
        assert_eq!(r.bytes(), 500);
        assert!(r.segment(4).is_none());
        assert_eq!(r.segment(5).map(|s| s.msn), Some(5));
        assert!(r.segment(10).is_none());
        assert_eq!(r.media_sequence(3), 7);
    }

    #[test]
    fn discontinuity_sequence_counts_tags_that_slid_out() {
        let mut r = Rendition::default();
        for d in [false, true, false, false, true, false] {
            r.push(seg(10, 2000, d));
        }
        assert_eq!(r.discontinuity_sequence(6), 0);
        assert_eq!(r.discontinuity_sequence(5), 0);
        assert_eq!(r.discontinuity_sequence(4), 1);
        r.prune(3);
        assert_eq!(r.discontinuity_sequence(3), 1);
        assert_eq!(r.discontinuity_sequence(1), 2);
        r.prune(1);
        assert_eq!(r.discontinuity_sequence(1), 2);
    }

    #[test]
    fn drop_behind_never_touches_the_window() {
        let mut r = Rendition::default();
        for _ in 0..4 {
            r.push(seg(10, 2000, false));
        }
        assert_eq!(r.drop_behind(3), 10);
        assert_eq!(r.drop_behind(3), 0);
        assert_eq!(r.window(3).count(), 3);
    }

    #[test]
    fn bandwidth_and_longest() {
        let mut r = Rendition::default();
        assert_eq!(r.average_bandwidth(), None);
        r.push(seg(250_000, 2000, false)); // 1 Mbit/s
        r.push(seg(125_000, 2000, false)); // 0.5 Mbit/s
        r.push(seg(50_000, 40, false)); // a tail too short to count as peak
        r.push(seg(10, 2001, false));
        assert_eq!(r.peak_bandwidth(), 1_000_000);
        assert_eq!(r.longest(), Duration::from_millis(2001));
        let average = r.average_bandwidth().unwrap();
        assert!(average.abs_diff(562_834) <= 1, "{average}"); // 425_010 bytes over 6.041 s
    }

    #[test]
    fn millis_rounds_to_nearest() {
        assert_eq!(millis(Duration::from_micros(2_000_499)), 2000);
        assert_eq!(millis(Duration::from_micros(2_000_500)), 2001);
    }
}
