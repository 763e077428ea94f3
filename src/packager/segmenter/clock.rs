//! The timing of the stream the segmenter cuts on: its PES reduced to what the
//! cutting rules need (`Unit`), the open segment's times, and the clock that
//! unwraps timestamps past 2^33 and notices jumps (ISO/IEC 13818-1 §2.4.3.7).

use super::MAX_FORWARD_JUMP;
use crate::packager::ts::{Pid, Timestamp};

/// The stream whose PES decide cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Timing {
    pub(super) pid: Pid,
    pub(super) video: bool,
}

/// A timing PES reduced to what the cutting rule needs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Unit {
    /// Where its first packet sits in `Cutter::buf`.
    pub(super) offset: usize,
    /// DTS, or PTS, unwrapped.
    pub(super) time: u64,
    pub(super) pts: u64,
    pub(super) keyframe: bool,
    pub(super) jumped: bool,
}

#[derive(Debug)]
pub(super) struct OpenSegment {
    pub(super) start_pts: u64,
    pub(super) start_time: u64,
    pub(super) max_pts: u64,
    pub(super) keyframe_start: bool,
    pub(super) discontinuity: bool,
}

impl OpenSegment {
    /// Last PTS + one frame - first PTS: the length when no next segment
    /// start is known.
    pub(super) fn estimated_length(&self, frame_ticks: Option<u64>) -> u64 {
        (self.max_pts + frame_ticks.unwrap_or(0)).saturating_sub(self.start_pts)
    }
}

/// Unwraps the timing stream's clock and notices jumps.
#[derive(Debug, Default)]
pub(super) struct Clock {
    pub(super) last: Option<u64>,
    /// The last positive step: one frame (video) or one PES (audio).
    pub(super) frame_ticks: Option<u64>,
}

impl Clock {
    /// Returns the unwrapped time and whether it jumped.
    pub(super) fn advance(&mut self, ts: Timestamp) -> (u64, bool) {
        let Some(prev) = self.last else {
            self.last = Some(ts.get());
            return (ts.get(), false);
        };
        let t = ts.unwrap_near(prev);
        let jumped = t < prev || t - prev > MAX_FORWARD_JUMP;
        if !jumped && t > prev {
            self.frame_ticks = Some(t - prev);
        }
        self.last = Some(t);
        (t, jumped)
    }
}
