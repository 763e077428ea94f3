//! The stream store: streams -> generations -> renditions -> segments, with
//! the retention rules of the packager (design §7):
//!
//! - a live rendition keeps its playlist window plus `keep_behind` segments for
//!   late players; older ones are pruned as new ones arrive;
//! - an input that joins a live generation adds a rendition to it; an input for
//!   a rendition that is already there (being ingested or ended) starts a new
//!   generation, so a restart never reuses a URL;
//! - a generation ends when all its renditions have ended, and is deleted
//!   `ended_retention` later (`expire`);
//! - all segment bytes together stay under `max_bytes`: ended generations go
//!   first, then segments behind windows; a segment that still does not fit
//!   is refused, each with a log line;
//! - with LL-HLS, a segment's parts are published one by one before it. The
//!   decision to refuse is taken at its first part, so that a part once out is
//!   never followed by a refused segment (whose number, and so the parts' URLs,
//!   the next segment would reuse): the bound may be passed by the rest of one
//!   segment per rendition.
//!
//! Time is passed in; playlist text is written elsewhere (`packager::playlists`)
//! from what `read_rendition` and `read_current` lend out.

mod generation;
mod memory;
mod parts;
mod rendition;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use parking_lot::RwLock;

use crate::config::PackagerConfig;
pub use generation::GenerationId;
use generation::GenerationIds;
pub use parts::{NewPart, OpenSegment, PartPosition, StoredPart};
pub use rendition::{millis, NewSegment, Rendition, RenditionInfo, StoredSegment};
pub use stats::{RenditionProgress, StreamStats};

/// How much the store keeps.
#[derive(Debug, Clone)]
pub struct Retention {
    /// Segments listed in a live media playlist.
    pub window: usize,
    /// Segments kept behind the window.
    pub keep_behind: usize,
    pub ended_retention: Duration,
    pub max_bytes: u64,
}

impl Retention {
    pub fn from_config(c: &PackagerConfig) -> Self {
        Retention {
            window: c.window,
            keep_behind: c.keep_behind,
            ended_retention: c.ended_retention,
            max_bytes: c.max_bytes,
        }
    }
}

/// Where an input publishes: returned by [`Store::open`], given back to
/// [`Store::publish`] and [`Store::close`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputHandle {
    pub stream: String,
    pub generation: GenerationId,
    pub rendition: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("generation {0} no longer exists")]
    GenerationGone(GenerationId),
    #[error("segment of {size} bytes does not fit under max_bytes {max}")]
    Full { size: u64, max: u64 },
}

pub struct Store {
    limits: Retention,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    streams: BTreeMap<String, StreamEntry>,
    ids: GenerationIds,
    bytes: u64,
}

#[derive(Default)]
struct StreamEntry {
    /// Oldest first; the last one is the current generation.
    generations: Vec<Generation>,
    segments_produced: u64,
    parts_produced: u64,
    ingest_bytes: u64,
    ingest_errors: u64,
    segments_refused: u64,
}

struct Generation {
    id: GenerationId,
    renditions: BTreeMap<String, Rendition>,
    ended_at: Option<SystemTime>,
}

impl Generation {
    fn bytes(&self) -> u64 {
        self.renditions.values().map(Rendition::bytes).sum()
    }
}

impl Store {
    pub fn new(limits: Retention) -> Self {
        Store {
            limits,
            inner: RwLock::new(Inner::default()),
        }
    }

    pub fn limits(&self) -> &Retention {
        &self.limits
    }

    /// Lists a stream in `stats` before any input arrives (metrics start at zero).
    pub fn register(&self, stream: &str) {
        self.inner
            .write()
            .streams
            .entry(stream.to_string())
            .or_default();
    }

