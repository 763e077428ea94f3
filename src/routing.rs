//! Routes: which origin group serves a request path.
//!
//! The longest configured prefix wins. A path no route claims is refused, so
//! the edge is never an open proxy.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::auth::{KeyError, Revocations, Verifier};
use crate::config::{Config, TokenSettings};
use crate::upstream::origin::OriginError;
use crate::upstream::OriginGroup;

/// Why the routes cannot be built at start-up.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(transparent)]
    Origin(#[from] OriginError),
    #[error("routes.{route}.tokens: {source}")]
    Tokens { route: String, source: KeyError },
}

/// A route's token verifier and settings, built once at start-up.
pub struct RouteTokens {
    pub verifier: Verifier,
    pub settings: TokenSettings,
}

impl std::fmt::Debug for RouteTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTokens")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RouteTokens {
    pub fn new(
        settings: &TokenSettings,
        revocations: Arc<Revocations>,
    ) -> Result<RouteTokens, KeyError> {
        let verifier = Verifier::new(settings.format.clone(), settings.keys.clone())?
            .with_skew(settings.clock_skew.as_secs())
            .with_revocations(revocations);
        Ok(RouteTokens {
            verifier,
            settings: settings.clone(),
        })
    }
}

/// A path prefix and the origins behind it.
#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub prefix: String,
    pub group: Arc<OriginGroup>,
    /// `None`: a public route.
    pub tokens: Option<RouteTokens>,
    /// Stores for the HLS lifetimes whatever lifetime the origin gives.
    pub override_origin_ttl: bool,
    /// Its requests' counters (`hls_edge_requests_total{route}` and companions).
    pub requests: crate::metrics::RouteRequests,
}

/// All routes, longest prefix first.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Arc<Route>>,
}

impl RouteTable {
    /// Builds the routes, resolves their origins and sets up their token
    /// verifiers (all sharing one revocation list).
    pub fn new(config: &Config, revocations: &Arc<Revocations>) -> Result<RouteTable, RouteError> {
        let mut groups = BTreeMap::new();
        for (name, group) in &config.origin_groups {
            groups.insert(name.clone(), Arc::new(OriginGroup::new(group)?));
        }
        let mut routes = Vec::new();
        for r in &config.routes {
            let Some(group) = groups.get(&r.origin_group) else {
                continue;
            };
            let tokens = match &r.tokens {
                Some(t) => Some(RouteTokens::new(t, revocations.clone()).map_err(|source| {
                    RouteError::Tokens {
                        route: r.name.clone(),
                        source,
                    }
                })?),
                None => None,
            };
            routes.push(Arc::new(Route {
                name: r.name.clone(),
                prefix: r.prefix.clone(),
                group: group.clone(),
                tokens,
                override_origin_ttl: r.override_origin_ttl,
                requests: crate::metrics::RouteRequests::new(&r.name),
            }));
        }
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(RouteTable { routes })
    }

    /// The route of `path`, if any.
    pub fn find(&self, path: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| path.starts_with(&r.prefix))
    }

    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }

    /// Every origin group some route uses, once each.
    pub fn groups(&self) -> Vec<Arc<OriginGroup>> {
        let mut groups: Vec<Arc<OriginGroup>> = Vec::new();
        for r in &self.routes {
            if !groups.iter().any(|g| Arc::ptr_eq(g, &r.group)) {
                groups.push(r.group.clone());
            }
        }
        groups
    }
}
