//! The bounded in-memory storage behind Pingora's HTTP cache.
//!
//! Objects live in a `moka` cache bounded by bytes (body + metadata),
//! evicted by moka's TinyLFU admission and LRU eviction, and
//! expired per entry at their stale deadline. A hit hands out the stored body
//! as a `Bytes` clone: a reference count, never a copy of the body. A body of
//! 64 KiB or more is kept in a sealed memory file (`crate::sealed`, unless
//! `cache.sendfile: false`), which plaintext connections send with `sendfile`.
//!
//! An object is inserted only in `HandleMiss::finish`, which Pingora calls only
//! after the whole body arrived with its framing intact; a fill dropped before
//! that (truncated origin body, reset, timeout) leaves nothing behind. Fills in
//! progress (`fill.rs`) are readable while written through the `StreamingView`
//! (media objects: coalesced requests get bytes as they arrive); playlists use
//! the storage itself, where a fill is only seen once complete. Playlist
//! bodies are read here once, at `finish`, because only then is the body known:
//! their summary (class, position, target duration) sets the object's freshness
//! through the policy, and is handed out with every hit so that no hit parses
//! the body again.
//!
//! This module does not decide what is cacheable; `cache::policy` does.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use std::collections::HashMap;

use async_trait::async_trait;
use bytes::Bytes;
use moka::notification::RemovalCause;
use parking_lot::Mutex;
use pingora::cache::key::{CacheHashKey, CompactCacheKey};
use pingora::cache::storage::{
    HandleHit, HitHandler, MissHandler, PurgeOutcome, PurgeTarget, PurgeType,
};
use pingora::cache::trace::SpanHandle;
use pingora::cache::{CacheKey, CacheMeta, Storage};
use pingora::{Error, ErrorType, Result};

use super::policy::CachePolicy;
pub use fill::{AdoptedFill, FillTag};
use fill::{Fill, FillReader, FillWriter};
use stored_meta::StoredMeta;

mod fill;
mod stored_meta;
#[cfg(test)]
pub(crate) mod test_objects;
use crate::hls::{ObjectClass, PlaylistSummary};
use crate::metrics;

/// Playlist keys whose class is remembered.
const CLASSES_REMEMBERED: u64 = 100_000;

/// One stored response.
struct Entry {
    meta: StoredMeta,
    body: Bytes,
    class: ObjectClass,
    /// Playlists: what their body says, read at `finish`.
    summary: Option<PlaylistSummary>,
    /// When moka should drop it: the end of freshness plus the stale window.
    expires_at: Instant,
}

impl Entry {
    fn weight(&self) -> u32 {
        let bytes = self.body.len() + self.meta.weight() + 64;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

struct EntryExpiry;

impl moka::Expiry<u128, Arc<Entry>> for EntryExpiry {
    fn expire_after_create(&self, _k: &u128, entry: &Arc<Entry>, now: Instant) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(now))
    }
}

/// The class of a stored object, attached to the `CacheMeta` of each hit so
/// that the proxy's response filter can set the downstream headers.
#[derive(Debug, Clone, Copy)]
pub struct StoredClass(pub ObjectClass);

/// The edge's object store.
pub struct MemoryStorage {
    objects: moka::sync::Cache<u128, Arc<Entry>>,
    policy: CachePolicy,
    /// The class each playlist key had at its last fill, remembered past the object
    /// itself: the next miss of the key can be told its class's `Cache-Control` before
    /// its body arrives.
    classes: moka::sync::Cache<u128, ObjectClass>,
    /// Fills in progress, by key, oldest first: usually one; more only while an
    /// abandoned fill waits for its writer to adopt it, or when two writers raced.
    fills: Mutex<HashMap<u128, Vec<Arc<Fill>>>>,
}

/// The same storage for media objects: a fill in progress is readable while it is
/// written (Pingora releases the requests waiting on its cache lock as soon as the
/// header is in, and they read the body as it arrives).
pub struct StreamingView {
    base: &'static MemoryStorage,
}

impl StreamingView {
    pub fn new(base: &'static MemoryStorage) -> StreamingView {
        StreamingView { base }
    }
}