    /// Attaches an input to `stream`/`rendition`: joins the current generation
    /// when it is live and lacks this rendition, else starts a new one.
    pub fn open(&self, stream: &str, rendition: &str, now: SystemTime) -> InputHandle {
        let mut inner = self.inner.write();
        let Inner { streams, ids, .. } = &mut *inner;
        let entry = streams.entry(stream.to_string()).or_default();
        let joinable = entry
            .generations
            .last_mut()
            .filter(|g| g.ended_at.is_none() && !g.renditions.contains_key(rendition));
        let generation = match joinable {
            Some(g) => g,
            None => {
                let id = ids.mint(now);
                tracing::info!(stream, generation = %id, "packager: new generation");
                entry.generations.push(Generation {
                    id,
                    renditions: BTreeMap::new(),
                    ended_at: None,
                });
                entry.generations.last_mut().expect("just pushed")
            }
        };
        generation
            .renditions
            .insert(rendition.to_string(), Rendition::default());
        InputHandle {
            stream: stream.to_string(),
            generation: generation.id.clone(),
            rendition: rendition.to_string(),
        }
    }

    /// Publishes the next segment of an input; returns its media sequence
    /// number. Its parts, if any, were published before it (`publish_part`).
    pub fn publish(&self, input: &InputHandle, segment: NewSegment) -> Result<u64, StoreError> {
        let size = segment.data.len() as u64;
        let mut inner = self.inner.write();
        let gone = || StoreError::GenerationGone(input.generation.clone());
        let rendition = inner.rendition_mut(input).ok_or_else(gone)?;
        let open_bytes = rendition.open_segment().map_or(0, OpenSegment::bytes);
        let refused = rendition.refusing(true);
        // Parts already out: the segment is kept whatever room there is.
        let fits = inner.make_room(size.saturating_sub(open_bytes), &self.limits);
        if refused || (!fits && open_bytes == 0) {
            return Err(inner.refuse(input, size, &self.limits));
        }
        let keep = self.limits.window + self.limits.keep_behind;
        let rendition = inner.rendition_mut(input).ok_or_else(gone)?;
        let msn = rendition.push(segment);
        let freed = rendition.prune(keep);
        inner.bytes = (inner.bytes + size).saturating_sub(open_bytes + freed);
        if let Some(entry) = inner.streams.get_mut(&input.stream) {
            entry.segments_produced += 1;
        }
        Ok(msn)
    }

    /// Publishes the next part of an input's segment being produced (LL-HLS);
    /// returns where it sits. A segment is refused, if at all, at its first part.
    pub fn publish_part(
        &self,
        input: &InputHandle,
        part: NewPart,
    ) -> Result<PartPosition, StoreError> {
        let size = part.data.len() as u64;
        let mut inner = self.inner.write();
        let gone = || StoreError::GenerationGone(input.generation.clone());
        let rendition = inner.rendition_mut(input).ok_or_else(gone)?;
        if rendition.refusing(false) {
            return Err(StoreError::Full {
                size,
                max: self.limits.max_bytes,
            });
        }
        let first = rendition.open_segment().is_none();
        if !inner.make_room(size, &self.limits) && first {
            if let Some(r) = inner.rendition_mut(input) {
                r.refuse_open();
            }
            tracing::warn!(stream = %input.stream, rendition = %input.rendition, size, max_bytes = self.limits.max_bytes,
                "packager store full: segment refused at its first part");
            return Err(StoreError::Full {
                size,
                max: self.limits.max_bytes,
            });
        }
        let at = inner.rendition_mut(input).ok_or_else(gone)?.push_part(part);
        inner.bytes += size;
        if let Some(entry) = inner.streams.get_mut(&input.stream) {
            entry.parts_produced += 1;
        }
        Ok(at)
    }

    /// Sets what the multivariant playlist says about an input's rendition.
    pub fn describe(&self, input: &InputHandle, info: RenditionInfo) {
        if let Some(r) = self.inner.write().rendition_mut(input) {
            if *r.info() != info {
                r.set_info(info);
            }
        }
    }

    /// The input stopped: its playlist ends; the generation ends with its last input.
    pub fn close(&self, input: &InputHandle, now: SystemTime) {
        let mut inner = self.inner.write();
        let Inner { streams, bytes, .. } = &mut *inner;
        let Some(entry) = streams.get_mut(&input.stream) else {
            return;
        };
        let Some(g) = entry
            .generations
            .iter_mut()
            .find(|g| g.id == input.generation)
        else {
            return;
        };
        if let Some(r) = g.renditions.get_mut(&input.rendition) {
            *bytes = bytes.saturating_sub(r.drop_open());
            r.end();
        }
        if g.ended_at.is_none() && g.renditions.values().all(Rendition::is_ended) {
            g.ended_at = Some(now);
            tracing::info!(stream = %input.stream, generation = %g.id, "packager: generation ended");
        }
    }

