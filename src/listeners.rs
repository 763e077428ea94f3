//! The proxy's player-facing listeners, built from `edge.listen`: cleartext
//! HTTP/1.1, cleartext with h2c, and TLS through rustls with HTTP/2 offered
//! by ALPN (RFC 7301; `h2` first, `http/1.1` still accepted).
//!
//! Pingora decides h2c per service, not per listener: when some cleartext
//! listeners take h2c and others do not, the proxy runs as two services
//! (`ListenerGroup`), each with its own listeners. TLS listeners get their
//! certificates from a `CertStore`, which SIGHUP reloads (`tls::CertReload`).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{TlsAccept, TlsAcceptCallbacks};
use pingora::protocols::http::v2::server::{default_h2_options, H2Options};
use pingora::protocols::tls::TlsRef;
use pingora::protocols::ALPN;
use pingora::proxy::HttpProxy;
use pingora::services::listening::Service;

use crate::config::{Config, ListenerConfig, TlsConfig};
use crate::metrics;
use crate::tls::{CertError, CertStore};

/// Why a listener cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// A certificate that passed the config check is unusable now (the
    /// file changed in between, or the key variable is gone).
    #[error("edge.listen ({addr}): {source}")]
    Certificate { addr: String, source: CertError },
    #[error("edge.listen ({addr}): {reason}")]
    Tls { addr: String, reason: String },
}

/// HTTP/2 receive windows for player connections: requests carry no body,
/// so these only bound what a client may push before being read.
const H2_STREAM_WINDOW: u32 = 1024 * 1024;
const H2_CONNECTION_WINDOW: u32 = 2 * 1024 * 1024;

/// Listeners served by one proxy service (same h2c setting).
#[derive(Debug)]
pub struct ListenerGroup<'a> {
    /// Whether cleartext connections may open with the HTTP/2 preface.
    pub h2c: bool,
    pub listeners: Vec<&'a ListenerConfig>,
}

/// Splits the listeners by the h2c setting Pingora applies per service:
/// one group when they agree, two otherwise. TLS listeners join the first.
pub fn groups(listen: &[ListenerConfig]) -> Vec<ListenerGroup<'_>> {
    let wants = |l: &ListenerConfig| l.tls.is_none() && l.h2c;
    let refuses = |l: &ListenerConfig| l.tls.is_none() && !l.h2c;
    let mut plain = ListenerGroup {
        h2c: false,
        listeners: listen.iter().filter(|l| !wants(l)).collect(),
    };
    let h2c = ListenerGroup {
        h2c: true,
        listeners: listen.iter().filter(|l| wants(l)).collect(),
    };
    if h2c.listeners.is_empty() {
        return vec![plain];
    }
    if !listen.iter().any(refuses) {
        // every cleartext listener takes h2c: TLS ones can share the service
        plain.listeners.retain(|l| l.tls.is_some());
        let mut all = h2c;
        all.listeners.extend(plain.listeners);
        return vec![all];
    }
    vec![plain, h2c]
}

impl ListenerGroup<'_> {
    /// The service's name in Pingora's logs.
    pub fn name(&self) -> &'static str {
        if self.h2c {
            "hls-edge proxy (h2c)"
        } else {
            "hls-edge proxy"
        }
    }
}

/// Sets the group's h2c and the HTTP/2 limits on a proxy app.
pub fn configure<SV>(app: &mut HttpProxy<SV>, group: &ListenerGroup<'_>, config: &Config) {
    let mut options = app.server_options.take().unwrap_or_default();
    options.h2c = group.h2c;
    app.server_options = Some(options);
    app.h2_options = Some(h2_options(config.edge.http2_max_streams));
}

