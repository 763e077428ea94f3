//! Cutting an MPEG-TS stream into HLS media segments: bytes in (any
//! chunking), whole-packet segments out, each starting with the last PAT and
//! PMT seen and then a keyframe, durations from PTS. Owns the cutting rule and
//! the stream's media info; not playlists, not I/O.
//!
//! The rule, on the timing stream (the PMT's first H.264/H.265 stream, else its
//! first AAC stream): a segment is cut just before the packet that starts a
//! keyframe PES once the segment would last at least the target duration
//! (that keyframe's PTS minus the segment's first PTS, which is the reported
//! duration), so durations are >= target and < target + one GOP. Audio PES
//! all count as keyframes, so audio-only streams cut at the first PES at or
//! past the target. Without keyframes the segment keeps growing, up to 10x the
//! target by DTS: then it is cut at the next PES anyway with `keyframe_start =
//! false`, which bounds memory. DTS (PTS when absent) is the stream's clock:
//! it is unwrapped past 2^33, and a jump of it (back, or forward by more than
//! 10 s) cuts at once and marks the next segment as a discontinuity. Before
//! the first keyframe, packets are dropped.
//!
//! Whether a PES is a keyframe is known once it is complete (for video, when
//! the next one starts), so packets are buffered and the cut is placed
//! afterwards at the offset where that PES started.
//!
//! With a part target (LL-HLS), the open segment is also cut into partial
//! segments at PES starts (`parts.rs` has the rule); each part is handed out
//! as soon as it is cut, before its segment is complete, and the segment is
//! its parts joined.

use crate::packager::codec::{AdtsHeader, VideoParams};
use crate::packager::ts::{
    DemuxEvent, Packet, Pes, Pmt, TableRepeater, Timestamp, TsReader, TsStats, PACKET_SIZE,
};
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Duration;

mod clock;
mod parts;
use clock::{Clock, OpenSegment, Timing, Unit};
pub use parts::Part;
use parts::{ticks_to_duration, PartCutter};

/// A jump forward larger than this is a source restart, not a gap.
const MAX_FORWARD_JUMP: u64 = 10 * Timestamp::HZ;
/// Without keyframes, a segment is cut anyway at this many target durations.
const FORCE_CUT_FACTOR: u64 = 10;
/// A segment buffer past this size is closed whatever its timestamps say
/// (a timing stream that stopped while other PIDs go on).
const MAX_SEGMENT_BYTES: usize = 256 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmenterConfig {
    /// Minimum segment duration; segments end at the first keyframe after it.
    /// Default 2 s.
    pub target_duration: Duration,
    /// Longest partial segment (LL-HLS `PART-TARGET`); `None` (the default)
    /// cuts no parts.
    pub part_target: Option<Duration>,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self {
            target_duration: Duration::from_secs(2),
            part_target: None,
        }
    }
}

/// What the segmenter hands out, in stream order: with a part target, each
/// part of a segment, then the segment itself right after its last part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cut {
    Part(Part),
    Segment(Segment),
}

impl Cut {
    pub fn into_segment(self) -> Option<Segment> {
        match self {
            Cut::Segment(s) => Some(s),
            Cut::Part(_) => None,
        }
    }
}

/// One media segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Whole TS packets: the last PAT and PMT seen, then the stream from the
    /// packet starting the first PES of the segment.
    pub data: Bytes,
    /// Next segment's first PTS minus this one's; for the last segment before
    /// the end or a discontinuity: last PTS + one frame - first PTS.
    pub duration: Duration,
    /// PTS of the first PES, 90 kHz, unwrapped past 2^33 (monotonic except
    /// after a discontinuity, where the source's timestamps went back).
    pub start_pts: u64,
    /// Timestamps jumped (back, or forward by more than 10 s) before this
    /// segment: EXT-X-DISCONTINUITY goes before it.
    pub discontinuity: bool,
    /// The segment starts with a keyframe (false only for forced cuts).
    pub keyframe_start: bool,
    /// With a part target: its parts, whose `data` are slices of `data`.
    pub parts: Vec<Part>,
}

