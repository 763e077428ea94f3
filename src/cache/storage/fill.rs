//! Fills in progress, readable while they are written (Pingora's streaming partial writes):
//! requests that coalesced on a media object's fill receive its bytes as they arrive from
//! the origin, not once the fill is complete.
//!
//! A fill ends in one of three ways:
//! - `finish`: the whole body arrived as framed; the object is stored, readers see its end;
//! - abandoned (the miss handler dropped without `finish`: a cut body, a reset, a timeout):
//!   the fill is *orphaned* for a short grace period, during which the request that wrote it
//!   may adopt it and complete it from another origin (`media_resume`); otherwise it fails;
//! - failed: every reader gets an error, so a player sees a broken response, never a short
//!   body that looks complete (pingora #932), and nothing is stored.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use pingora::cache::storage::{HandleHit, HandleMiss, MissFinishType};
use pingora::cache::trace::SpanHandle;
use pingora::cache::{CacheKey, CacheMeta, Storage};
use pingora::{Error, ErrorType, Result};
use tokio::sync::Notify;

use super::{MemoryStorage, StoredMeta};
use crate::sealed;

/// How long an abandoned fill waits to be adopted before its readers fail.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(2);

static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

/// Names one fill: the request that writes it puts a tag in the meta it hands Pingora,
/// and after a cut adopts the fill by that tag, never another request's fill of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillTag(u64);

impl FillTag {
    /// A tag no other fill has.
    pub fn next() -> FillTag {
        FillTag(NEXT_TAG.fetch_add(1, Ordering::Relaxed))
    }

    pub(super) fn bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Open,
    /// Abandoned by its writer at this instant; may still be adopted.
    Orphaned(Instant),
    Done,
    Failed,
}

struct State {
    chunks: Vec<Bytes>,
    len: usize,
    end: End,
}

/// One fill in progress.
pub struct Fill {
    pub(super) key: u128,
    tag: [u8; 8],
    /// The header-time meta (what partial hits are served with, and what is stored).
    meta: StoredMeta,
    /// Readable while written: the storage view that made it streams.
    streaming: bool,
    state: Mutex<State>,
    grew: Notify,
}

impl Fill {
    pub(super) fn new(key: u128, tag: FillTag, meta: StoredMeta, streaming: bool) -> Fill {
        Fill {
            key,
            tag: tag.bytes(),
            meta,
            streaming,
            state: Mutex::new(State {
                chunks: Vec::new(),
                len: 0,
                end: End::Open,
            }),
            grew: Notify::new(),
        }
    }

    pub(super) fn tag(&self) -> &[u8] {
        &self.tag
    }

    pub(super) fn streaming(&self) -> bool {
        self.streaming
    }

    /// A copy of the header-time meta, with the policy's extensions.
    pub(super) fn meta(&self) -> Result<CacheMeta> {
        self.meta.meta()
    }

    /// Bytes received so far.
    pub fn len(&self) -> usize {
        self.state.lock().len
    }

    /// Whether readers may still be served from it: open, or abandoned and still
    /// waiting for its writer within the grace period.
    pub(super) fn is_live(&self) -> bool {
        match self.state.lock().end {
            End::Open => true,
            End::Orphaned(since) => since.elapsed() < ORPHAN_GRACE,
            End::Done | End::Failed => false,
        }
    }

    fn append(&self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        let mut st = self.state.lock();
        st.len += data.len();
        st.chunks.push(data);
        drop(st);
        self.grew.notify_waiters();
    }

    fn end(&self, end: End) {
        self.state.lock().end = end;
        self.grew.notify_waiters();
    }

    /// The whole body, once every byte is in: in a sealed file when `seal`
    /// and it is large enough (`sealed`), otherwise in one buffer.
    fn body(&self, seal: bool) -> Bytes {
        let st = self.state.lock();
        if seal && st.len >= sealed::SEAL_MIN {
            // a fallback (counted there) keeps the body in ordinary memory
            if let Ok(body) = sealed::seal(&st.chunks, st.len) {
                return body;
            }
        }
        match st.chunks.as_slice() {
            [one] => one.clone(),
            chunks => {
                let mut body = BytesMut::with_capacity(st.len);
                chunks.iter().for_each(|c| body.extend_from_slice(c));
                body.freeze()
            }
        }
    }

    /// The chunk at `index` when it is there, or how the fill ended.
    fn chunk(&self, index: usize) -> std::result::Result<Bytes, End> {
        let st = self.state.lock();
        st.chunks.get(index).cloned().ok_or(st.end)
    }

    /// Fails an orphan nobody adopted; false when it was adopted (or ended).
    fn expire_orphan(&self) -> bool {
        let mut st = self.state.lock();
        let orphan = matches!(st.end, End::Orphaned(_));
        if orphan {
            st.end = End::Failed;
        }
        drop(st);
        self.grew.notify_waiters();
        orphan
    }

    /// Takes an orphan over; false when it is not one.
    fn adopt(&self) -> bool {
        let mut st = self.state.lock();
        let orphan = matches!(st.end, End::Orphaned(_));
        if orphan {
            st.end = End::Open;
        }
        orphan
    }
}

/// Writes a fill (Pingora's miss handler), stored only when `finish` is called.
pub struct FillWriter {
    pub(super) storage: &'static MemoryStorage,
    pub(super) fill: Arc<Fill>,
    finished: bool,
}

impl FillWriter {
    pub(super) fn new(storage: &'static MemoryStorage, fill: Arc<Fill>) -> FillWriter {
        FillWriter {
            storage,
            fill,
            finished: false,
        }
    }