/// Adds a group's listeners to its service; returns the certificate
/// stores of its TLS listeners (for `tls::CertReload`).
pub fn add_listeners<A>(
    service: &mut Service<A>,
    group: &ListenerGroup<'_>,
) -> Result<Vec<Arc<CertStore>>, ListenerError> {
    let mut stores = Vec::new();
    for listener in &group.listeners {
        let addr = listener.addr.to_string();
        match &listener.tls {
            None => service.add_tcp(&addr),
            Some(tls) => {
                let store = Arc::new(cert_store(&addr, tls)?);
                let settings = tls_settings(&addr, tls, store.clone())?;
                service.add_tls_with_settings(&addr, None, settings);
                stores.push(store);
            }
        }
    }
    Ok(stores)
}

fn cert_store(addr: &str, tls: &TlsConfig) -> Result<CertStore, ListenerError> {
    CertStore::load(addr, tls.certificates.clone(), SystemTime::now()).map_err(|source| {
        ListenerError::Certificate {
            addr: addr.to_string(),
            source,
        }
    })
}

fn tls_settings(
    addr: &str,
    tls: &TlsConfig,
    store: Arc<CertStore>,
) -> Result<TlsSettings, ListenerError> {
    let callbacks: TlsAcceptCallbacks = Box::new(HandshakeCounter {
        listener: addr.to_string(),
    });
    let mut settings = TlsSettings::with_callbacks(callbacks).map_err(|e| ListenerError::Tls {
        addr: addr.to_string(),
        reason: e.to_string(),
    })?;
    // the store answers every handshake, so Pingora never reads the files
    // (and never panics on them at start-up)
    settings.set_cert_resolver(store);
    settings.set_alpn(if tls.http2 { ALPN::H2H1 } else { ALPN::H1 });
    Ok(settings)
}

/// RFC 9113 section 6.5.2 settings for player connections: Pingora's
/// bounded header list (64 KiB) and a stream limit (nginx's default is 128).
fn h2_options(max_streams: u32) -> H2Options {
    let mut options = default_h2_options();
    options.max_concurrent_streams(max_streams);
    options.initial_window_size(H2_STREAM_WINDOW);
    options.initial_connection_window_size(H2_CONNECTION_WINDOW);
    options
}

/// Counts completed handshakes by listener and TLS version.
struct HandshakeCounter {
    listener: String,
}

#[async_trait]
impl TlsAccept for HandshakeCounter {
    async fn handshake_complete_callback(
        &self,
        tls: &TlsRef,
    ) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        // rustls names versions `TLSv1_3`; operators read `TLSv1.3`
        let version = match tls.version() {
            Some("TLSv1_3") => "TLSv1.3",
            Some("TLSv1_2") => "TLSv1.2",
            _ => "other",
        };
        metrics::TLS_HANDSHAKES
            .with_label_values(&[self.listener.as_str(), version])
            .inc();
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(port: u16, tls: bool, h2c: bool) -> ListenerConfig {
        ListenerConfig {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            tls: tls.then(|| TlsConfig {
                certificates: Vec::new(),
                http2: true,
            }),
            h2c,
        }
    }

    fn ports(group: &ListenerGroup<'_>) -> Vec<u16> {
        group.listeners.iter().map(|l| l.addr.port()).collect()
    }

    #[test]
    fn one_service_when_the_cleartext_listeners_agree() {
        let listen = [listener(1, false, false), listener(2, true, false)];
        let g = groups(&listen);
        assert_eq!(g.len(), 1);
        assert!(!g[0].h2c);
        assert_eq!(ports(&g[0]), [1, 2]);

        let listen = [listener(1, false, true), listener(2, true, false)];
        let g = groups(&listen);
        assert_eq!(g.len(), 1);
        assert!(g[0].h2c);
        assert_eq!(ports(&g[0]), [1, 2]);
    }

    #[test]
    fn two_services_when_only_some_cleartext_listeners_take_h2c() {
        let listen = [
            listener(1, false, false),
            listener(2, false, true),
            listener(3, true, false),
        ];
        let g = groups(&listen);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].h2c, ports(&g[0])), (false, vec![1, 3]));
        assert_eq!((g[1].h2c, ports(&g[1])), (true, vec![2]));
    }
}
