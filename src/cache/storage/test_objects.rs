//! What the storage's own tests and its neighbours' (the cache lock) start from: a small
//! storage with the default policy, and the meta of a fresh segment.

use std::time::{Duration, SystemTime};

use pingora::cache::CacheMeta;
use pingora::http::ResponseHeader;

use super::{MemoryStorage, StoredClass};
use crate::cache::policy::CachePolicy;
use crate::config::Config;
use crate::hls::ObjectClass;

/// A 1 MiB storage with the default cache settings, leaked as Pingora wants it.
pub fn storage() -> &'static MemoryStorage {
    let text = "origin_groups: {g: {origins: [{url: 'http://127.0.0.1:1'}]}}\nroutes: [{prefix: /, origin_group: g}]\n";
    let config = Config::parse(text).expect("valid");
    Box::leak(Box::new(MemoryStorage::new(
        1 << 20,
        CachePolicy::new(config.cache),
    )))
}

/// The meta of a 6-byte segment, fresh for a minute.
pub fn segment_meta() -> CacheMeta {
    let mut header = ResponseHeader::build(200, None).expect("status");
    header.insert_header("content-length", "6").expect("header");
    let now = SystemTime::now();
    let mut meta = CacheMeta::new(now + Duration::from_secs(60), now, 0, 0, header);
    meta.extensions_mut()
        .insert(StoredClass(ObjectClass::Segment));
    meta
}
