//! The looping file source (the demo stream) and the store's housekeeping,
//! run together as one Pingora background service.
//!
//! Each looped rendition's TS file is read and segmented once; its segments
//! are then published forever, each when it would have been complete in real
//! time. From one loop to the next, timestamps are shifted by the loop's
//! length (`ts::TimestampShifter`, with continuity counters carried on by
//! `ts::ContinuityStep`) so PTS keeps increasing, the media sequence
//! continues, and the first segment of each new loop carries a DISCONTINUITY
//! (RFC 8216 §4.3.2.3: the encoding parameters may differ at the seam).
//!
//! The renditions of one stream share one clock and one generation. The clock
//! starts one playlist window in the past, so a full window is published at
//! once and a player can start at the live edge right away.
//!
//! With LL-HLS each segment's parts are published one by one, each when it
//! would have ended in real time, and the segment right after its last part.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::packager::StreamConfig;
use crate::packager::segmenter::{Segment, Segmenter, SegmenterConfig};
use crate::packager::service::Packager;
use crate::packager::store::{InputHandle, NewPart, NewSegment, RenditionInfo, Store};
use crate::packager::ts::{ContinuityStep, DemuxEvent, TimestampShifter, TsReader};

/// How often ended generations past their retention are looked for.
const EXPIRE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} gave no segment (not MPEG-TS, or no keyframe)")]
    NoSegment { path: PathBuf },
}

/// The background service: every looping source, and `Store::expire`.
pub struct Sources {
    packager: Packager,
}

impl Sources {
    pub fn new(packager: Packager) -> Self {
        Sources { packager }
    }
}

#[async_trait]
impl BackgroundService for Sources {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut loops = JoinSet::new();
        for stream in self
            .packager
            .config()
            .streams
            .iter()
            .filter(|s| !s.loops.is_empty())
        {
            loops.spawn(run_stream(self.packager.clone(), stream.clone()));
        }
        let mut tick = tokio::time::interval(EXPIRE_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tick.tick() => self.packager.store().expire(SystemTime::now()),
            }
        }
        loops.abort_all();
    }
}

/// A TS file cut into segments, ready to loop.
pub struct LoopFile {
    pub segments: Vec<Segment>,
    pub info: RenditionInfo,
    /// Sum of the segment durations: one loop.
    pub period: Duration,
    /// TS errors found while reading the file.
    pub errors: u64,
    /// How each PID's continuity counter moves per loop, so that a loop
    /// follows the previous one without a counter jump.
    pub continuity: ContinuityStep,
}

