//! The cache key: route + normalized path + query without the parameters that do not
//! name the object.
//!
//! Two viewers with different tokens must share one object, so the parameters that carry
//! playback tokens never reach the key; nor does the `CMCD` parameter (CTA-5004) players
//! such as hls.js, Shaka, dash.js and ExoPlayer add to every request with values that
//! change each time, nor the parameters the operator lists (`cache.ignore_query_params`,
//! e.g. analytics tags). The LL-HLS delivery directives (`_HLS_msn`, `_HLS_part`,
//! `_HLS_skip`) do, since they select a different object (rfc8216bis 6.2.5). The remaining
//! parameters are kept in the order the client sent them: players send `_HLS_*` in UTF-8
//! order "to improve server cache utilization".

use std::hash::{BuildHasher, RandomState};

use pingora::cache::CacheKey;

use crate::config::{CacheSettings, Cmcd};
use crate::decimal::push_decimal;

/// The CMCD query parameter (CTA-5004 section 2).
pub const CMCD_PARAM: &str = "CMCD";

/// Builds cache keys for one edge.
#[derive(Debug, Clone)]
pub struct CacheKeyBuilder {
    token_params: Vec<String>,
    /// Never in a key; removed from origin requests too when `strip_from_origin`.
    ignored: Vec<String>,
    /// `CMCD` goes to origins (`cache.cmcd: forward`).
    forward_cmcd: bool,
    /// The keyed hash of every key this edge makes (`primary_hash`).
    hasher: RandomState,
}

impl CacheKeyBuilder {
    /// `token_params`: query parameter names that carry tokens (`hdnts`, ...).
    pub fn new(token_params: Vec<String>, settings: &CacheSettings) -> Self {
        let mut ignored = settings.ignore_query_params.clone();
        ignored.push(CMCD_PARAM.to_string());
        CacheKeyBuilder {
            token_params,
            ignored,
            forward_cmcd: settings.cmcd == Cmcd::Forward,
            hasher: RandomState::new(),
        }
    }

    /// The key of `path?query` on route `route`.
    pub fn key(&self, route: &str, path: &str, query: Option<&str>) -> CacheKey {
        // `{route length}:{route}{path length}:{path}?{query}`, length-prefixed so that
        // no route/path pair can collide with another; built in one allocation (a key is
        // made for every request)
        let mut primary =
            String::with_capacity(route.len() + path.len() + query.map_or(0, str::len) + 24);
        push_decimal(&mut primary, route.len() as u64);
        primary.push(':');
        primary.push_str(route);
        push_decimal(&mut primary, path.len() as u64);
        primary.push(':');
        primary.push_str(path);
        primary.push('?');
        push_kept(&mut primary, query, |name| {
            self.token_params.iter().any(|t| t == name) || self.ignored.iter().any(|t| t == name)
        });
        let hash = self.primary_hash(&primary);
        let mut key = CacheKey::new(primary, "");
        key.set_primary_bin_override(hash);
        key
    }

    /// The 128-bit hash the storage, the cache lock and the predictor know a
    /// key by, computed once per request. Pingora's default is blake2b of
    /// the key each time it is asked; this is SipHash-1-3 (the standard
    /// library's keyed hasher) of the key under two domain tags, with a key
    /// drawn at random when the edge starts: no request can aim at a
    /// collision without it, at a tenth of blake2b's cost. The hashes index
    /// memory only (objects are never kept past the process), and every
    /// clone of this builder hashes alike.
    fn primary_hash(&self, primary: &str) -> [u8; 16] {
        let high = self.hasher.hash_one((0u8, primary));
        let low = self.hasher.hash_one((1u8, primary));
        let mut hash = [0; 16];
        hash[..8].copy_from_slice(&high.to_be_bytes());
        hash[8..].copy_from_slice(&low.to_be_bytes());
        hash
    }

    /// The query an origin is sent: without tokens and ignored parameters (`CMCD`
    /// only when `cache.cmcd: strip`).
    pub fn strip_tokens(&self, query: Option<&str>) -> String {
        let mut kept = String::new();
        push_kept(&mut kept, query, |name| {
            self.token_params.iter().any(|t| t == name)
                || self
                    .ignored
                    .iter()
                    .any(|t| t == name && !(self.forward_cmcd && name == CMCD_PARAM))
        });
        kept
    }
}

