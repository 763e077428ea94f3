//! The packager's playlists, built from the store with the one playlist model
//! of `crate::hls::playlist` (RFC 8216):
//!
//! - a media playlist per rendition: the live window, `seg_{msn}.ts` URIs
//!   relative to the playlist, `#EXT-X-ENDLIST` once the input stopped;
//! - the multivariant playlist of a stream: every rendition of the current
//!   generation, URIs `{generation}/{rendition}/index.m3u8` relative to
//!   `/hls/{stream}/master.m3u8`;
//! - with LL-HLS, the media playlist with parts, server control, preload hint,
//!   rendition reports and delta updates (`low_latency.rs`).
//!
//! No locking and no I/O: the caller lends the store's data.

mod low_latency;

pub use low_latency::{
    low_latency_media, part_uri, LowLatencyView, PART_HOLD_BACK_PARTS, SKIP_BOUNDARY_TARGETS,
};

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::hls::{MediaPlaylist, MediaSegment, MultivariantPlaylist, VariantStream};
use crate::packager::store::{millis, GenerationId, Rendition};

/// `#EXT-X-VERSION`: nothing here needs more than version 3 (RFC 8216 §7:
/// decimal `#EXTINF` durations).
const VERSION: u8 = 3;

/// The media playlist of `rendition`, listing its newest `window` segments.
///
/// `#EXT-X-TARGETDURATION` is the longest `#EXTINF` rounded up, but over every
/// segment the rendition has had, not only the window: RFC 8216 §6.2.1 allows
/// no change to it, and a window sliding past a long segment would lower it.
/// `floor` (the configured target) is the value before any segment.
pub fn media(rendition: &Rendition, window: usize, floor: Duration) -> MediaPlaylist {
    MediaPlaylist {
        version: Some(VERSION),
        target_duration: target_duration(rendition, floor),
        media_sequence: rendition.media_sequence(window),
        discontinuity_sequence: rendition.discontinuity_sequence(window),
        segments: rendition
            .window(window)
            .map(|s| MediaSegment {
                uri: segment_uri(s.msn),
                duration: seconds(s.duration),
                discontinuity: s.discontinuity,
                program_date_time: Some(rfc3339_millis(s.program_date_time)),
                ..MediaSegment::default()
            })
            .collect(),
        end_list: rendition.is_ended(),
        ..MediaPlaylist::default()
    }
}

/// `#EXT-X-TARGETDURATION` of `rendition`'s playlist, in seconds (see [`media`]).
pub fn target_duration(rendition: &Rendition, floor: Duration) -> u64 {
    let longest_ms = millis(rendition.longest()).max(millis(floor));
    longest_ms.div_ceil(1000).max(1)
}

/// The URI of segment `msn` relative to its media playlist.
pub fn segment_uri(msn: u64) -> String {
    format!("seg_{msn}.ts")
}

/// The multivariant playlist of a generation, lowest bandwidth first; `None`
/// while a rendition has no segment yet (a player could not start it).
pub fn multivariant(
    generation: &GenerationId,
    renditions: &BTreeMap<String, Rendition>,
) -> Option<MultivariantPlaylist> {
    if renditions.is_empty() || renditions.values().any(Rendition::is_empty) {
        return None;
    }
    let mut variants: Vec<VariantStream> = renditions
        .iter()
        .map(|(name, r)| {
            let info = r.info();
            VariantStream {
                uri: format!("{generation}/{name}/index.m3u8"),
                bandwidth: r.peak_bandwidth().max(r.average_bandwidth().unwrap_or(0)),
                average_bandwidth: r.average_bandwidth(),
                codecs: (!info.codecs.is_empty()).then(|| info.codecs.join(",")),
                resolution: info.resolution,
                frame_rate: info.frame_rate,
            }
        })
        .collect();
    variants.sort_by_key(|v| v.bandwidth);
    Some(MultivariantPlaylist {
        version: Some(VERSION),
        independent_segments: false,
        variants,
    })
}

/// A duration in seconds, to the millisecond, as playlists write it.
pub fn seconds(d: Duration) -> f64 {
    millis(d) as f64 / 1000.0
}

/// `2024-01-02T03:04:05.678Z`: RFC 3339 in UTC with milliseconds, as
/// `#EXT-X-PROGRAM-DATE-TIME` wants it (RFC 8216 §4.3.2.6).
pub fn rfc3339_millis(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `civil_from_days`, for days >= 0).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
