//! [`StoredMeta`]: a stored object's `CacheMeta`, kept so that every hit
//! rebuilds it cheaply.
//!
//! Pingora's `CacheMeta` is neither `Clone` nor cheap to rebuild from its
//! serialized form: `CacheMeta::deserialize` decompresses the response header
//! (zstd) and parses it again, on every hit. On a small object's hit that was
//! the largest single cost of the edge (docs/performance.md). Here the timing
//! fields stay in Pingora's own serialized form (a few dozen bytes of msgpack,
//! exact: created, updated, the epoch override that carries an upstream `Age`,
//! variance), and the header is parsed once; a hit decodes the first and
//! clones the second.

use std::sync::OnceLock;
use std::time::SystemTime;

use pingora::cache::CacheMeta;
use pingora::http::ResponseHeader;
use pingora::Result;

use super::StoredClass;
use crate::cache::policy::StorePlan;

/// See the module docs.
pub(super) struct StoredMeta {
    /// `CacheMeta`'s internal part, as Pingora serializes it.
    internal: Vec<u8>,
    header: ResponseHeader,
    /// The policy's extensions, carried from the fill to every hit.
    class: Option<StoredClass>,
    plan: Option<StorePlan>,
}

impl StoredMeta {
    /// Keeps `meta` (serialized once; called per stored object or fill, not per hit).
    pub fn of(meta: &CacheMeta) -> Result<StoredMeta> {
        let (internal, _header) = meta.serialize()?;
        Ok(StoredMeta {
            internal,
            header: meta.response_header_copy(),
            class: meta.extensions().get::<StoredClass>().copied(),
            plan: meta.extensions().get::<StorePlan>().copied(),
        })
    }

    /// A `CacheMeta` equal to the one kept, with its extensions.
    pub fn meta(&self) -> Result<CacheMeta> {
        let mut meta = CacheMeta::deserialize(&self.internal, empty_header())?;
        *meta.response_header_mut() = self.header.clone();
        let extensions = meta.extensions_mut();
        if let Some(class) = self.class {
            extensions.insert(class);
        }
        if let Some(plan) = self.plan {
            extensions.insert(plan);
        }
        Ok(meta)
    }

    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// About the bytes it holds, for the storage's weigher.
    pub fn weight(&self) -> usize {
        let fields: usize = self
            .header
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum();
        self.internal.len() + fields + 64
    }
}

/// The serialized header of an empty 200 response, made once: what
/// [`StoredMeta::meta`] deserializes before it puts the kept header in place.
fn empty_header() -> &'static [u8] {
    static EMPTY: OnceLock<Vec<u8>> = OnceLock::new();
    EMPTY.get_or_init(|| {
        let header = ResponseHeader::build(200, Some(0)).expect("a 200 header builds");
        let meta = CacheMeta::new(SystemTime::UNIX_EPOCH, SystemTime::UNIX_EPOCH, 0, 0, header);
        meta.serialize().expect("an empty header serializes").1
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::ObjectClass;
    use std::time::Duration;

    #[test]
    fn a_rebuilt_meta_equals_the_kept_one() {
        let created = SystemTime::now() - Duration::from_secs(30);
        let mut header = ResponseHeader::build(200, None).unwrap();
        header.insert_header("Content-Type", "video/mp2t").unwrap();
        header.insert_header("ETag", "\"abc\"").unwrap();
        let mut meta = CacheMeta::new(created + Duration::from_secs(60), created, 5, 7, header);
        meta.set_epoch_override(created - Duration::from_secs(4));
        meta.update_freshness(created + Duration::from_secs(90), 5, 7);
        meta.set_variance([7u8; 16]);
        meta.extensions_mut()
            .insert(StoredClass(ObjectClass::Segment));

        let kept = StoredMeta::of(&meta).unwrap();
        let again = kept.meta().unwrap();
        assert_eq!(again.created(), meta.created());
        assert_eq!(again.updated(), meta.updated());
        assert_eq!(again.epoch(), meta.epoch());
        assert_eq!(again.fresh_until(), meta.fresh_until());
        assert_eq!(again.stale_while_revalidate_sec(), 5);
        assert_eq!(again.stale_if_error_sec(), 7);
        assert_eq!(again.variance(), Some([7u8; 16]));
        assert_eq!(again.response_header().status, 200);
        assert_eq!(
            again.headers().get("etag").unwrap(),
            meta.headers().get("etag").unwrap()
        );
        assert_eq!(again.headers().len(), 2);
        assert!(matches!(
            again.extensions().get::<StoredClass>(),
            Some(StoredClass(ObjectClass::Segment))
        ));
    }
}