/// Appends `query` without the parameters `drop` names, in the order sent.
fn push_kept(out: &mut String, query: Option<&str>, drop: impl Fn(&str) -> bool) {
    let Some(query) = query else {
        return;
    };
    let mut first = true;
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        if drop(kv.split_once('=').map_or(kv, |(n, _)| n)) {
            continue;
        }
        if !first {
            out.push('&');
        }
        out.push_str(kv);
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::cache::key::CacheHashKey;

    fn settings(extra: &str) -> CacheSettings {
        let text = format!(
            "cache: {{{extra}}}\norigin_groups: {{g: {{origins: [{{url: 'http://127.0.0.1:1'}}]}}}}\nroutes: [{{prefix: /, origin_group: g}}]\n"
        );
        crate::config::Config::parse(&text).expect("valid").cache
    }

    fn builder() -> CacheKeyBuilder {
        CacheKeyBuilder::new(vec!["hdnts".into(), "__token__".into()], &settings(""))
    }

    #[test]
    fn token_parameters_do_not_change_the_key() {
        let b = builder();
        let a = b.key("hls", "/hls/a/seg_1.ts", Some("hdnts=st=1~exp=2~hmac=aa"));
        let c = b.key("hls", "/hls/a/seg_1.ts", Some("hdnts=st=9~exp=9~hmac=bb"));
        let plain = b.key("hls", "/hls/a/seg_1.ts", None);
        assert_eq!(a.combined_bin(), c.combined_bin());
        assert_eq!(a.combined_bin(), plain.combined_bin());
    }

    #[test]
    fn delivery_directives_change_the_key() {
        let b = builder();
        let m1 = b.key("hls", "/hls/a/index.m3u8", Some("_HLS_msn=10&hdnts=x"));
        let m2 = b.key("hls", "/hls/a/index.m3u8", Some("_HLS_msn=11"));
        assert_ne!(m1.combined_bin(), m2.combined_bin());
        assert_eq!(
            b.strip_tokens(Some("_HLS_msn=10&hdnts=x&_HLS_part=2")),
            "_HLS_msn=10&_HLS_part=2"
        );
    }

    #[test]
    fn cmcd_and_listed_parameters_are_not_part_of_the_key() {
        let b = CacheKeyBuilder::new(vec![], &settings("ignore_query_params: [utm_source]"));
        let a = b.key(
            "hls",
            "/a/s.ts",
            Some("CMCD=br%3D800%2Cbl%3D2000&utm_source=x"),
        );
        let c = b.key("hls", "/a/s.ts", Some("CMCD=br%3D3200%2Cbl%3D300"));
        assert_eq!(a.combined_bin(), c.combined_bin());
        assert_eq!(
            a.combined_bin(),
            b.key("hls", "/a/s.ts", None).combined_bin()
        );
        assert_eq!(b.strip_tokens(Some("CMCD=x&a=1&utm_source=y")), "a=1");
        let blocking = b.key("hls", "/a/i.m3u8", Some("_HLS_msn=4&CMCD=x"));
        assert_ne!(
            blocking.combined_bin(),
            b.key("hls", "/a/i.m3u8", None).combined_bin()
        );
        let forward = CacheKeyBuilder::new(vec![], &settings("cmcd: forward"));
        assert_eq!(forward.strip_tokens(Some("CMCD=x&a=1")), "CMCD=x&a=1");
        assert_eq!(
            forward.key("h", "/s.ts", Some("CMCD=x")).combined_bin(),
            forward.key("h", "/s.ts", None).combined_bin()
        );
    }

    #[test]
    fn routes_do_not_share_objects() {
        let b = builder();
        assert_ne!(
            b.key("a", "/x.ts", None).combined_bin(),
            b.key("b", "/x.ts", None).combined_bin()
        );
    }

    #[test]
    fn the_hash_is_keyed_per_edge_and_shared_by_its_clones() {
        use pingora::cache::key::CacheHashKey;
        let b = builder();
        let key = b.key("hls", "/a/s.ts", None);
        assert_eq!(
            key.primary_bin(),
            b.primary_hash(key.primary_key_str().unwrap())
        );
        assert_eq!(
            key.combined_bin(),
            b.clone().key("hls", "/a/s.ts", None).combined_bin()
        );
        // another edge (process) draws another key: nothing to aim a collision at
        assert_ne!(
            key.combined_bin(),
            builder().key("hls", "/a/s.ts", None).combined_bin()
        );
    }
}