/// What the playlist needs to describe the stream; complete once a keyframe
/// and an audio PES have been read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MediaInfo {
    /// RFC 6381 codec strings, video first; only the ones known so far.
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
    /// From the last DTS (or PTS) step of the video stream.
    pub frame_rate: Option<f64>,
    pub has_video: bool,
    pub has_audio: bool,
}

/// A streaming segmenter; see the module docs for the cutting rule.
#[derive(Debug)]
pub struct Segmenter {
    reader: TsReader,
    cutter: Cutter,
}

impl Segmenter {
    pub fn new(cfg: SegmenterConfig) -> Self {
        Self {
            reader: TsReader::new(),
            cutter: Cutter::new(cfg),
        }
    }

    /// The GOP length the stream is known to have: parts of the first GOP are
    /// cut on its grid too, before a GOP has been measured (a looped file,
    /// read a second time, knows it from the first).
    pub fn expect_gop(&mut self, gop: Duration) {
        self.cutter.parts.expect_gop(duration_to_ticks(gop));
    }

    /// Reads `data` (any chunking, not aligned to packets) and returns the
    /// segments it completed (with their parts, if parts are cut).
    pub fn push(&mut self, data: &[u8]) -> Vec<Segment> {
        let cuts = self.push_cuts(data);
        cuts.into_iter().filter_map(Cut::into_segment).collect()
    }

    /// Like `push`, but also hands out each part as soon as it is cut.
    pub fn push_cuts(&mut self, data: &[u8]) -> Vec<Cut> {
        let Self { reader, cutter } = self;
        reader.push(data, |raw, pkt, events| cutter.packet(raw, pkt, events));
        std::mem::take(&mut cutter.out)
    }

    /// End of input: the last segment, if one is open. The last PES never
    /// causes a cut here. The segmenter can then read a following stream,
    /// whose first segment is marked as a discontinuity if its timestamps jump.
    pub fn finish(&mut self) -> Option<Segment> {
        let cuts = self.finish_cuts();
        cuts.into_iter().filter_map(Cut::into_segment).last()
    }

    /// Like `finish`, with the parts cut on the way.
    pub fn finish_cuts(&mut self) -> Vec<Cut> {
        let Self { reader, cutter } = self;
        cutter.at_end = true;
        let mut last = reader.finish(|raw, pkt, events| cutter.packet(raw, pkt, events));
        cutter.events(&mut last);
        cutter.close();
        cutter.at_end = false;
        std::mem::take(&mut cutter.out)
    }

    pub fn stats(&self) -> &TsStats {
        self.reader.stats()
    }

    pub fn media_info(&self) -> MediaInfo {
        let c = &self.cutter;
        let video = c.video_params.as_ref();
        MediaInfo {
            codecs: video
                .map(|v| v.codec.clone())
                .into_iter()
                .chain(c.audio.map(|a| a.codec_string()))
                .collect(),
            resolution: video.and_then(|v| v.resolution),
            frame_rate: c
                .timing
                .filter(|t| t.video)
                .and(c.clock.frame_ticks)
                .map(|t| Timestamp::HZ as f64 / t as f64),
            has_video: c.pmt.as_ref().is_some_and(|p| p.video().is_some()),
            has_audio: c.pmt.as_ref().is_some_and(|p| p.audio().is_some()),
        }
    }
}

#[derive(Debug, Default)]
struct Cutter {
    /// Target duration in 90 kHz ticks.
    target: u64,
    timing: Option<Timing>,
    pmt: Option<Pmt>,
    tables: TableRepeater,
    /// Packets of the open segment (PAT/PMT first), or of the lead-in.
    buf: Vec<u8>,
    /// (packet index, offset in `buf`) of timing PES not yet complete.
    starts: VecDeque<(u64, usize)>,
    seg: Option<OpenSegment>,
    clock: Clock,
    lead_in_since: Option<u64>,
    pending_discontinuity: bool,
    emitted_any: bool,
    /// Inside `finish`: the last PES never cuts.
    at_end: bool,
    packets_seen: u64,
    video_params: Option<VideoParams>,
    audio: Option<AdtsHeader>,
    parts: PartCutter,
    out: Vec<Cut>,
}