    /// Stores the complete body and lets every reader see its end.
    fn complete(&mut self) -> Result<usize> {
        let body = self.fill.body(self.storage.seals_bodies());
        let size = body.len();
        let meta = self.fill.meta()?;
        self.storage.insert(self.fill.key, meta, body)?;
        self.finished = true;
        self.fill.end(End::Done);
        self.storage.forget_fill(&self.fill);
        Ok(size)
    }
}

#[async_trait]
impl HandleMiss for FillWriter {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        self.fill.append(data);
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<MissFinishType> {
        self.complete().map(MissFinishType::Created)
    }

    fn streaming_write_tag(&self) -> Option<&[u8]> {
        Some(self.fill.tag())
    }
}

impl Drop for FillWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if self.fill.streaming {
            // readers wait a moment: the writer may complete it from another origin;
            // if it does not, the fill is failed and forgotten when the moment is over
            self.fill.end(End::Orphaned(Instant::now()));
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let (storage, fill) = (self.storage, self.fill.clone());
                runtime.spawn(async move {
                    tokio::time::sleep(ORPHAN_GRACE).await;
                    if fill.expire_orphan() {
                        storage.forget_fill(&fill);
                    }
                });
            }
        } else {
            self.fill.end(End::Failed);
            self.storage.forget_fill(&self.fill);
        }
    }
}

/// An abandoned fill taken over by the request that wrote it, to be completed.
pub struct AdoptedFill(FillWriter);

impl AdoptedFill {
    pub(super) fn adopt(storage: &'static MemoryStorage, fill: Arc<Fill>) -> Option<AdoptedFill> {
        fill.adopt()
            .then(|| AdoptedFill(FillWriter::new(storage, fill)))
    }

    /// Bytes received so far.
    pub fn len(&self) -> usize {
        self.0.fill.len()
    }

    /// The response header it was filled with.
    pub fn header(&self) -> &pingora::http::ResponseHeader {
        self.0.fill.meta.header()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes from `from` to what is received, as they were received.
    pub fn received_from(&self, from: usize) -> Vec<Bytes> {
        let st = self.0.fill.state.lock();
        let mut offset = 0;
        let mut out = Vec::new();
        for chunk in &st.chunks {
            let end = offset + chunk.len();
            if end > from {
                out.push(chunk.slice(from.saturating_sub(offset)..));
            }
            offset = end;
        }
        out
    }

    /// More of the body, for its readers.
    pub fn append(&self, data: Bytes) {
        self.0.fill.append(data);
    }

    /// Every byte is in: store it and end its readers' bodies.
    pub fn finish(mut self) -> Result<usize> {
        self.0.complete()
    }
}

impl Drop for AdoptedFill {
    fn drop(&mut self) {
        if !self.0.finished {
            // not completed: it fails now (the writer's own drop must not orphan it again)
            self.0.finished = true;
            self.0.fill.end(End::Failed);
            self.0.storage.forget_fill(&self.0.fill);
        }
    }
}

/// Reads a fill while it is written: each chunk as it arrives, then its end (or an error
/// when it failed or was abandoned and not adopted in time).
pub struct FillReader {
    fill: Arc<Fill>,
    next: usize,
    /// Object offset of the next chunk.
    offset: usize,
    /// The byte range asked for (`seek`), end exclusive.
    range: (usize, Option<usize>),
}

impl FillReader {
    pub(super) fn new(fill: Arc<Fill>) -> FillReader {
        FillReader {
            fill,
            next: 0,
            offset: 0,
            range: (0, None),
        }
    }

    /// The next chunk of the whole body, waiting for it if needed.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        loop {
            let grew = self.fill.grew.notified();
            tokio::pin!(grew);
            grew.as_mut().enable();
            let deadline = match self.fill.chunk(self.next) {
                Ok(chunk) => {
                    self.next += 1;
                    return Ok(Some(chunk));
                }
                Err(End::Done) => return Ok(None),
                Err(End::Failed) => {
                    return Error::e_explain(ErrorType::ReadError, "the fill failed")
                }
                Err(End::Orphaned(since)) => Some(since + ORPHAN_GRACE),
                Err(End::Open) => None,
            };
            match deadline {
                None => grew.await,
                Some(at) => {
                    let at = tokio::time::Instant::from_std(at);
                    if tokio::time::timeout_at(at, grew).await.is_err() {
                        return Error::e_explain(ErrorType::ReadError, "the fill was abandoned");
                    }
                }
            }
        }
    }
}

#[async_trait]
impl HandleHit for FillReader {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        let (start, end) = self.range;
        loop {
            if end.is_some_and(|end| self.offset >= end) {
                return Ok(None);
            }
            let Some(chunk) = self.next_chunk().await? else {
                return Ok(None);
            };
            let chunk_start = self.offset;
            self.offset += chunk.len();
            let from = start.saturating_sub(chunk_start).min(chunk.len());
            let to = end.map_or(chunk.len(), |e| {
                e.saturating_sub(chunk_start).min(chunk.len())
            });
            if from < to {
                return Ok(Some(chunk.slice(from..to)));
            }
        }
    }

    async fn finish(
        self: Box<Self>,
        _storage: &'static (dyn Storage + Sync),
        _key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        if end.is_some_and(|e| e < start) {
            return Error::e_explain(ErrorType::InternalError, "seek range ends before it starts");
        }
        self.next = 0;
        self.offset = 0;
        self.range = (start, end);
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests;
