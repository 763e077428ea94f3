//! Active health probes (design section 5): a Pingora background service per
//! origin group with a `health.probe_path`, that GETs that path on every
//! origin each `probe_interval` and reports the outcome to the group's health
//! state, as a request would.
//!
//! Probes go through Pingora's HTTP connector with the origin's own peer, so
//! they test what requests use: the same address, TLS with SNI and
//! certificate verification, and timeouts (capped by `probe_timeout`). Each
//! probe opens a fresh connection: a pooled one could hide a dead listener.
//! A probe passes on a 2xx; a redirect or a 404 means the probe path is wrong
//! for that origin, and the origin is then reported down on `/status`.
//! Probes of another edge (`peer: true`) are signed with the peer secret, as
//! requests are, so that a token-protected route answers them.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::server::ShutdownWatch;
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::ServiceWithDependents;

use super::health::Outcome;
use super::origin::{Origin, OriginGroup};
use crate::auth::peer::PEER_HEADER;
use crate::auth::PeerSecret;

/// The probe services of `groups` (one per group with a probe path), for
/// `Server::add_services`.
pub fn health_services(
    groups: &[Arc<OriginGroup>],
    peer_secret: Option<&PeerSecret>,
) -> Vec<Box<dyn ServiceWithDependents>> {
    groups
        .iter()
        .filter(|g| g.health_config.probe_path.is_some())
        .map(|g| {
            let name = format!("probes {}", g.name);
            let probes = HealthProbes::new(g.clone(), peer_secret.cloned());
            let service = background_service(&name, probes);
            Box::new(service) as Box<dyn ServiceWithDependents>
        })
        .collect()
}

/// Probes the origins of one group; see the module docs.
pub struct HealthProbes {
    group: Arc<OriginGroup>,
    connector: Arc<Connector>,
    peer_secret: Option<Arc<PeerSecret>>,
}

impl HealthProbes {
    pub fn new(group: Arc<OriginGroup>, peer_secret: Option<PeerSecret>) -> HealthProbes {
        HealthProbes {
            group,
            connector: Arc::new(Connector::new(None)),
            peer_secret: peer_secret.map(Arc::new),
        }
    }

    /// Probes every origin once, concurrently, and reports each outcome.
    pub async fn probe_all(&self, path: &str) {
        let mut probes = tokio::task::JoinSet::new();
        for (i, origin) in self.group.origins.iter().enumerate() {
            let (group, connector) = (self.group.clone(), self.connector.clone());
            let secret = self.peer_secret.clone().filter(|_| origin.is_edge);
            let (origin, path) = (origin.clone(), path.to_string());
            probes.spawn(async move {
                let started = Instant::now();
                let outcome = match probe(&connector, &group, &origin, &path, secret.as_deref()).await {
                    Outcome::Ok => group.outcome_of_response(200, started.elapsed()),
                    failed => failed,
                };
                tracing::debug!(group = %group.name, origin = %origin.name, outcome = outcome.label(), "probe");
                group.report(i, None, outcome, Instant::now());
            });
        }
        while probes.join_next().await.is_some() {}
    }
}

async fn probe(
    connector: &Connector,
    group: &OriginGroup,
    origin: &Origin,
    path: &str,
    secret: Option<&PeerSecret>,
) -> Outcome {
    let timeout = group.health_config.probe_timeout;
    match tokio::time::timeout(timeout, get(connector, origin, path, secret)).await {
        Ok(Ok(status)) if (200..300).contains(&status) => Outcome::Ok,
        Ok(Ok(status)) if status >= 500 => Outcome::Status5xx,
        Ok(Ok(_)) => Outcome::ProbeStatus,
        Ok(Err(e)) => Outcome::of_error(&e.etype).unwrap_or(Outcome::ProbeStatus),
        Err(_) => Outcome::Timeout,
    }
}

/// One GET on a fresh connection; the status once the body is read.
async fn get(
    connector: &Connector,
    origin: &Origin,
    path: &str,
    secret: Option<&PeerSecret>,
) -> pingora::Result<u16> {
    let peer = origin.peer();
    let (mut session, _reused) = connector.get_http_session(&*peer).await?;
    let mut req = RequestHeader::build("GET", path.as_bytes(), None)?;
    req.insert_header(http::header::HOST, origin.host_header.as_str())?;
    req.insert_header(http::header::USER_AGENT, "hls-edge-probe")?;
    if let Some(secret) = secret {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signed = path.split('?').next().unwrap_or(path);
        req.insert_header(PEER_HEADER, secret.sign(signed, now))?;
    }
    session.set_write_timeout(peer.options.write_timeout);
    session.set_read_timeout(peer.options.read_timeout);
    session.write_request_header(Box::new(req)).await?;
    session.finish_request_body().await?;
    session.read_response_header().await?;
    let status = session.response_header().map_or(0, |r| r.status.as_u16());
    while session.read_response_body().await?.is_some() {}
    Ok(status)
}

#[async_trait]
impl BackgroundService for HealthProbes {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(path) = self.group.health_config.probe_path.clone() else {
            return;
        };
        let mut ticks = tokio::time::interval(self.group.health_config.probe_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = ticks.tick() => self.probe_all(&path).await,
            }
        }
    }
}
