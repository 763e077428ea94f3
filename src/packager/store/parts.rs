//! Partial segments in the store (LL-HLS, rfc8216bis §4.4.4.9): a part as a source hands it
//! over, a part as held, the segment whose parts are being published, and the progress
//! signal a held request waits on. Pure data, like `rendition.rs`.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::watch;

pub use crate::hls::playlist::PartPosition;

/// A partial segment as a source hands it to the store, in order.
#[derive(Debug, Clone)]
pub struct NewPart {
    /// Whole TS packets; the parts of a segment joined are the segment.
    pub data: Bytes,
    pub duration: Duration,
    /// Starts with a keyframe (`INDEPENDENT=YES`).
    pub independent: bool,
    /// The segment it belongs to follows a discontinuity (read from its first part).
    pub discontinuity: bool,
    /// Wall clock at the start of its segment (read from its first part).
    pub program_date_time: SystemTime,
    /// When the source published it: what a blocking request's hold is measured against.
    pub published_at: SystemTime,
}

/// A partial segment held by the store.
#[derive(Debug, Clone)]
pub struct StoredPart {
    pub data: Bytes,
    pub duration: Duration,
    pub independent: bool,
    pub published_at: SystemTime,
}

impl From<NewPart> for StoredPart {
    fn from(p: NewPart) -> Self {
        StoredPart {
            data: p.data,
            duration: p.duration,
            independent: p.independent,
            published_at: p.published_at,
        }
    }
}

/// The segment being produced: the parts published so far, before the segment is whole.
#[derive(Debug, Clone)]
pub struct OpenSegment {
    pub parts: Vec<StoredPart>,
    pub discontinuity: bool,
    pub program_date_time: SystemTime,
}

impl OpenSegment {
    pub fn bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.data.len() as u64).sum()
    }

    /// The parts as slices of `data`, the whole segment, so that their own copies can go;
    /// as they are when they do not add up to it.
    pub fn into_slices_of(self, data: &Bytes) -> Vec<StoredPart> {
        let total: usize = self.parts.iter().map(|p| p.data.len()).sum();
        if total != data.len() {
            return self.parts;
        }
        let mut at = 0;
        let mut parts = self.parts;
        for p in &mut parts {
            let len = p.data.len();
            p.data = data.slice(at..at + len);
            at += len;
        }
        parts
    }
}

/// Counts every change of a rendition (a part, a segment, its end) for the requests that
/// wait for one: subscribe under the store's lock, then wait for a change outside it.
#[derive(Debug)]
pub struct Progress(watch::Sender<u64>);

impl Default for Progress {
    fn default() -> Self {
        Progress(watch::channel(0).0)
    }
}

impl Progress {
    pub fn advance(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}
