//! The cache lock: Pingora's, with the one window it leaves for media fills closed.
//!
//! Pingora looks a key up, and only on a miss takes its lock. A media fill is readable
//! while it is written (`storage::fill`), so its writer releases the lock as soon as the
//! fill is registered, when the origin's header arrives. A request whose lookup came just
//! before that registration and whose `lock` came just after finds no lock held: without
//! this wrapper it would become a second writer, fetching the whole object from the
//! origin again beside the first fill (and, should the origin cut both, two fills of one
//! key to complete). Here such a request is told the lock it would wait on is already
//! `Done`, so Pingora looks the key up again and the request reads the fill in progress.
//!
//! Playlists are unaffected: their fills are seen only once stored.

use std::time::Duration;

use http::Extensions;
use pingora::cache::lock::{CacheKeyLock, CacheLock, LockStatus, Locked, WritePermit};
use pingora::cache::trace::Span;
use pingora::cache::CacheKey;

use super::MemoryStorage;
use crate::metrics;

/// Pingora's cache lock, aware of media fills in progress.
pub struct FillAwareLock {
    inner: Box<CacheLock>,
    storage: &'static MemoryStorage,
}

impl FillAwareLock {
    /// A lock whose writers may hold it for at most `age_timeout`.
    pub fn new(age_timeout: Duration, storage: &'static MemoryStorage) -> FillAwareLock {
        FillAwareLock {
            inner: CacheLock::new_boxed(age_timeout),
            storage,
        }
    }

    /// A read lock already released with `Done`: its holder looks the key up again.
    fn look_again() -> Locked {
        let (mut permit, stub) = WritePermit::new(Duration::ZERO, false, Extensions::new());
        permit.unlock(LockStatus::Done);
        Locked::Read(stub.read_lock())
    }
}

impl CacheKeyLock for FillAwareLock {
    fn lock(&self, key: &CacheKey, stale_writer: bool) -> Locked {
        match self.inner.lock(key, stale_writer) {
            // a fill began between this request's lookup and now: read it
            Locked::Write(permit) if !stale_writer && self.storage.is_streaming_fill(key) => {
                self.inner.release(key, permit, LockStatus::Done);
                metrics::CACHE_LOCK_LATE_JOINS.inc();
                FillAwareLock::look_again()
            }
            locked => locked,
        }
    }

    fn release(&self, key: &CacheKey, permit: WritePermit, reason: LockStatus) {
        self.inner.release(key, permit, reason)
    }

    fn trace_lock_wait(
        &self,
        span: &mut Span,
        read_lock: &pingora::cache::lock::ReadLock,
        lock_status: LockStatus,
    ) {
        self.inner.trace_lock_wait(span, read_lock, lock_status)
    }

    fn custom_lock_status(&self, custom_no_cache: &'static str) -> LockStatus {
        self.inner.custom_lock_status(custom_no_cache)
    }
}

#[cfg(test)]
mod tests {
    use pingora::cache::trace::Span as TraceSpan;
    use pingora::cache::Storage;

    use super::*;
    use crate::cache::storage::test_objects::{segment_meta, storage};
    use crate::cache::StreamingView;

    fn is_write(locked: &Locked) -> bool {
        matches!(locked, Locked::Write(_))
    }

    #[tokio::test]
    async fn a_miss_that_locks_after_the_fill_began_reads_the_fill() {
        let storage = storage();
        let view: &'static StreamingView = Box::leak(Box::new(StreamingView::new(storage)));
        let lock = FillAwareLock::new(Duration::from_secs(10), storage);
        let key = CacheKey::new("seg", "");
        let span = TraceSpan::inactive().handle();

        // the writer: missed, locked, got the origin's header, began its fill, released
        assert!(view.lookup(&key, &span).await.expect("lookup").is_none());
        let Locked::Write(permit) = lock.lock(&key, false) else {
            panic!("the first miss writes");
        };
        // a second request looks up before the fill is registered...
        assert!(view.lookup(&key, &span).await.expect("lookup").is_none());
        let fill = view
            .get_miss_handler(&key, &segment_meta(), &span)
            .await
            .expect("fill");
        lock.release(&key, permit, LockStatus::Done);
        // ...and locks after it was released: it must not write a second fill
        let Locked::Read(read) = lock.lock(&key, false) else {
            panic!("a late miss reads the fill in progress");
        };
        read.wait().await;
        assert_eq!(read.lock_status(), LockStatus::Done);
        assert!(view.lookup(&key, &span).await.expect("lookup").is_some());

        // a stale writer (revalidation) and a key with no fill still write
        let Locked::Write(stale) = lock.lock(&key, true) else {
            panic!("a revalidation writes");
        };
        lock.release(&key, stale, LockStatus::Done);
        let other = CacheKey::new("other", "");
        let locked = lock.lock(&other, false);
        assert!(is_write(&locked));
        if let Locked::Write(permit) = locked {
            lock.release(&other, permit, LockStatus::Done);
        }
        drop(fill);
    }

    #[tokio::test]
    async fn playlist_fills_are_not_joined_before_they_are_stored() {
        let storage = storage();
        let lock = FillAwareLock::new(Duration::from_secs(10), storage);
        let key = CacheKey::new("playlist", "");
        let span = TraceSpan::inactive().handle();
        let fill = storage
            .get_miss_handler(&key, &segment_meta(), &span)
            .await
            .expect("fill");
        let locked = lock.lock(&key, false);
        assert!(
            is_write(&locked),
            "a playlist fill is only seen once stored"
        );
        if let Locked::Write(permit) = locked {
            lock.release(&key, permit, LockStatus::Done);
        }
        drop(fill);
    }
}
