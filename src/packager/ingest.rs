//! HTTP push ingest: `PUT` or chunked `POST /ingest/{stream}/{rendition}`
//! with an MPEG-TS body, as `ffmpeg -re -i SRC -c copy -f mpegts -method PUT
//! URL` sends it.
//!
//! The key is checked before a byte of the body is read (wrong or missing ->
//! 403, nothing kept). Then the body is fed to a `Segmenter` as it arrives and
//! each segment (with LL-HLS, each part) is published the moment it is cut;
//! when the body ends (or the
//! upload breaks, or the server shuts down) the last segment is flushed and
//! the rendition ends. What joins or restarts a generation is the store's rule.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;

use crate::packager::segmenter::{Cut, MediaInfo, Part, Segment, Segmenter, SegmenterConfig};
use crate::packager::service::{Packager, Reply};
use crate::packager::store::{InputHandle, NewPart, NewSegment, RenditionInfo, Store};
use crate::packager::stream_key;

/// An upload silent for this long is over (at least: a few target durations).
const MIN_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handles one ingest request to its end.
pub async fn receive(
    packager: &Packager,
    session: &mut ServerSession,
    stream: &str,
    rendition: &str,
    shutdown: &ShutdownWatch,
) -> Reply {
    if !authorized(packager, session, stream) {
        tracing::warn!(stream, rendition, client = ?session.client_addr(), "packager: ingest refused (stream key)");
        let mut reply = Reply::text(StatusCode::FORBIDDEN, "forbidden\n");
        reply.close = true;
        return reply;
    }
    if session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
    {
        if let Err(e) = session.write_continue_response().await {
            tracing::debug!(error = %e, "packager: ingest client went away");
        }
    }
    let target = packager.config().target_duration;
    session.set_read_timeout(Some(MIN_IDLE_TIMEOUT.max(target * 3)));
    let store = packager.store();
    let input = store.open(stream, rendition, SystemTime::now());
    tracing::info!(stream, rendition, generation = %input.generation, "packager: ingest started");
    let mut publisher = Publisher::new(store, input, packager.segmenter_config());
    let mut shutdown = shutdown.clone();
    let outcome = loop {
        let chunk = tokio::select! {
            chunk = session.read_request_body() => chunk,
            _ = shutdown.changed() => break Outcome::Shutdown,
        };
        match chunk {
            Ok(Some(bytes)) => publisher.push(&bytes),
            Ok(None) => break Outcome::Complete,
            Err(e) => {
                tracing::warn!(stream, rendition, error = %e, "packager: ingest upload broke off");
                break Outcome::Broken;
            }
        }
    };
    publisher.finish(outcome == Outcome::Broken);
    let mut reply = match outcome {
        Outcome::Complete => return Reply::text(StatusCode::CREATED, "ingested\n"),
        Outcome::Broken => Reply::text(StatusCode::BAD_REQUEST, "upload broke off\n"),
        Outcome::Shutdown => Reply::text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
    };
    reply.close = true;
    reply
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Complete,
    Broken,
    Shutdown,
}

fn authorized(packager: &Packager, session: &ServerSession, stream: &str) -> bool {
    let Some(expected) = packager
        .config()
        .streams
        .iter()
        .find(|s| s.name == stream)
        .and_then(|s| s.key_sha256)
    else {
        return false;
    };
    let header = session.req_header();
    let authorization = header
        .headers
        .get(http::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    stream_key::presented(header.uri.query(), authorization)
        .is_some_and(|key| stream_key::verify(&key, &expected))
}

/// Feeds one input's bytes to a segmenter and publishes what it cuts.
pub struct Publisher<'a> {
    store: &'a Store,
    input: InputHandle,
    segmenter: Segmenter,
    clock: WallClock,
    /// Start of the segment whose parts are being published.
    open_start: Option<SystemTime>,
    counted_errors: u64,
    described: Option<RenditionInfo>,
}

