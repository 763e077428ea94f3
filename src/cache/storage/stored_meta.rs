//! [`StoredMeta`]: a stored object's `CacheMeta`, kept so that every hit
//! rebuilds it cheaply.
//!
//! Pingora's `CacheMeta` is neither `Clone` nor cheap to rebuild from its
//! serialized form: `CacheMeta::deserialize` decompresses the response header
//! (zstd) and parses it again, on every hit. On a small object's hit that was
//! the largest single cost of the edge (docs/performance.md). Here the header
//! is parsed once and cloned per hit, and the timing fields are kept as
//! values where they can be: an object whose freshness was never set again
//! after admission (segments, parts: created and updated at once, as
//! `CacheMeta::new` makes it) is rebuilt with `CacheMeta::new`; one freshened
//! later (playlists, given their class's lifetime once their body is read;
//! any object revalidated by a 304), whose `updated` no setter can express,
//! keeps Pingora's own serialized form of them (a few dozen bytes of msgpack,
//! exact).
//!
//! The header is kept without Pingora's map of header-name spellings: every
//! hit clones it twice (here and in Pingora's hit path) and adds a handful of
//! headers, and each of those copies and inserts would otherwise carry the
//! map too. Names go out in their standard spelling (`Content-Type`) or in
//! lower case (other names); HTTP field names are case-insensitive (RFC 9110
//! 5.1) and HTTP/2 sends them in lower case anyway.

use std::sync::OnceLock;
use std::time::SystemTime;

use pingora::cache::key::HashBinary;
use pingora::cache::CacheMeta;
use pingora::http::ResponseHeader;
use pingora::Result;

use super::StoredClass;
use crate::cache::policy::StorePlan;

/// See the module docs.
pub(super) struct StoredMeta {
    timing: Timing,
    header: ResponseHeader,
    /// The policy's extensions, carried from the fill to every hit.
    class: Option<StoredClass>,
    plan: Option<StorePlan>,
}

/// `CacheMeta`'s internal part.
enum Timing {
    /// Never revalidated: everything `CacheMeta::new` and its setters can set.
    Admitted {
        fresh_until: SystemTime,
        created: SystemTime,
        stale_while_revalidate: u32,
        stale_if_error: u32,
        epoch_override: Option<SystemTime>,
        variance: Option<HashBinary>,
    },
    /// Freshened since: Pingora's serialized form.
    Serialized(Vec<u8>),
}

impl StoredMeta {
    /// Keeps `meta` (called per stored object or fill, not per hit).
    pub fn of(meta: &CacheMeta) -> Result<StoredMeta> {
        let admitted = meta.updated() == meta.created() && meta.provenance() == meta.created();
        StoredMeta::keep(meta, admitted)
    }

    /// Keeps the meta of an object being admitted, whose lifetime the storage
    /// has just set (`update_freshness` stamped `updated` with the moment the
    /// body completed): kept as admitted when its header arrived, which is
    /// what its age counts from.
    pub fn admitted(meta: &CacheMeta) -> Result<StoredMeta> {
        StoredMeta::keep(meta, true)
    }

    fn keep(meta: &CacheMeta, admitted: bool) -> Result<StoredMeta> {
        let created = meta.created();
        let timing = if admitted {
            Timing::Admitted {
                fresh_until: meta.fresh_until(),
                created,
                stale_while_revalidate: meta.stale_while_revalidate_sec(),
                stale_if_error: meta.stale_if_error_sec(),
                epoch_override: meta.epoch_override(),
                variance: meta.variance(),
            }
        } else {
            Timing::Serialized(meta.serialize()?.0)
        };
        Ok(StoredMeta {
            timing,
            header: without_name_case(meta.response_header_copy()),
            class: meta.extensions().get::<StoredClass>().copied(),
            plan: meta.extensions().get::<StorePlan>().copied(),
        })
    }

    /// A `CacheMeta` equal to the one kept, with its extensions.
    pub fn meta(&self) -> Result<CacheMeta> {
        self.meta_of_class(self.class)
    }