impl LoopFile {
    /// Reads and segments `path` (blocking I/O: call from a blocking thread).
    pub fn load(path: &Path, cfg: SegmenterConfig) -> Result<LoopFile, LoopError> {
        let data = std::fs::read(path).map_err(|source| LoopError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut segmenter = Segmenter::new(cfg);
        let mut segments = segmenter.push(&data);
        segments.extend(segmenter.finish());
        // Parts of the first GOP are cut on the grid of the later ones (see
        // `segmenter`), which a second reading knows from the first.
        if let Some(gop) = first_gop(&segments) {
            segmenter = Segmenter::new(cfg);
            segmenter.expect_gop(gop);
            segments = segmenter.push(&data);
            segments.extend(segmenter.finish());
        }
        if segments.is_empty() {
            return Err(LoopError::NoSegment {
                path: path.to_path_buf(),
            });
        }
        let stats = segmenter.stats();
        // The loop shifts every stream by one period, so the period must cover
        // the longest stream (audio often runs a frame past the last video
        // frame): otherwise a player would see an audio DTS go backwards at the
        // loop point.
        let by_segments: Duration = segments.iter().map(|s| s.duration).sum();
        let by_timestamps =
            Duration::from_nanos(timestamp_span_90k(&data).saturating_mul(1_000_000_000 / 90_000));
        let continuity = ContinuityStep::measure(segments.iter().map(|s| s.data.as_ref()));
        Ok(LoopFile {
            continuity,
            period: by_segments.max(by_timestamps),
            info: RenditionInfo::from(&segmenter.media_info()),
            errors: stats.continuity_errors + stats.resyncs,
            segments,
        })
    }

    /// When the `n`-th segment (1-based) of the looped stream ends, counted
    /// from the start of the first loop.
    fn end_of_segment(&self, n: usize) -> Duration {
        let per_loop = self.segments.len().max(1);
        let (loops, rest) = ((n / per_loop) as u32, n % per_loop);
        self.period.saturating_mul(loops)
            + self
                .segments
                .iter()
                .take(rest)
                .map(|s| s.duration)
                .sum::<Duration>()
    }

    /// The loop length in 90 kHz ticks: the timestamp shift of each loop.
    fn period_90k(&self) -> u64 {
        u64::try_from(self.period.as_nanos() * 90_000 / 1_000_000_000).unwrap_or(u64::MAX)
    }
}

/// The time from the first independent part to the next: one GOP (with parts only).
fn first_gop(segments: &[Segment]) -> Option<Duration> {
    let mut at = Duration::ZERO;
    let mut starts = Vec::new();
    for part in segments.iter().flat_map(|s| s.parts.iter()) {
        if part.independent {
            starts.push(at);
            if starts.len() == 2 {
                return Some(starts[1] - starts[0]);
            }
        }
        at += part.duration;
    }
    None
}

/// How far the file's timestamps reach, over every PES of every stream: from
/// the earliest DTS/PTS to the latest PTS plus one 25 fps frame (the last
/// access unit's own duration, which no timestamp states).
fn timestamp_span_90k(data: &[u8]) -> u64 {
    const LAST_FRAME: u64 = 90_000 / 25;
    let (mut first, mut last) = (u64::MAX, 0u64);
    let mut note = |events: &mut Vec<DemuxEvent>| {
        for event in events.drain(..) {
            if let DemuxEvent::Pes(pes) = event {
                for t in [pes.pts, pes.dts].into_iter().flatten() {
                    first = first.min(t.get());
                    last = last.max(t.get());
                }
            }
        }
    };
    let mut reader = TsReader::new();
    reader.push(data, |_, _, events| note(events));
    let mut rest = reader.finish(|_, _, events| note(events));
    note(&mut rest);
    if first > last {
        return 0;
    }
    last - first + LAST_FRAME
}

/// The shared start of a stream's loops: a monotonic instant for pacing and
/// the wall clock of the same moment for PROGRAM-DATE-TIME.
#[derive(Debug, Clone, Copy)]
struct Epoch {
    at: Instant,
    wall: SystemTime,
}

async fn run_stream(packager: Packager, stream: StreamConfig) {
    let target = packager.config().target_duration;
    let mut files = Vec::new();
    for l in &stream.loops {
        let path = l.file.clone();
        let cfg = packager.segmenter_config();
        match tokio::task::spawn_blocking(move || LoopFile::load(&path, cfg)).await {
            Ok(Ok(file)) => files.push((l.rendition.clone(), file)),
            Ok(Err(e)) => {
                tracing::error!(stream = %stream.name, rendition = %l.rendition, error = %e, "packager: loop source not started")
            }
            Err(e) => {
                tracing::error!(stream = %stream.name, rendition = %l.rendition, error = %e, "packager: loop source failed")
            }
        }
    }
    let store = packager.store();
    let now = SystemTime::now();
    // every rendition joins before any publishes: one generation for the stream
    let inputs: Vec<InputHandle> = files
        .iter()
        .map(|(rendition, _)| store.open(&stream.name, rendition, now))
        .collect();
    // start as if the loops had run long enough to fill a live window, so that
    // players can begin at the live edge at once
    let window = store.limits().window;
    let head_start = files
        .iter()
        .map(|(_, f)| f.end_of_segment(window))
        .max()
        .unwrap_or_else(|| target.saturating_mul(u32::try_from(window).unwrap_or(u32::MAX)));
    let epoch = Epoch {
        at: Instant::now()
            .checked_sub(head_start)
            .unwrap_or_else(Instant::now),
        wall: now.checked_sub(head_start).unwrap_or(now),
    };
    let mut players = JoinSet::new();
    for (input, (_, file)) in inputs.into_iter().zip(files) {
        store.describe(&input, file.info.clone());
        store.count_ingest(&input.stream, 0, file.errors);
        tracing::info!(stream = %input.stream, rendition = %input.rendition, generation = %input.generation,
            segments = file.segments.len(), period = ?file.period, "packager: loop source started");
        players.spawn(play(packager.clone(), input, file, epoch));
    }
    while players.join_next().await.is_some() {}
}

/// Publishes `file`'s segments forever, each at its due time.
async fn play(packager: Packager, input: InputHandle, file: LoopFile, epoch: Epoch) {
    let period_90k = file.period_90k();
    for cycle in 0u64.. {
        let shifter = TimestampShifter::new(cycle.wrapping_mul(period_90k));
        let mut begins = file
            .period
            .saturating_mul(u32::try_from(cycle).unwrap_or(u32::MAX));
        for (i, s) in file.segments.iter().enumerate() {
            let ends = begins + s.duration;
            let data = if cycle == 0 {
                s.data.clone()
            } else {
                shifted(&s.data, &shifter, &file.continuity, cycle)
            };
            let segment = NewSegment {
                data,
                duration: s.duration,
                program_date_time: epoch.wall + begins,
                discontinuity: s.discontinuity || (cycle > 0 && i == 0),
            };
            publish_parts(packager.store(), &input, s, &segment, epoch.at + begins).await;
            tokio::time::sleep_until(epoch.at + ends).await;
            publish(packager.store(), &input, segment);
            begins = ends;
        }
    }
}

/// A segment of loop `cycle`: timestamps moved on by whole periods, and
/// continuity counters following the previous loop's.
fn shifted(
    data: &Bytes,
    shifter: &TimestampShifter,
    continuity: &ContinuityStep,
    cycle: u64,
) -> Bytes {
    let mut copy = data.to_vec();
    shifter.shift_packets(&mut copy);
    continuity.apply(&mut copy, cycle);
    Bytes::from(copy)
}

/// Publishes the parts of `cut` (slices of `segment.data`, which may be the
/// shifted copy) each when it would have ended, the segment starting at `begins`.
async fn publish_parts(
    store: &Store,
    input: &InputHandle,
    cut: &Segment,
    segment: &NewSegment,
    begins: Instant,
) {
    let (mut offset, mut ends) = (0, begins);
    for part in &cut.parts {
        let len = part.data.len();
        ends += part.duration;
        tokio::time::sleep_until(ends).await;
        let Some(data) =
            (offset + len <= segment.data.len()).then(|| segment.data.slice(offset..offset + len))
        else {
            return;
        };
        offset += len;
        let part = NewPart {
            data,
            duration: part.duration,
            independent: part.independent,
            discontinuity: segment.discontinuity,
            program_date_time: segment.program_date_time,
            published_at: SystemTime::now(),
        };
        if let Err(e) = store.publish_part(input, part) {
            tracing::debug!(stream = %input.stream, rendition = %input.rendition, error = %e, "packager: loop part not published");
        }
    }
}

fn publish(store: &Store, input: &InputHandle, segment: NewSegment) {
    let len = segment.data.len() as u64;
    match store.publish(input, segment) {
        Ok(_) => store.count_ingest(&input.stream, len, 0),
        Err(e) => {
            tracing::warn!(stream = %input.stream, rendition = %input.rendition, error = %e, "packager: loop segment not published")
        }
    }
}
