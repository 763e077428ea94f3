//! Sibling sharding (design section 5): edges of one cluster agree, by
//! consistent hashing of a cache key, which of them fetches an object from
//! the origin, so each object reaches the origin once per cluster rather than
//! once per edge. The ring is Pingora's Ketama (`pingora::lb`), the one
//! memcached clients use: removing an edge moves only its share of keys.
//!
//! Every edge must list the same peers under the same addresses: the ring is
//! built from resolved `ip:port`s, and `self` must name this edge as the
//! others name it. Pure lookup; what a non-owner does when the owner fails
//! (fall back to the origins) is the proxy's decision.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use pingora::lb::selection::consistent::KetamaHashing;
use pingora::lb::selection::{BackendIter, BackendSelection};
use pingora::lb::Backend;

use super::origin::{Origin, OriginError};
use crate::config::SiblingsConfig;

/// Who fetches a key from the origin.
#[derive(Debug, Clone)]
pub enum Owner {
    /// This edge: fetch from the origins.
    Me,
    /// Another edge: fetch through it (it is reached like an origin).
    Peer(Arc<Origin>),
}

/// The cluster's ring; see the module docs.
pub struct Siblings {
    ring: Arc<KetamaHashing>,
    peers: Vec<Arc<Origin>>,
    me: usize,
}

impl fmt::Debug for Siblings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Siblings")
            .field("peers", &self.peers)
            .field("me", &self.me)
            .finish()
    }
}

impl Siblings {
    /// Resolves the peers and builds the ring.
    pub fn new(group: &str, cfg: &SiblingsConfig) -> Result<Siblings, OriginError> {
        let peers: Vec<Arc<Origin>> = cfg
            .peers
            .iter()
            .map(|p| Origin::new(group, p).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let mut backends = BTreeSet::new();
        for (i, peer) in peers.iter().enumerate() {
            let mut backend = Backend {
                addr: pingora::protocols::l4::socket::SocketAddr::Inet(peer.addr()),
                weight: 1,
                ext: Default::default(),
            };
            backend.ext.insert(i);
            if !backends.insert(backend) {
                return Err(OriginError::SameAddress {
                    group: group.to_string(),
                    url: cfg.peers[i].url.clone(),
                });
            }
        }
        Ok(Siblings {
            ring: Arc::new(KetamaHashing::build(&backends)),
            peers,
            me: cfg.me,
        })
    }

    /// The edge that fetches `key` from the origin.
    pub fn owner(&self, key: &str) -> Owner {
        let index = self
            .ring
            .iter(key.as_bytes())
            .next()
            .and_then(|b| b.ext.get::<usize>().copied())
            .unwrap_or(self.me);
        match self.peers.get(index) {
            Some(peer) if index != self.me => Owner::Peer(peer.clone()),
            _ => Owner::Me,
        }
    }

    /// Every edge of the cluster, this one included.
    pub fn peers(&self) -> &[Arc<Origin>] {
        &self.peers
    }

    pub fn me(&self) -> &Arc<Origin> {
        &self.peers[self.me]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn cluster(me: usize) -> Siblings {
        let yaml = format!(
            "origin_groups:\n  g:\n    origins: [{{url: 'http://127.0.0.1:8081'}}]\n    siblings:\n      peers: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002', 'http://127.0.0.1:9003']\n      self: 'http://127.0.0.1:900{}'\nroutes: [{{prefix: /hls/, origin_group: g}}]\n",
            me + 1
        );
        let config = Config::parse(&yaml).expect("valid");
        let cfg = config.origin_groups["g"]
            .siblings
            .clone()
            .expect("siblings");
        Siblings::new("g", &cfg).expect("resolves")
    }

    fn owner_port(s: &Siblings, key: &str) -> u16 {
        match s.owner(key) {
            Owner::Me => s.me().addr().port(),
            Owner::Peer(p) => p.addr().port(),
        }
    }

    #[test]
    fn every_edge_names_the_same_owner_and_keys_spread() {
        let edges = [cluster(0), cluster(1), cluster(2)];
        let mut per_owner = std::collections::BTreeMap::new();
        for n in 0..3000 {
            let key = format!("/hls/live/360p/seg{n}.ts");
            let owners: Vec<u16> = edges.iter().map(|e| owner_port(e, &key)).collect();
            assert!(owners.iter().all(|&o| o == owners[0]), "{key}: {owners:?}");
            *per_owner.entry(owners[0]).or_insert(0) += 1;
            // Exactly one edge considers itself the owner.
            let mine = edges
                .iter()
                .filter(|e| matches!(e.owner(&key), Owner::Me))
                .count();
            assert_eq!(mine, 1);
        }
        assert_eq!(per_owner.len(), 3);
        for (port, count) in per_owner {
            assert!((600..=1400).contains(&count), "{port} owns {count} of 3000");
        }
    }

    #[test]
    fn the_mapping_is_stable_across_builds() {
        let (a, b) = (cluster(0), cluster(0));
        for n in 0..100 {
            let key = format!("k{n}");
            assert_eq!(owner_port(&a, &key), owner_port(&b, &key));
        }
    }
}