impl Cutter {
    fn new(cfg: SegmenterConfig) -> Self {
        Self {
            target: duration_to_ticks(cfg.target_duration),
            parts: PartCutter::new(cfg.part_target.map(duration_to_ticks)),
            ..Self::default()
        }
    }

    fn video(&self) -> bool {
        self.timing.is_some_and(|t| t.video)
    }

    fn packet(&mut self, raw: &[u8; PACKET_SIZE], pkt: &Packet<'_>, events: &mut Vec<DemuxEvent>) {
        // Counted like the reader counts `Pes::start_packet`.
        let index = self.packets_seen;
        self.packets_seen += 1;
        self.tables.packet(raw, pkt);
        if pkt.payload_unit_start && self.timing.is_some_and(|t| t.pid == pkt.pid) {
            self.starts.push_back((index, self.buf.len()));
        }
        if self.seg.is_some() || !self.starts.is_empty() {
            self.buf.extend_from_slice(raw);
        }
        self.events(events);
        if self.buf.len() > MAX_SEGMENT_BYTES && !self.at_end {
            self.close();
            self.pending_discontinuity = self.emitted_any;
        }
    }

    fn events(&mut self, events: &mut Vec<DemuxEvent>) {
        for event in events.drain(..) {
            self.tables.event(&event);
            match event {
                DemuxEvent::Pat(_) => {}
                DemuxEvent::Pmt(pmt) => {
                    self.set_timing(&pmt);
                    self.pmt = Some(pmt);
                }
                DemuxEvent::Pes(pes) => self.pes(pes),
            }
        }
    }

    fn set_timing(&mut self, pmt: &Pmt) {
        let video = pmt.video().map(|s| Timing {
            pid: s.pid,
            video: true,
        });
        let timing = video.or(pmt.audio().map(|s| Timing {
            pid: s.pid,
            video: false,
        }));
        if timing != self.timing {
            self.timing = timing;
            self.starts.clear();
        }
    }

    fn pes(&mut self, pes: Pes) {
        self.probe(&pes);
        if self.timing.map(|t| t.pid) != Some(pes.pid) {
            return;
        }
        while self.starts.front().is_some_and(|s| s.0 < pes.start_packet) {
            self.starts.pop_front();
        }
        let offset = match self.starts.front() {
            Some(&(index, offset)) if index == pes.start_packet => offset,
            _ => return,
        };
        self.starts.pop_front();
        // Without a PTS a PES cannot place a cut; it stays inside the segment.
        let Some(pts) = pes.pts else { return };
        let (time, jumped) = self.clock.advance(pes.dts.unwrap_or(pts));
        let pts = pts.unwrap_near(time);
        self.decide(Unit {
            offset,
            time,
            pts,
            keyframe: pes.keyframe,
            jumped,
        });
    }

    /// Reads codec parameters: SPS at video keyframes, ADTS from audio.
    fn probe(&mut self, pes: &Pes) {
        let Some(pmt) = &self.pmt else { return };
        if pmt.video().is_some_and(|v| v.pid == pes.pid) && pes.keyframe {
            if let Some(params) = pes
                .stream_type
                .video_codec()
                .and_then(|c| c.params(pes.payload()))
            {
                self.video_params = Some(params);
            }
        } else if pmt.audio().is_some_and(|a| a.pid == pes.pid) {
            if let Ok(header) = AdtsHeader::parse(pes.payload()) {
                self.audio = Some(header);
            }
        }
    }

