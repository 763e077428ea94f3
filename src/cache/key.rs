//! The cache key: route + normalized path + query without token parameters.
//!
//! Two viewers with different tokens must share one object, so the
//! parameters that carry playback tokens never reach the key; the LL-HLS
//! delivery directives (`_HLS_msn`, `_HLS_part`, `_HLS_skip`) do, since they
//! select a different object (rfc8216bis 6.2.5). The remaining parameters are
//! kept in the order the client sent them: players send `_HLS_*` in UTF-8
//! order "to improve server cache utilization".

use pingora::cache::CacheKey;

/// Builds cache keys for one edge.
#[derive(Debug, Clone)]
pub struct CacheKeyBuilder {
    token_params: Vec<String>,
}

impl CacheKeyBuilder {
    /// `token_params`: query parameter names that carry tokens (`hdnts`, ...).
    pub fn new(token_params: Vec<String>) -> Self {
        CacheKeyBuilder { token_params }
    }

    /// The key of `path?query` on route `route`.
    pub fn key(&self, route: &str, path: &str, query: Option<&str>) -> CacheKey {
        let query = self.strip_tokens(query);
        // length-prefixed so that no route/path pair can collide with another
        let primary = format!("{}:{route}{}:{path}?{query}", route.len(), path.len());
        CacheKey::new(primary, "")
    }

    /// The query without token parameters (what the key and the origin see).
    pub fn strip_tokens(&self, query: Option<&str>) -> String {
        let Some(query) = query else {
            return String::new();
        };
        query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .filter(|kv| {
                let name = kv.split_once('=').map_or(*kv, |(n, _)| n);
                !self.token_params.iter().any(|t| t == name)
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::cache::key::CacheHashKey;

    fn builder() -> CacheKeyBuilder {
        CacheKeyBuilder::new(vec!["hdnts".into(), "__token__".into()])
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
    fn routes_do_not_share_objects() {
        let b = builder();
        assert_ne!(
            b.key("a", "/x.ts", None).combined_bin(),
            b.key("b", "/x.ts", None).combined_bin()
        );
    }
}