impl MemoryStorage {
    /// A store holding at most `max_bytes` of bodies and metadata.
    pub fn new(max_bytes: u64, policy: CachePolicy) -> Self {
        let objects = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_k: &u128, e: &Arc<Entry>| e.weight())
            .expire_after(EntryExpiry)
            .eviction_listener(|_k, _e, cause| {
                if cause == RemovalCause::Size {
                    metrics::CACHE_EVICTIONS.inc();
                }
            })
            .build();
        let classes = moka::sync::Cache::builder()
            .max_capacity(CLASSES_REMEMBERED)
            .time_to_idle(Duration::from_secs(3600))
            .build();
        MemoryStorage {
            objects,
            policy,
            classes,
            fills: Mutex::new(HashMap::new()),
        }
    }

    /// Whether large bodies are kept in sealed files for `sendfile` (`cache.sendfile`).
    fn seals_bodies(&self) -> bool {
        self.policy.settings().sendfile
    }

    /// Takes over the fill of `key` that the request holding `tag` wrote and abandoned
    /// (a body cut short), so that the same request completes it (`media_resume`);
    /// `None` when there is none to adopt. Only the writer's own fill is taken: another
    /// request's fill of the same key is never completed with this request's bytes.
    pub fn adopt_fill(&'static self, key: &CacheKey, tag: FillTag) -> Option<AdoptedFill> {
        let fill = self.fill_tagged(key_of(key), &tag.bytes())?;
        AdoptedFill::adopt(self, fill)
    }

    /// Whether a fill of `key` readable while written is in progress: a request that
    /// missed a moment ago reads it instead of fetching the object again
    /// (`cache::lock`).
    pub fn is_streaming_fill(&self, key: &CacheKey) -> bool {
        self.fill_of(key_of(key)).is_some_and(|f| f.streaming())
    }

    /// The fill new readers of `key` follow: the newest that can still end whole.
    fn fill_of(&self, key: u128) -> Option<Arc<Fill>> {
        let fills = self.fills.lock();
        fills.get(&key)?.iter().rev().find(|f| f.is_live()).cloned()
    }

    /// The fill of `key` its writer knows by `tag`.
    fn fill_tagged(&self, key: u128, tag: &[u8]) -> Option<Arc<Fill>> {
        let fills = self.fills.lock();
        fills.get(&key)?.iter().find(|f| f.tag() == tag).cloned()
    }

    /// Forgets `fill` once it ended.
    fn forget_fill(&self, fill: &Arc<Fill>) {
        let mut fills = self.fills.lock();
        if let Some(list) = fills.get_mut(&fill.key) {
            list.retain(|f| !Arc::ptr_eq(f, fill));
            if list.is_empty() {
                fills.remove(&fill.key);
            }
        }
    }

    fn begin_fill(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        streaming: bool,
    ) -> Result<MissHandler> {
        // the writer's own tag when it gave one (`FillTag`), else a fresh one
        let tag = meta
            .extensions()
            .get::<FillTag>()
            .copied()
            .unwrap_or_else(FillTag::next);
        let fill = Arc::new(Fill::new(
            key_of(key),
            tag,
            StoredMeta::of(meta)?,
            streaming,
        ));
        if self.seals_bodies() {
            crate::sealed::fill_begins();
        }
        let mut fills = self.fills.lock();
        let list = fills.entry(fill.key).or_default();
        // orphans nobody adopted in time are dead: their readers have failed
        list.retain(|f| f.is_live());
        list.push(fill.clone());
        drop(fills);
        Ok(Box::new(FillWriter::new(self, fill)))
    }

    /// A stored object, complete.
    fn lookup_stored(&self, key: u128) -> Result<Option<(CacheMeta, HitHandler)>> {
        let Some(entry) = self.objects.get(&key) else {
            return Ok(None);
        };
        let meta = entry.meta.meta_as(StoredClass(entry.class))?;
        let hit = BodyHit {
            body: entry.body.clone(),
            summary: entry.summary,
            done: false,
            range: 0..entry.body.len(),
        };
        Ok(Some((meta, Box::new(hit))))
    }

    /// A fill in progress, read as it is written.
    fn lookup_filling(fill: Arc<Fill>) -> Result<Option<(CacheMeta, HitHandler)>> {
        let meta = fill.meta()?;
        Ok(Some((meta, Box::new(FillReader::new(fill)))))
    }

    /// The class the playlist at `key` had when last stored, if remembered.
    pub fn remembered_class(&self, key: &CacheKey) -> Option<ObjectClass> {
        self.classes.get(&key_of(key))
    }

    /// Bytes currently held (bodies and metadata), as moka weighs them.
    pub fn weighted_size(&self) -> u64 {
        self.objects.run_pending_tasks();
        self.objects.weighted_size()
    }

    /// Objects currently held.
    pub fn entry_count(&self) -> u64 {
        self.objects.entry_count()
    }

    fn insert(&self, key: u128, mut meta: CacheMeta, body: Bytes) -> Result<usize> {
        let class = meta
            .extensions()
            .get::<StoredClass>()
            .map_or(ObjectClass::Other, |c| c.0);
        let summary = class
            .is_playlist()
            .then(|| PlaylistSummary::of(class, &body));
        let class = summary.map_or(class, |s| s.class);
        if summary.is_some() {
            self.classes.insert(key, class);
        }
        self.policy.refine_meta(&mut meta, class, summary.as_ref());
        let size = body.len();
        let stored = StoredMeta::admitted(&meta)?;
        self.put(key, stored, &meta, body, class, summary);
        Ok(size)
    }

    /// Stores `body` under `key` with `stored` (kept from `meta`) until the end of
    /// `meta`'s freshness plus its stale-if-error window.
    fn put(
        &self,
        key: u128,
        stored: StoredMeta,
        meta: &CacheMeta,
        body: Bytes,
        class: ObjectClass,
        summary: Option<PlaylistSummary>,
    ) {
        let keep = meta
            .fresh_until()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            + Duration::from_secs(u64::from(meta.stale_if_error_sec()));
        let entry = Entry {
            meta: stored,
            body,
            class,
            summary,
            expires_at: Instant::now() + keep,
        };
        self.objects.insert(key, Arc::new(entry));
    }
}