    fn decide(&mut self, unit: Unit) {
        let force = self.target.saturating_mul(FORCE_CUT_FACTOR);
        let Some(seg) = &mut self.seg else {
            if unit.jumped {
                self.lead_in_since = None;
                self.pending_discontinuity |= self.emitted_any;
            }
            let since = *self.lead_in_since.get_or_insert(unit.time);
            if unit.keyframe || unit.time.saturating_sub(since) >= force {
                self.split(unit.offset, true);
                self.open(unit);
            } else {
                self.drop_before(unit.offset);
            }
            return;
        };
        // The target is checked against the duration the segment would have
        // (PTS to PTS); DTS offsets can differ from one keyframe to the next.
        let long_enough = unit.pts.saturating_sub(seg.start_pts) >= self.target;
        let overdue = unit.time.saturating_sub(seg.start_time) >= force;
        let cut = unit.jumped || (unit.keyframe && long_enough) || overdue;
        if self.at_end || !cut {
            if !unit.jumped {
                seg.max_pts = seg.max_pts.max(unit.pts);
            }
            if !self.at_end {
                self.maybe_cut_part(&unit);
            }
            return;
        }
        let ticks = if unit.jumped {
            seg.estimated_length(self.clock.frame_ticks)
        } else {
            unit.pts.saturating_sub(seg.start_pts)
        };
        let data = self.split(unit.offset, true);
        self.emit(data, ticks);
        self.open(unit);
    }

    /// Ends the open part before `unit` when the part rule says so.
    fn maybe_cut_part(&mut self, unit: &Unit) {
        let (video, step) = (self.video(), self.clock.frame_ticks);
        let Some(seg) = &self.seg else { return };
        if !self.parts.ends_before(unit, video, step) {
            return;
        }
        let discontinuity = seg.discontinuity;
        let data = self.split(unit.offset, unit.keyframe);
        let part = self.parts.cut(data, unit, video, discontinuity);
        self.out.push(Cut::Part(part));
    }

    fn open(&mut self, unit: Unit) {
        let pending = std::mem::take(&mut self.pending_discontinuity);
        let video = self.video();
        self.parts.open(&unit, video);
        self.seg = Some(OpenSegment {
            start_pts: unit.pts,
            start_time: unit.time,
            max_pts: unit.pts,
            keyframe_start: unit.keyframe,
            discontinuity: unit.jumped || pending,
        });
        self.lead_in_since = None;
    }

    /// Emits the open segment as it stands (end of input, or too large).
    fn close(&mut self) {
        if let Some(seg) = &self.seg {
            let ticks = seg.estimated_length(self.clock.frame_ticks);
            let data = std::mem::take(&mut self.buf);
            self.emit(data, ticks);
        }
        self.seg = None;
        self.buf.clear();
        self.starts.clear();
        self.lead_in_since = None;
    }

    /// Emits the open segment, whose last part (or only piece) is `data` and
    /// which lasts `ticks`.
    fn emit(&mut self, data: Vec<u8>, ticks: u64) {
        let Some(seg) = self.seg.take() else { return };
        let last = self.parts.last(data, ticks, seg.discontinuity);
        if self.parts.enabled() {
            self.out.push(Cut::Part(last));
        }
        let (data, parts) = self.parts.take_segment();
        self.out.push(Cut::Segment(Segment {
            data,
            duration: ticks_to_duration(ticks),
            start_pts: seg.start_pts,
            discontinuity: seg.discontinuity,
            keyframe_start: seg.keyframe_start,
            parts,
        }));
        self.emitted_any = true;
    }

    /// Splits `buf` at `offset`: returns the head; `buf` becomes the tail,
    /// after the PAT/PMT packets when `tables` (a decoder may join there).
    fn split(&mut self, offset: usize, tables: bool) -> Vec<u8> {
        let added = if tables { self.tables.len() } else { 0 };
        let mut next = Vec::with_capacity(self.buf.capacity().max(added + self.buf.len() - offset));
        if tables {
            self.tables.write_to(&mut next);
        }
        next.extend_from_slice(&self.buf[offset..]);
        self.rebase(offset, added);
        let mut head = std::mem::replace(&mut self.buf, next);
        head.truncate(offset);
        head
    }

    /// Lead-in: packets before a non-keyframe PES can never be used.
    fn drop_before(&mut self, offset: usize) {
        self.buf.drain(..offset);
        self.rebase(offset, 0);
    }

    fn rebase(&mut self, removed: usize, added: usize) {
        self.starts.retain(|s| s.1 >= removed);
        for s in &mut self.starts {
            s.1 = s.1 - removed + added;
        }
    }
}

fn duration_to_ticks(d: Duration) -> u64 {
    u64::try_from(d.as_nanos() * 9 / 100_000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
