//! TLS for the player-facing listeners: certificates read from PEM and
//! checked before use (`certs`), chosen per handshake by SNI and replaced
//! while serving (`store`), and the SIGHUP reload that replaces them
//! (`CertReload`). Pingora's listener wiring is in `listeners`.
//!
//! Rotation without a dropped request: a reload swaps the certificate set
//! between handshakes; connections already open keep theirs. The graceful
//! upgrade (`-u` + SIGQUIT) also works and hands over the sockets.

pub mod certs;
pub mod store;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

pub use certs::{CertError, CertSource, KeySource, LoadedCert};
pub use store::{CertStore, Choice};

use crate::metrics;

/// Reloads the certificates of every TLS listener on SIGHUP.
#[derive(Debug, Default)]
pub struct CertReload {
    stores: Vec<Arc<CertStore>>,
}

impl CertReload {
    pub fn new(stores: Vec<Arc<CertStore>>) -> CertReload {
        CertReload { stores }
    }

    /// Reloads every listener; each keeps its old set on a problem. Returns
    /// how many listeners failed.
    pub fn reload_all(&self, now: SystemTime) -> usize {
        let mut failed = 0;
        for store in &self.stores {
            let listener = store.listener();
            match store.reload(now) {
                Ok(()) => {
                    let names = store.names();
                    tracing::info!(listener, ?names, "certificates reloaded");
                    metrics::TLS_RELOADS
                        .with_label_values(&[listener, "ok"])
                        .inc();
                }
                Err(e) => {
                    failed += 1;
                    tracing::error!(listener, error = %e, "certificate reload failed: the listener keeps its current certificates");
                    metrics::TLS_RELOADS
                        .with_label_values(&[listener, "error"])
                        .inc();
                }
            }
        }
        failed
    }
}

#[async_trait]
impl BackgroundService for CertReload {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{signal, SignalKind};
        // Installed even without TLS listeners: SIGHUP's default action
        // would end the process, which an operator's habit must not do.
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot watch SIGHUP: certificates reload only by a graceful upgrade");
                return;
            }
        };
        loop {
            tokio::select! {
                received = hangup.recv() => {
                    if received.is_none() {
                        return;
                    }
                    if self.stores.is_empty() {
                        tracing::info!("SIGHUP: no TLS listener to reload");
                    } else {
                        self.reload_all(SystemTime::now());
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
