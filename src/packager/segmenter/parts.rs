//! Partial segments (LL-HLS, rfc8216bis §4.4.4.9): where the open segment is cut into
//! parts, and the parts cut so far. The segmenter calls it at every timing PES; what a
//! part's bytes are is the segmenter's business.
//!
//! The rule, in 90 kHz ticks of DTS: a part ends before a PES when
//! - the PES is a video keyframe (so a player can start at that part: `INDEPENDENT=YES`);
//! - or the part would last more than the part target with it (§4.4.4.9: a part lasts at
//!   most `PART-TARGET`);
//! - or, once a whole GOP has been seen, the PES is nearest to the next of the GOP's even
//!   cut points: a GOP is cut into the fewest parts of at most the target, of equal length
//!   to within a frame. A 1 s GOP at 25 fps with a 500 ms target gives parts of 8, 9 and
//!   8 frames, each GOP starting a part, rather than 12, 12 and 1 frames.
//!
//! A segment's last part ends with the segment, its duration the segment's (PTS) minus the
//! parts before it, so the parts of a segment add up to it exactly.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::Unit;

/// One partial segment of the open segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Whole TS packets. An independent part starts with the last PAT and PMT, then the
    /// keyframe; the parts of a segment, concatenated, are the segment.
    pub data: Bytes,
    pub duration: Duration,
    /// Starts with a keyframe (every part of an audio-only stream does).
    pub independent: bool,
    /// Its part index within its segment, 0 first.
    pub index: usize,
    /// The segment it belongs to follows a discontinuity (`Segment::discontinuity`).
    pub discontinuity: bool,
}

/// The parts of the open segment and the GOP grid they are cut on.
#[derive(Debug, Default)]
pub(super) struct PartCutter {
    /// The part target in ticks; `None` cuts no parts.
    target: Option<u64>,
    /// Parts of the open segment closed so far.
    closed: Vec<Part>,
    closed_ticks: u64,
    /// The open part: DTS of its first PES, and whether that PES is a keyframe.
    start: u64,
    independent: bool,
    /// DTS of the last video keyframe, the length of the GOP before it, and how many parts
    /// were cut since it.
    gop_start: Option<u64>,
    last_gop: Option<u64>,
    parts_in_gop: u64,
}

impl PartCutter {
    pub(super) fn new(target: Option<u64>) -> Self {
        PartCutter {
            target,
            ..PartCutter::default()
        }
    }

    /// Cuts on the grid of GOPs of `ticks` until a GOP is measured.
    pub(super) fn expect_gop(&mut self, ticks: u64) {
        self.last_gop = self.last_gop.or(Some(ticks).filter(|t| *t > 0));
    }

    pub(super) fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// A segment opened at `unit`: its first part starts there.
    pub(super) fn open(&mut self, unit: &Unit, video: bool) {
        self.closed.clear();
        self.closed_ticks = 0;
        if unit.jumped {
            // the GOP length is still the best guess; where it started is not
            self.gop_start = None;
        }
        self.start_part(unit, video);
    }

    /// Whether the open part ends before `unit` (see the module docs). `step` is one frame.
    pub(super) fn ends_before(&self, unit: &Unit, video: bool, step: Option<u64>) -> bool {
        let Some(target) = self.target else {
            return false;
        };
        let elapsed = unit.time.saturating_sub(self.start);
        if elapsed == 0 {
            return false;
        }
        if video && unit.keyframe {
            return true;
        }
        let step = step.unwrap_or(0);
        if elapsed + step > target {
            return true;
        }
        match (self.gop_start, self.last_gop) {
            (Some(gop_start), Some(gop)) if video && step > 0 => {
                let longest = (target / step).max(1) * step;
                let count = gop.div_ceil(longest).max(1);
                let next_cut = gop_start + gop * (self.parts_in_gop + 1) / count;
                unit.time + step / 2 >= next_cut
            }
            _ => false,
        }
    }

    /// Closes the open part with `data`, lasting until `unit`, and starts the next one at
    /// `unit`. Returns the closed part.
    pub(super) fn cut(&mut self, data: Vec<u8>, unit: &Unit, video: bool, disc: bool) -> Part {
        let ticks = unit.time.saturating_sub(self.start);
        let part = self.close(data, ticks, disc);
        self.parts_in_gop += 1;
        self.start_part(unit, video);
        part
    }

    /// Closes the segment's last part with `data`; the segment lasts `segment_ticks`.
    /// Returns that part.
    pub(super) fn last(&mut self, data: Vec<u8>, segment_ticks: u64, disc: bool) -> Part {
        let ticks = segment_ticks.saturating_sub(self.closed_ticks);
        self.close(data, ticks, disc)
    }

    /// The segment's data (its parts joined) and its parts as slices of it; only the
    /// data, and no parts, when parts are not cut.
    pub(super) fn take_segment(&mut self) -> (Bytes, Vec<Part>) {
        let mut parts = std::mem::take(&mut self.closed);
        self.closed_ticks = 0;
        if !self.enabled() || parts.len() == 1 {
            let data = parts.first().map(|p| p.data.clone()).unwrap_or_default();
            if !self.enabled() {
                parts.clear();
            }
            return (data, parts);
        }
        let mut joined = BytesMut::with_capacity(parts.iter().map(|p| p.data.len()).sum());
        for p in &parts {
            joined.extend_from_slice(&p.data);
        }
        let joined = joined.freeze();
        let mut at = 0;
        for p in &mut parts {
            let len = p.data.len();
            p.data = joined.slice(at..at + len);
            at += len;
        }
        (joined, parts)
    }

    fn close(&mut self, data: Vec<u8>, ticks: u64, discontinuity: bool) -> Part {
        let part = Part {
            data: Bytes::from(data),
            duration: ticks_to_duration(ticks),
            independent: self.independent,
            index: self.closed.len(),
            discontinuity,
        };
        self.closed_ticks += ticks;
        self.closed.push(part.clone());
        part
    }

    fn start_part(&mut self, unit: &Unit, video: bool) {
        self.start = unit.time;
        self.independent = unit.keyframe;
        if video && unit.keyframe {
            if let Some(g) = self.gop_start {
                self.last_gop = Some(unit.time.saturating_sub(g));
            }
            self.gop_start = Some(unit.time);
            self.parts_in_gop = 0;
        }
    }
}

pub(super) fn ticks_to_duration(ticks: u64) -> Duration {
    let nanos = u128::from(ticks) * 100_000 / 9;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}