/// The body of a stored object being served, and its playlist summary, if the
/// hit handler is this storage's.
pub fn stored_body(hit: &HitHandler) -> Option<(Bytes, Option<PlaylistSummary>)> {
    let hit = hit.as_any().downcast_ref::<BodyHit>()?;
    Some((hit.body.clone(), hit.summary))
}

fn key_of(key: &CacheKey) -> u128 {
    u128::from_be_bytes(key.combined_bin())
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        self.lookup_stored(key_of(key))
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        self.begin_fill(key, meta, false)
    }

    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        _purge_type: PurgeType,
        _trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        let key = compact_key_of(target.key());
        Ok(match self.objects.remove(&key) {
            Some(_) => PurgeOutcome::Purged(None),
            None => PurgeOutcome::NotFound,
        })
    }

    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<bool> {
        let id = key_of(key);
        let Some(old) = self.objects.get(&id) else {
            return Ok(false);
        };
        // RFC 9111 4.3.4: the stored response, freshened by the 304; its lifetime
        // follows its class (as at insert), with the same stale-if-error window
        let mut meta = StoredMeta::of(meta)?.meta()?;
        self.policy
            .refine_meta(&mut meta, old.class, old.summary.as_ref());
        let stored = StoredMeta::of(&meta)?;
        self.put(id, stored, &meta, old.body.clone(), old.class, old.summary);
        Ok(true)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

#[async_trait]
impl Storage for StreamingView {
    /// A fill in progress first: it is newer than a stored (expired) copy.
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let id = key_of(key);
        match self.base.fill_of(id).filter(|f| f.streaming()) {
            Some(fill) => MemoryStorage::lookup_filling(fill),
            None => self.base.lookup_stored(id),
        }
    }

    async fn lookup_streaming_write(
        &'static self,
        key: &CacheKey,
        tag: Option<&[u8]>,
        trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let Some(tag) = tag else {
            return self.lookup(key, trace).await;
        };
        let fill = self.base.fill_tagged(key_of(key), tag);
        fill.map_or(Ok(None), MemoryStorage::lookup_filling)
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        self.base.begin_fill(key, meta, true)
    }

    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        purge_type: PurgeType,
        trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        self.base.purge(target, purge_type, trace).await
    }

    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        trace: &SpanHandle,
    ) -> Result<bool> {
        self.base.update_meta(key, meta, trace).await
    }

    fn support_streaming_partial_write(&self) -> bool {
        true
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

fn compact_key_of(key: &CompactCacheKey) -> u128 {
    u128::from_be_bytes(key.combined_bin())
}

/// Serves a stored body: the whole of it, or the range Pingora seeked to.
struct BodyHit {
    body: Bytes,
    summary: Option<PlaylistSummary>,
    done: bool,
    range: std::ops::Range<usize>,
}

#[async_trait]
impl HandleHit for BodyHit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        Ok(Some(self.body.slice(self.range.clone())))
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
        let end = end.unwrap_or(self.body.len());
        if start > end || end > self.body.len() {
            return Error::e_explain(ErrorType::InternalError, "seek range outside the body");
        }
        self.range = start..end;
        self.done = false;
        Ok(())
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use pingora::http::ResponseHeader;

    fn storage(max: &str) -> MemoryStorage {
        let text = format!(
            "cache: {{max_size: {max}, max_object_size: 1KiB}}\norigin_groups: {{g: {{origins: [{{url: 'http://127.0.0.1:1'}}]}}}}\nroutes: [{{prefix: /, origin_group: g}}]\n"
        );
        let config = Config::parse(&text).expect("valid");
        MemoryStorage::new(config.cache.max_size, CachePolicy::new(config.cache))
    }

    fn segment_meta() -> CacheMeta {
        let mut header = ResponseHeader::build(200, None).expect("status");
        header
            .insert_header("content-length", "1000")
            .expect("header");
        let now = SystemTime::now();
        let mut meta = CacheMeta::new(now + Duration::from_secs(60), now, 0, 0, header);
        meta.extensions_mut()
            .insert(StoredClass(ObjectClass::Segment));
        meta
    }

    #[test]
    fn the_store_stays_within_its_byte_bound() {
        let store = storage("100KiB");
        for key in 0..1000u128 {
            store
                .insert(key, segment_meta(), Bytes::from(vec![0u8; 1000]))
                .expect("insert");
        }
        let held = store.weighted_size();
        assert!(held <= 100 * 1024, "{held} bytes held");
        assert!(store.entry_count() > 10, "it still holds objects");
    }

    #[tokio::test]
    async fn a_hit_shares_the_stored_body_without_copying_it() {
        let store: &'static MemoryStorage = Box::leak(Box::new(storage("1MiB")));
        let key = CacheKey::new("k", "");
        let body = Bytes::from(vec![5u8; 1000]);
        store
            .insert(key_of(&key), segment_meta(), body.clone())
            .expect("insert");
        let span = pingora::cache::trace::Span::inactive().handle();
        let (meta, mut hit) = store
            .lookup(&key, &span)
            .await
            .expect("lookup")
            .expect("hit");
        assert_eq!(
            meta.extensions().get::<StoredClass>().map(|c| c.0),
            Some(ObjectClass::Segment)
        );
        let served = hit.read_body().await.expect("read").expect("body");
        assert_eq!(
            served.as_ptr(),
            body.as_ptr(),
            "the same memory, not a copy"
        );
        assert!(hit.read_body().await.expect("read").is_none());
    }

    #[tokio::test]
    async fn a_fill_dropped_before_finish_stores_nothing() {
        let store: &'static MemoryStorage = Box::leak(Box::new(storage("1MiB")));
        let key = CacheKey::new("cut", "");
        let span = pingora::cache::trace::Span::inactive().handle();
        let mut fill = store
            .get_miss_handler(&key, &segment_meta(), &span)
            .await
            .expect("fill");
        fill.write_body(Bytes::from_static(b"partial"), false)
            .await
            .expect("write");
        drop(fill);
        assert!(store.lookup(&key, &span).await.expect("lookup").is_none());
    }
}
