//! The LL-HLS media playlist of a rendition (draft-pantos-hls-rfc8216bis): the playlist of
//! `super::media` with
//!
//! - `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=<6 target durations>,
//!   PART-HOLD-BACK=<3 part targets>` (§4.4.3.8: the least the spec allows for skipping,
//!   and the hold back it recommends) and `#EXT-X-PART-INF:PART-TARGET`;
//! - `#EXT-X-PART` tags (§4.4.4.9) for the segments that start within 3 target durations
//!   of the live edge (parts matter only near it), and for the segment being produced;
//! - `#EXT-X-PRELOAD-HINT` for the next part, while the input runs (§4.4.5.3);
//! - `#EXT-X-RENDITION-REPORT` for every other rendition of the generation (§4.4.5.4);
//! - on `_HLS_skip=YES|v2`, a delta update (§6.2.5.1): the segments that end more than the
//!   Skip Boundary before the end are replaced by `#EXT-X-SKIP`.
//!
//! No locking and no I/O: the caller lends the store's data.

use std::time::Duration;

use super::{media, rfc3339_millis, seconds};
use crate::hls::playlist::{
    HintType, MediaPlaylist, OpenSegment, PartPosition, PartialSegment, PreloadHint,
    RenditionReport, ServerControl, Skip,
};
use crate::packager::store::{millis, Rendition, StoredPart};

/// PART-HOLD-BACK in part targets (rfc8216bis §4.4.3.8: "at least three").
pub const PART_HOLD_BACK_PARTS: u32 = 3;
/// CAN-SKIP-UNTIL in target durations (rfc8216bis §4.4.3.8: "at least six").
pub const SKIP_BOUNDARY_TARGETS: u64 = 6;
/// Parts are listed for the segments starting this many target durations from the end.
const PARTS_LISTED_TARGETS: u64 = 3;
/// `#EXT-X-VERSION` of a delta update (rfc8216bis §7: EXT-X-SKIP needs 9).
const DELTA_VERSION: u8 = 9;

/// What a low-latency media playlist is written with, besides its rendition.
#[derive(Debug, Clone)]
pub struct LowLatencyView<'a> {
    pub window: usize,
    /// The configured target duration (the value before any segment).
    pub floor: Duration,
    pub part_target: Duration,
    /// A delta update was asked for (`_HLS_skip=YES` or `v2`).
    pub delta: bool,
    /// The other renditions of the generation, by name, for rendition reports.
    pub others: Vec<(&'a str, &'a Rendition)>,
}

/// The LL-HLS media playlist of `rendition` (see the module docs).
pub fn low_latency_media(rendition: &Rendition, view: &LowLatencyView<'_>) -> MediaPlaylist {
    let mut playlist = media(rendition, view.window, view.floor);
    let target = playlist.target_duration;
    playlist.server_control = Some(ServerControl {
        can_block_reload: true,
        can_skip_until: Some((target * SKIP_BOUNDARY_TARGETS) as f64),
        part_hold_back: Some(seconds(view.part_target * PART_HOLD_BACK_PARTS)),
        ..ServerControl::default()
    });
    playlist.part_target = Some(seconds(view.part_target));
    list_recent_parts(&mut playlist, rendition, target);
    playlist.open_segment = rendition.open_segment().map(|open| OpenSegment {
        discontinuity: open.discontinuity,
        program_date_time: Some(rfc3339_millis(open.program_date_time)),
        parts: parts(open.parts.iter(), rendition.next_msn()),
    });
    playlist.preload_hints = rendition
        .next_part()
        .map(|at| PreloadHint {
            hint_type: HintType::Part,
            uri: part_uri(at),
            byte_range_start: None,
            byte_range_length: None,
        })
        .into_iter()
        .collect();
    playlist.rendition_reports = view.others.iter().map(|(n, r)| report(n, r)).collect();
    if view.delta {
        skip_old_segments(&mut playlist, target * SKIP_BOUNDARY_TARGETS);
    }
    playlist
}

/// The URI of a partial segment relative to its media playlist: `part_{msn}.{index}.ts`.
pub fn part_uri(at: PartPosition) -> String {
    format!("part_{}.{}.ts", at.msn, at.part)
}

/// Parts for the window's segments that start within `PARTS_LISTED_TARGETS` target
/// durations of the live edge (the end of the last part published).
fn list_recent_parts(playlist: &mut MediaPlaylist, rendition: &Rendition, target: u64) {
    let horizon_ms = target * PARTS_LISTED_TARGETS * 1000;
    let open = rendition.open_segment().map(|o| o.parts.iter());
    let mut from_end_ms: u64 = open.into_iter().flatten().map(|p| millis(p.duration)).sum();
    let first = playlist.media_sequence;
    for (i, segment) in playlist.segments.iter_mut().enumerate().rev() {
        from_end_ms += (segment.duration * 1000.0).round() as u64;
        if from_end_ms > horizon_ms {
            break;
        }
        let msn = first + i as u64;
        if let Some(stored) = rendition.segment(msn) {
            segment.parts = parts(stored.parts.iter(), msn);
        }
    }
}

fn parts<'a>(stored: impl Iterator<Item = &'a StoredPart>, msn: u64) -> Vec<PartialSegment> {
    stored
        .enumerate()
        .map(|(i, p)| PartialSegment {
            uri: part_uri(PartPosition {
                msn,
                part: i as u64,
            }),
            duration: millis(p.duration) as f64 / 1000.0,
            independent: p.independent,
            ..PartialSegment::default()
        })
        .collect()
}

/// `LAST-MSN`/`LAST-PART` of another rendition: its last part, else its last segment.
fn report(name: &str, other: &Rendition) -> RenditionReport {
    let last_segment = other.next_msn().checked_sub(1);
    let last = other.last_part();
    RenditionReport {
        uri: format!("../{name}/index.m3u8"),
        last_msn: last.map(|at| at.msn).or(last_segment),
        last_part: last.map(|at| at.part),
    }
}

/// Replaces the leading segments that end at least `boundary_s` before the end of the
/// playlist with `#EXT-X-SKIP` (rfc8216bis §6.2.5.1); nothing when none does.
fn skip_old_segments(playlist: &mut MediaPlaylist, boundary_s: u64) {
    let durations: Vec<u64> = playlist
        .segments
        .iter()
        .map(|s| (s.duration * 1000.0).round() as u64)
        .collect();
    let total: u64 = durations.iter().sum();
    let mut ended_at = 0;
    let skipped = durations
        .iter()
        .take_while(|d| {
            ended_at += **d;
            total - ended_at >= boundary_s * 1000
        })
        .count();
    if skipped == 0 {
        return;
    }
    playlist.segments.drain(..skipped);
    playlist.skip = Some(Skip {
        skipped_segments: skipped as u64,
        recently_removed_dateranges: None,
    });
    playlist.version = Some(DELTA_VERSION);
}
