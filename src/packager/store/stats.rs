//! What the operator sees of the store, per stream: bytes held, what was
//! produced and received, and how far each rendition of the current
//! generation has got (`/status` and `/metrics` are built from it).

use super::{Generation, GenerationId, PartPosition, Store};

/// What the operator sees of one stream (the metrics are built from this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStats {
    pub name: String,
    /// Segment bytes held, all generations.
    pub bytes: u64,
    pub segments_produced: u64,
    /// Partial segments published (LL-HLS).
    pub parts_produced: u64,
    /// TS bytes received from inputs (push and loop files).
    pub ingest_bytes: u64,
    /// Continuity errors, lost sync and broken uploads.
    pub ingest_errors: u64,
    /// Segments refused because the store was full.
    pub segments_refused: u64,
    /// The newest generation has an input still running.
    pub live: bool,
    pub generation: Option<GenerationId>,
    /// How far each rendition of the newest generation has got.
    pub renditions: Vec<RenditionProgress>,
}

/// How far one rendition has got: its last segment and its last part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionProgress {
    pub name: String,
    /// Media sequence number of its last complete segment.
    pub last_msn: Option<u64>,
    /// Its last partial segment (LL-HLS).
    pub last_part: Option<PartPosition>,
    pub ended: bool,
}

impl Store {
    pub fn stats(&self) -> Vec<StreamStats> {
        let inner = self.inner.read();
        inner
            .streams
            .iter()
            .map(|(name, e)| {
                let current = e.generations.last();
                StreamStats {
                    name: name.clone(),
                    bytes: e.generations.iter().map(Generation::bytes).sum(),
                    segments_produced: e.segments_produced,
                    parts_produced: e.parts_produced,
                    ingest_bytes: e.ingest_bytes,
                    ingest_errors: e.ingest_errors,
                    segments_refused: e.segments_refused,
                    live: current.is_some_and(|g| g.ended_at.is_none()),
                    generation: current.map(|g| g.id.clone()),
                    renditions: current.map_or_else(Vec::new, |g| {
                        g.renditions
                            .iter()
                            .map(|(name, r)| RenditionProgress {
                                name: name.clone(),
                                last_msn: r.next_msn().checked_sub(1),
                                last_part: r.last_part(),
                                ended: r.is_ended(),
                            })
                            .collect()
                    }),
                }
            })
            .collect()
    }
}