    /// Counts what an input received: TS bytes and errors.
    pub fn count_ingest(&self, stream: &str, bytes: u64, errors: u64) {
        if let Some(entry) = self.inner.write().streams.get_mut(stream) {
            entry.ingest_bytes += bytes;
            entry.ingest_errors += errors;
        }
    }

    /// Deletes generations that ended at least `ended_retention` before `now`.
    pub fn expire(&self, now: SystemTime) {
        let retention = self.limits.ended_retention;
        let mut inner = self.inner.write();
        let mut freed = 0;
        for (name, entry) in &mut inner.streams {
            entry.generations.retain(|g| {
                let keep = g.ended_at.is_none_or(|t| now.duration_since(t).unwrap_or_default() < retention);
                if !keep {
                    tracing::info!(stream = %name, generation = %g.id, "packager: ended generation deleted");
                    freed += g.bytes();
                }
                keep
            });
        }
        inner.bytes -= freed;
    }

    /// A stored segment's bytes (a cheap clone).
    pub fn segment(
        &self,
        stream: &str,
        generation: &str,
        rendition: &str,
        msn: u64,
    ) -> Option<Bytes> {
        self.read_rendition(stream, generation, rendition, |r| {
            r.segment(msn).map(|s| s.data.clone())
        })
        .flatten()
    }

    /// Lends one rendition to `f` (under the read lock: keep `f` short).
    pub fn read_rendition<T>(
        &self,
        stream: &str,
        generation: &str,
        rendition: &str,
        f: impl FnOnce(&Rendition) -> T,
    ) -> Option<T> {
        let inner = self.inner.read();
        let g = inner
            .streams
            .get(stream)?
            .generations
            .iter()
            .find(|g| g.id.as_str() == generation)?;
        g.renditions.get(rendition).map(f)
    }

    /// Lends every rendition of one generation to `f` (rendition reports
    /// need the others').
    pub fn read_generation<T>(
        &self,
        stream: &str,
        generation: &str,
        f: impl FnOnce(&BTreeMap<String, Rendition>) -> T,
    ) -> Option<T> {
        let inner = self.inner.read();
        let g = inner
            .streams
            .get(stream)?
            .generations
            .iter()
            .find(|g| g.id.as_str() == generation)?;
        Some(f(&g.renditions))
    }

    /// Lends the current generation of `stream` and its renditions to `f`.
    pub fn read_current<T>(
        &self,
        stream: &str,
        f: impl FnOnce(&GenerationId, &BTreeMap<String, Rendition>) -> T,
    ) -> Option<T> {
        let inner = self.inner.read();
        let g = inner.streams.get(stream)?.generations.last()?;
        Some(f(&g.id, &g.renditions))
    }

    /// Segment bytes held, all streams.
    pub fn bytes(&self) -> u64 {
        self.inner.read().bytes
    }
}

impl Inner {
    /// Counts and logs a refused segment; the error to return.
    fn refuse(&mut self, input: &InputHandle, size: u64, limits: &Retention) -> StoreError {
        if let Some(entry) = self.streams.get_mut(&input.stream) {
            entry.segments_refused += 1;
        }
        tracing::warn!(stream = %input.stream, rendition = %input.rendition, size, max_bytes = limits.max_bytes,
            "packager store full: segment refused");
        StoreError::Full {
            size,
            max: limits.max_bytes,
        }
    }

    fn rendition_mut(&mut self, input: &InputHandle) -> Option<&mut Rendition> {
        let entry = self.streams.get_mut(&input.stream)?;
        let g = entry
            .generations
            .iter_mut()
            .find(|g| g.id == input.generation)?;
        g.renditions.get_mut(&input.rendition)
    }
}
