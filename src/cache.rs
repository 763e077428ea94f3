//! The edge cache: keys, the HLS cache policy and the in-memory storage.
//!
//! Pingora's `HttpCache` drives lookups, fills and request coalescing (its
//! cache lock); this module supplies what Pingora leaves to the application.

pub mod directives;
pub mod key;
pub mod lock;
pub mod policy;
pub mod storage;
pub mod variance;

pub use key::CacheKeyBuilder;
pub use policy::{CachePolicy, NoStore, StorePlan};
pub use storage::{MemoryStorage, StoredClass, StreamingView};

use std::time::Duration;

use pingora::cache::lock::CacheKeyLockImpl;
use pingora::cache::predictor::Predictor;
use pingora::cache::CacheOptionOverrides;

use crate::config::CacheSettings;

/// Query parameters that carry playback tokens by default.
pub const DEFAULT_TOKEN_PARAMS: [&str; 3] = ["hdnts", "hdntl", "__token__"];

/// The cache as the proxy uses it. Pingora wants `'static` storage, lock and
/// predictor; they are built once here, at start-up, and never freed (a
/// clone shares them).
#[derive(Clone)]
pub struct EdgeCache {
    pub storage: &'static MemoryStorage,
    /// The same storage for media objects, read while a fill is written.
    pub streaming: &'static StreamingView,
    pub lock: &'static CacheKeyLockImpl,
    pub predictor: &'static Predictor<16>,
    pub policy: CachePolicy,
    pub keys: CacheKeyBuilder,
    pub max_object_size: usize,
    lock_timeout: Duration,
}

impl EdgeCache {
    /// `token_params`: query parameters that never reach a key or an origin.
    pub fn new(settings: &CacheSettings, token_params: Vec<String>) -> EdgeCache {
        let policy = CachePolicy::new(settings.clone());
        let storage: &'static MemoryStorage = Box::leak(Box::new(MemoryStorage::new(
            settings.max_size,
            policy.clone(),
        )));
        let streaming: &'static StreamingView = Box::leak(Box::new(StreamingView::new(storage)));
        let lock: &'static lock::FillAwareLock = Box::leak(Box::new(lock::FillAwareLock::new(
            settings.lock_timeout,
            storage,
        )));
        // A 404 or 5xx says nothing about the next response for the key (a
        // future segment becomes a 200 a moment later): not remembered.
        let predictor: &'static Predictor<16> = Box::leak(Box::new(Predictor::new(
            1024,
            Some(|reason| {
                reason == NoStore::NotFound.reason() || reason == NoStore::Status.reason()
            }),
        )));
        EdgeCache {
            storage,
            streaming,
            lock,
            predictor,
            policy,
            keys: CacheKeyBuilder::new(token_params, settings),
            max_object_size: usize::try_from(settings.max_object_size).unwrap_or(usize::MAX),
            lock_timeout: settings.lock_timeout,
        }
    }

    /// Per-request options: how long a coalesced request waits for a fill (at least
    /// `hold`, how long an origin may hold a blocking request).
    pub fn overrides(&self, hold: Option<Duration>) -> CacheOptionOverrides {
        let mut o = CacheOptionOverrides::default();
        o.wait_timeout = Some(hold.map_or(self.lock_timeout, |h| h.max(self.lock_timeout)));
        o
    }
}
