//! One origin server and the ordered group of them behind a route.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use pingora::upstreams::peer::HttpPeer;

use crate::config::{OriginConfig, OriginGroupConfig};

/// Why an origin group cannot be built at start-up.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("origin_groups.{group}: origin '{url}' does not resolve: {reason}")]
    Resolve { group: String, url: String, reason: String },
}

/// An origin server as the proxy reaches it.
#[derive(Debug)]
pub struct Origin {
    /// `host:port`, the origin's label in metrics and logs.
    pub name: String,
    /// The `Host` header sent to it.
    pub host_header: String,
    peer: HttpPeer,
}

impl Origin {
    fn new(group: &str, cfg: &OriginConfig) -> Result<Origin, OriginError> {
        let resolve_error = |reason: String| OriginError::Resolve {
            group: group.to_string(),
            url: cfg.url.clone(),
            reason,
        };
        let addr: SocketAddr = (cfg.host.as_str(), cfg.port)
            .to_socket_addrs()
            .map_err(|e| resolve_error(e.to_string()))?
            .next()
            .ok_or_else(|| resolve_error("no address".to_string()))?;
        // SNI is always set on TLS peers: an empty SNI would skip certificate
        // verification.
        let mut peer = HttpPeer::new(addr, cfg.tls, cfg.host.clone());
        peer.options.connection_timeout = Some(cfg.connect_timeout);
        peer.options.total_connection_timeout = Some(cfg.connect_timeout * 2);
        peer.options.read_timeout = Some(cfg.read_timeout);
        peer.options.write_timeout = Some(cfg.read_timeout);
        peer.options.idle_timeout = Some(cfg.idle_timeout);
        let default_port = if cfg.tls { 443 } else { 80 };
        let host_header = if cfg.port == default_port {
            cfg.host.clone()
        } else {
            format!("{}:{}", cfg.host, cfg.port)
        };
        Ok(Origin { name: format!("{}:{}", cfg.host, cfg.port), host_header, peer })
    }

    /// A fresh peer for one request (Pingora keeps the connection pool).
    pub fn peer(&self) -> Box<HttpPeer> {
        Box::new(self.peer.clone())
    }
}

/// The origins of one group, in the order they are tried.
#[derive(Debug)]
pub struct OriginGroup {
    pub name: String,
    pub origins: Vec<Arc<Origin>>,
}

impl OriginGroup {
    pub fn new(cfg: &OriginGroupConfig) -> Result<OriginGroup, OriginError> {
        let origins = cfg
            .origins
            .iter()
            .map(|o| Origin::new(&cfg.name, o).map(Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(OriginGroup { name: cfg.name.clone(), origins })
    }

    /// The origin for a request's `attempt`-th try (0 first), if any is left:
    /// each origin is tried at most once per request.
    pub fn pick(&self, attempt: usize) -> Option<&Arc<Origin>> {
        self.origins.get(attempt)
    }
}