    /// [`Self::meta`] tagged with the class the storage recorded for the
    /// object rather than the one the fill was admitted with: one extension
    /// inserted, not one replaced by another (each is an allocation on a hit).
    pub fn meta_as(&self, class: StoredClass) -> Result<CacheMeta> {
        self.meta_of_class(Some(class))
    }

    fn meta_of_class(&self, class: Option<StoredClass>) -> Result<CacheMeta> {
        let mut meta = match &self.timing {
            Timing::Admitted {
                fresh_until,
                created,
                stale_while_revalidate,
                stale_if_error,
                epoch_override,
                variance,
            } => {
                let mut meta = CacheMeta::new(
                    *fresh_until,
                    *created,
                    *stale_while_revalidate,
                    *stale_if_error,
                    self.header.clone(),
                );
                if let Some(epoch) = epoch_override {
                    meta.set_epoch_override(*epoch);
                }
                if let Some(variance) = variance {
                    meta.set_variance(*variance);
                }
                meta
            }
            Timing::Serialized(internal) => {
                let mut meta = CacheMeta::deserialize(internal, empty_header())?;
                *meta.response_header_mut() = self.header.clone();
                meta
            }
        };
        let extensions = meta.extensions_mut();
        if let Some(class) = class {
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
        let timing = match &self.timing {
            Timing::Admitted { .. } => 64,
            Timing::Serialized(internal) => internal.len(),
        };
        timing + fields + 64
    }
}

/// Fields a hit adds to the stored header (`Age`, `Cache-Status`,
/// `Cache-Control`, CORS, `Accept-Ranges`, `Vary`, `Date`...), room for which
/// is made once in the stored copy: every clone then carries a table large
/// enough, where it otherwise grew (rehashed) on almost every hit.
const HIT_FIELDS: usize = 12;

/// `header` without the map of its names' spellings (see the module docs),
/// with room for the fields a hit adds.
fn without_name_case(header: ResponseHeader) -> ResponseHeader {
    let mut parts = http::response::Parts::from(header);
    parts.headers.reserve(HIT_FIELDS);
    ResponseHeader::from(parts)
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

    fn assert_same(again: &CacheMeta, meta: &CacheMeta) {
        assert_eq!(again.created(), meta.created());
        assert_eq!(again.updated(), meta.updated());
        assert_eq!(again.provenance(), meta.provenance());
        assert_eq!(again.epoch(), meta.epoch());
        assert_eq!(again.epoch_override(), meta.epoch_override());
        assert_eq!(again.fresh_until(), meta.fresh_until());
        assert_eq!(
            again.stale_while_revalidate_sec(),
            meta.stale_while_revalidate_sec()
        );
        assert_eq!(again.stale_if_error_sec(), meta.stale_if_error_sec());
        assert_eq!(again.variance(), meta.variance());
        assert_eq!(
            again.response_header().status,
            meta.response_header().status
        );
        assert_eq!(again.headers(), meta.headers());
    }

    #[test]
    fn a_never_revalidated_meta_is_rebuilt_without_serializing() {
        let created = SystemTime::now() - Duration::from_secs(30);
        let mut header = ResponseHeader::build(200, None).unwrap();
        header.insert_header("Content-Type", "video/mp2t").unwrap();
        let mut meta = CacheMeta::new(created + Duration::from_secs(60), created, 5, 7, header);
        meta.set_epoch_override(created - Duration::from_secs(4));
        meta.set_variance([3u8; 16]);

        let kept = StoredMeta::of(&meta).unwrap();
        assert!(matches!(kept.timing, Timing::Admitted { .. }));
        assert_same(&kept.meta().unwrap(), &meta);
        let plain = CacheMeta::new(
            created,
            created,
            0,
            0,
            ResponseHeader::build(404, None).unwrap(),
        );
        assert_same(&StoredMeta::of(&plain).unwrap().meta().unwrap(), &plain);
    }

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
        assert!(matches!(kept.timing, Timing::Serialized(_)));
        let again = kept.meta().unwrap();
        assert_same(&again, &meta);
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