impl<'a> Publisher<'a> {
    pub fn new(store: &'a Store, input: InputHandle, cfg: SegmenterConfig) -> Self {
        Publisher {
            store,
            input,
            segmenter: Segmenter::new(cfg),
            clock: WallClock::default(),
            open_start: None,
            counted_errors: 0,
            described: None,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let cuts = self.segmenter.push_cuts(bytes);
        self.count(bytes.len() as u64);
        for cut in cuts {
            self.publish(cut);
        }
    }

    /// Flushes the last segment and ends the rendition.
    pub fn finish(mut self, broken: bool) {
        for cut in self.segmenter.finish_cuts() {
            self.publish(cut);
        }
        self.count(0);
        if broken {
            self.store.count_ingest(&self.input.stream, 0, 1);
        }
        self.store.close(&self.input, SystemTime::now());
        let stats = self.segmenter.stats();
        tracing::info!(stream = %self.input.stream, rendition = %self.input.rendition, generation = %self.input.generation,
            bytes = stats.bytes, continuity_errors = stats.continuity_errors, "packager: ingest ended");
    }

    fn publish(&mut self, cut: Cut) {
        match cut {
            Cut::Part(p) => self.publish_part(p),
            Cut::Segment(s) => self.publish_segment(s),
        }
    }

    /// A part goes out at once; the first of a segment fixes the segment's start.
    fn publish_part(&mut self, p: Part) {
        let now = SystemTime::now();
        let start = match self.open_start {
            Some(start) if p.index > 0 => start,
            _ => self.clock.place(p.discontinuity, now, p.duration),
        };
        self.open_start = Some(start);
        let part = NewPart {
            data: p.data,
            duration: p.duration,
            independent: p.independent,
            discontinuity: p.discontinuity,
            program_date_time: start,
            published_at: now,
        };
        if let Err(e) = self.store.publish_part(&self.input, part) {
            tracing::debug!(stream = %self.input.stream, rendition = %self.input.rendition, error = %e, "packager: part not published");
        }
    }

    fn publish_segment(&mut self, s: Segment) {
        let pdt = match self.open_start.take() {
            Some(start) => start,
            None => self
                .clock
                .place(s.discontinuity, SystemTime::now(), s.duration),
        };
        self.clock.ended(pdt, s.duration);
        let info = RenditionInfo::from(&self.segmenter.media_info());
        if self.described.as_ref() != Some(&info) {
            self.store.describe(&self.input, info.clone());
            self.described = Some(info);
        }
        let segment = NewSegment {
            data: s.data,
            duration: s.duration,
            program_date_time: pdt,
            discontinuity: s.discontinuity,
        };
        if let Err(e) = self.store.publish(&self.input, segment) {
            tracing::warn!(stream = %self.input.stream, rendition = %self.input.rendition, error = %e, "packager: segment not published");
        }
    }

    /// Reports new bytes and any new TS errors to the stream's counters.
    fn count(&mut self, bytes: u64) {
        let stats = self.segmenter.stats();
        let errors = stats.continuity_errors + stats.resyncs;
        let new_errors = errors.saturating_sub(self.counted_errors);
        self.counted_errors = errors;
        if bytes > 0 || new_errors > 0 {
            self.store
                .count_ingest(&self.input.stream, bytes, new_errors);
        }
    }
}

impl From<&MediaInfo> for RenditionInfo {
    fn from(m: &MediaInfo) -> Self {
        RenditionInfo {
            codecs: m.codecs.clone(),
            resolution: m.resolution,
            frame_rate: m.frame_rate,
        }
    }
}

/// `#EXT-X-PROGRAM-DATE-TIME` of pushed segments. A segment is cut when the
/// next keyframe arrives, so it started about its duration before that; a
/// real-time input then gives contiguous times, which are kept (each segment
/// starts where the previous ended) unless they drift more than a second from
/// the measured time or the timestamps jumped.
#[derive(Debug, Default)]
pub struct WallClock {
    next: Option<SystemTime>,
}

const MAX_DRIFT: Duration = Duration::from_secs(1);

impl WallClock {
    pub fn start_of(&mut self, s: &Segment, published_at: SystemTime) -> SystemTime {
        let start = self.place(s.discontinuity, published_at, s.duration);
        self.ended(start, s.duration);
        start
    }

    /// Where something cut at `published_at` after lasting `duration` started:
    /// where the last segment ended, unless that is too far from the measure.
    pub fn place(
        &self,
        discontinuity: bool,
        published_at: SystemTime,
        duration: Duration,
    ) -> SystemTime {
        let measured = published_at.checked_sub(duration).unwrap_or(published_at);
        match self.next {
            Some(expected) if !discontinuity && distance(expected, measured) <= MAX_DRIFT => {
                expected
            }
            _ => measured,
        }
    }

    /// A segment that started at `start` ended: the next one starts there.
    pub fn ended(&mut self, start: SystemTime, duration: Duration) {
        self.next = Some(start + duration);
    }
}

fn distance(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b)
        .or_else(|_| b.duration_since(a))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::UNIX_EPOCH;

    fn segment(ms: u64, discontinuity: bool) -> Segment {
        Segment {
            data: Bytes::new(),
            duration: Duration::from_millis(ms),
            start_pts: 0,
            discontinuity,
            keyframe_start: true,
            parts: Vec::new(),
        }
    }

    #[test]
    fn program_date_times_are_contiguous_for_a_real_time_input() {
        let t = |ms: u64| UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms);
        let mut clock = WallClock::default();
        assert_eq!(clock.start_of(&segment(2000, false), t(2100)), t(100));
        // published 30 ms late: still starts where the previous one ended
        assert_eq!(clock.start_of(&segment(2000, false), t(4130)), t(2100));
        // a stall of 5 s: measured again
        assert_eq!(clock.start_of(&segment(2000, false), t(11_000)), t(9000));
        // a timestamp jump: measured again even when close
        assert_eq!(clock.start_of(&segment(2000, true), t(13_200)), t(11_200));
    }
}
