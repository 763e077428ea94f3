//! `PlayerReport`: the one JSON report `tests/player/play.mjs` prints, as
//! typed fields a test asserts on, and a readable summary for its failure
//! message (the report's own log tail included). Field names are the JSON's.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// What hls.js in Chromium went through; see tests/player/README.md.
#[derive(Debug, Clone, Deserialize)]
pub struct PlayerReport {
    pub url: String,
    /// e.g. `Chrome/156.0.8078.114`.
    pub browser: Option<String>,
    pub hlsjs_version: Option<String>,
    /// `watched` (ran its seconds), `fatal_error`, `start_timeout`, `ended`
    /// (a VOD stream finished) or `page_crashed`.
    pub end_reason: String,
    /// Whether a video frame was ever presented.
    pub started: bool,
    /// From `hls.loadSource` to the first presented frame.
    pub time_to_first_frame_ms: Option<u64>,
    /// Wall time watched after the first frame.
    pub watched_seconds: f64,
    /// Media time actually played (the `<video>`'s played ranges).
    pub played_seconds: f64,
    pub video_frames: VideoFrames,
    pub decoded_bytes: DecodedBytes,
    pub stalls: Stalls,
    pub seeks: u64,
    /// The `details` of the first fatal error, if any.
    pub fatal: Option<String>,
    /// Every hls.js error, fatal or not, in order.
    pub errors: Vec<HlsjsError>,
    pub latency: Latency,
    pub buffer_ahead_median_s: Option<f64>,
    pub playlists: Vec<PlaylistLoad>,
    pub fragments: Vec<FragmentLoad>,
    pub counts: Counts,
    pub http: NetworkLog,
    pub page_errors: Vec<String>,
    /// The last lines of the page's event log.
    pub log: Vec<String>,
    /// The JSON as printed, for a failure message.
    #[serde(skip)]
    pub raw: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VideoFrames {
    pub decoded: Option<u64>,
    pub dropped: Option<u64>,
}

/// Chromium's decoded byte counters: proof that H.264 and AAC decoded.
#[derive(Debug, Clone, Deserialize)]
pub struct DecodedBytes {
    pub video: Option<u64>,
    pub audio: Option<u64>,
}

/// Stalls after the first frame: `waiting` until `playing` again.
#[derive(Debug, Clone, Deserialize)]
pub struct Stalls {
    pub count: u64,
    pub durations_ms: Vec<u64>,
    pub longest_ms: u64,
    /// Longest time currentTime stood still while playing, sampled every
    /// 250 ms: catches a freeze the element never announced.
    pub longest_freeze_ms: u64,
    /// hls.js `bufferStalledError`s.
    pub buffer_stalled_errors: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HlsjsError {
    pub at_ms: u64,
    pub fatal: bool,
    /// `networkError`, `mediaError`, ... (hls.js ErrorTypes).
    #[serde(rename = "type")]
    pub kind: String,
    /// `manifestLoadError`, `fragLoadError`, ... (hls.js ErrorDetails).
    pub details: String,
    pub response_code: Option<i64>,
    pub url: Option<String>,
    pub reason: Option<String>,
}

/// Sampled each second while live: `hls.latency` / `hls.targetLatency`, and
/// wall clock minus the PROGRAM-DATE-TIME of the frame on screen.
#[derive(Debug, Clone, Deserialize)]
pub struct Latency {
    pub samples: u64,
    pub median_s: Option<f64>,
    pub max_s: Option<f64>,
    pub target_median_s: Option<f64>,
    pub wallclock_median_s: Option<f64>,
    pub wallclock_max_s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PlaylistLoad {
    /// `manifest`, `level`, `audio` or `subtitle`.
    pub kind: String,
    pub level: Option<u64>,
    pub url: Option<String>,
    pub status: Option<u16>,
    pub ms: Option<u64>,
    /// An LL-HLS blocking reload (`_HLS_msn`).
    pub blocking: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FragmentLoad {
    /// `main`, `audio` or `subtitle`.
    #[serde(rename = "type")]
    pub kind: String,
    pub sn: Option<u64>,
    pub level: Option<u64>,
    /// The part index for an LL-HLS partial segment.
    pub part: Option<u64>,
    pub url: String,
    pub status: Option<u16>,
    pub bytes: Option<u64>,
    pub ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Counts {
    pub fragments: u64,
    pub parts: u64,
    pub manifest_loads: u64,
    pub level_loads: u64,
    pub track_loads: u64,
    pub blocking_reloads: u64,
}

/// The browser's network stack, requests to the stream only.
#[derive(Debug, Clone, Deserialize)]
pub struct NetworkLog {
    pub total: u64,
    /// Responses by status code.
    pub statuses: BTreeMap<String, u64>,
    /// Responses by protocol (`http/1.1`, `h2`).
    pub protocols: BTreeMap<String, u64>,
    pub preflights: u64,
    pub canceled: u64,
    pub not_ok: Vec<serde_json::Value>,
    pub failed: Vec<serde_json::Value>,
}

impl PlayerReport {
    pub fn parse(json: &str) -> Result<PlayerReport, serde_json::Error> {
        let mut report: PlayerReport = serde_json::from_str(json)?;
        report.raw = json.trim().to_string();
        Ok(report)
    }

    pub fn fatal_errors(&self) -> Vec<&HlsjsError> {
        self.errors.iter().filter(|e| e.fatal).collect()
    }

    /// The longer of the announced stalls and the sampled freezes.
    pub fn longest_stall_ms(&self) -> u64 {
        self.stalls.longest_ms.max(self.stalls.longest_freeze_ms)
    }

    /// Responses outside 2xx seen by the browser.
    pub fn not_ok_responses(&self) -> u64 {
        self.http
            .statuses
            .iter()
            .filter(|(code, _)| !code.starts_with('2'))
            .map(|(_, n)| n)
            .sum()
    }
}

impl fmt::Display for PlayerReport {
    /// One line of figures, the errors, then the page's log tail.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "hls.js {} in {}: {} after {:.1} s watched; started {}, first frame {:?} ms, \
             played {:.1} s, {} stalls (longest {} ms, freeze {} ms), latency median {:?} s, \
             {} fragments, {} parts, {} playlist loads, statuses {:?}",
            self.hlsjs_version.as_deref().unwrap_or("?"),
            self.browser.as_deref().unwrap_or("?"),
            self.end_reason,
            self.watched_seconds,
            self.started,
            self.time_to_first_frame_ms,
            self.played_seconds,
            self.stalls.count,
            self.stalls.longest_ms,
            self.stalls.longest_freeze_ms,
            self.latency.median_s,
            self.counts.fragments,
            self.counts.parts,
            self.counts.manifest_loads + self.counts.level_loads + self.counts.track_loads,
            self.http.statuses,
        )?;
        for e in &self.errors {
            writeln!(f, "  error: {e:?}")?;
        }
        for line in &self.log {
            writeln!(f, "  | {line}")?;
        }
        Ok(())
    }
}
