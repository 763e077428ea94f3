//! The certificates of one TLS listener: chosen for each handshake by the
//! name the player asked for (SNI, RFC 6066 section 3), and replaced as a
//! whole by a reload while connections are served. A handshake in progress
//! keeps the certificate it was given; the next one sees the new set.
//!
//! Installed into rustls as its `ResolvesServerCert`, so Pingora's listener
//! never reads certificate files itself.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::RwLock;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::certs::{load, CertError, CertSource, LoadedCert};
use crate::metrics;

/// How a handshake's certificate was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// A certificate names the SNI exactly.
    Exact(usize),
    /// A certificate's `*.` name covers the SNI.
    Wildcard(usize),
    /// No SNI, or no certificate names it: the listener's first certificate.
    Default,
}

/// The loaded certificates of a listener, the first one the default.
#[derive(Debug)]
struct CertSet {
    certs: Vec<LoadedCert>,
}

impl CertSet {
    /// RFC 6125 section 6.4: names compare case-insensitively and a wildcard
    /// stands for exactly one left-most label.
    fn choose(&self, sni: Option<&str>) -> Choice {
        let Some(sni) = sni.map(|s| s.trim_end_matches('.').to_ascii_lowercase()) else {
            return Choice::Default;
        };
        let named = |pred: &dyn Fn(&str) -> bool| {
            self.certs
                .iter()
                .position(|c| c.names.iter().any(|n| pred(n)))
        };
        if let Some(i) = named(&|n| n == sni) {
            return Choice::Exact(i);
        }
        let parent = sni.split_once('.').map(|(_, rest)| rest);
        if let Some(parent) = parent.filter(|p| !p.is_empty()) {
            if let Some(i) = named(&|n| n.strip_prefix("*.") == Some(parent)) {
                return Choice::Wildcard(i);
            }
        }
        Choice::Default
    }

    fn cert(&self, choice: Choice) -> Option<&LoadedCert> {
        match choice {
            Choice::Exact(i) | Choice::Wildcard(i) => self.certs.get(i),
            Choice::Default => self.certs.first(),
        }
    }
}

/// One TLS listener's certificates.
pub struct CertStore {
    /// The listen address, the listener's label in logs and metrics.
    listener: String,
    sources: Vec<CertSource>,
    current: RwLock<Arc<CertSet>>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("listener", &self.listener)
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl CertStore {
    /// Loads every certificate of a listener; the first is the default.
    pub fn load(
        listener: &str,
        sources: Vec<CertSource>,
        now: SystemTime,
    ) -> Result<CertStore, CertError> {
        let set = load_all(&sources, now)?;
        let store = CertStore {
            listener: listener.to_string(),
            sources,
            current: RwLock::new(Arc::new(set)),
        };
        store.publish_expiry();
        Ok(store)
    }

    pub fn listener(&self) -> &str {
        &self.listener
    }

    /// Reads every certificate again and, when all of them are good, serves
    /// them from the next handshake on. On any problem the listener keeps
    /// the set it had: a half-replaced set could break a name that worked.
    pub fn reload(&self, now: SystemTime) -> Result<(), CertError> {
        let set = load_all(&self.sources, now)?;
        *self.current.write() = Arc::new(set);
        self.publish_expiry();
        Ok(())
    }

    /// The names each certificate answers for, in configured order.
    pub fn names(&self) -> Vec<Vec<String>> {
        let set = self.current.read().clone();
        set.certs.iter().map(|c| c.names.clone()).collect()
    }

    /// The certificate a handshake asking for `sni` is given.
    pub fn choose(&self, sni: Option<&str>) -> (Choice, Option<Arc<CertifiedKey>>) {
        let set = self.current.read().clone();
        let choice = set.choose(sni);
        (choice, set.cert(choice).map(|c| c.key.clone()))
    }

    fn publish_expiry(&self) {
        let set = self.current.read().clone();
        for cert in &set.certs {
            metrics::TLS_CERT_EXPIRY
                .with_label_values(&[self.listener.as_str(), cert.label()])
                .set(cert.not_after as f64);
        }
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello.server_name();
        let (choice, key) = self.choose(sni);
        if choice == Choice::Default && sni.is_some() {
            metrics::TLS_SNI_UNMATCHED
                .with_label_values(&[self.listener.as_str()])
                .inc();
        }
        key
    }
}

fn load_all(sources: &[CertSource], now: SystemTime) -> Result<CertSet, CertError> {
    let certs = sources
        .iter()
        .map(|s| load(s, now))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CertSet { certs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&[&str]]) -> CertSet {
        // the key is never looked at by `choose`: any loaded certificate would do
        let key = Arc::new(CertifiedKey::new(Vec::new(), unusable_key()));
        CertSet {
            certs: names
                .iter()
                .map(|n| LoadedCert {
                    key: key.clone(),
                    names: n.iter().map(|s| s.to_string()).collect(),
                    not_after: 0,
                })
                .collect(),
        }
    }

    #[derive(Debug)]
    struct NoKey;
    impl rustls::sign::SigningKey for NoKey {
        fn choose_scheme(
            &self,
            _offered: &[rustls::SignatureScheme],
        ) -> Option<Box<dyn rustls::sign::Signer>> {
            None
        }
        fn algorithm(&self) -> rustls::SignatureAlgorithm {
            rustls::SignatureAlgorithm::ECDSA
        }
    }

    fn unusable_key() -> Arc<dyn rustls::sign::SigningKey> {
        Arc::new(NoKey)
    }

    #[test]
    fn sni_picks_the_exact_name_then_a_wildcard_then_the_first() {
        let s = set(&[
            &["edge.example"],
            &["*.cdn.example"],
            &["a.cdn.example", "b.example"],
        ]);
        assert_eq!(s.choose(Some("edge.example")), Choice::Exact(0));
        assert_eq!(s.choose(Some("A.CDN.example.")), Choice::Exact(2));
        assert_eq!(s.choose(Some("z.cdn.example")), Choice::Wildcard(1));
        assert_eq!(s.choose(Some("b.example")), Choice::Exact(2));
        assert_eq!(s.choose(Some("other.example")), Choice::Default);
        assert_eq!(s.choose(None), Choice::Default);
    }

    #[test]
    fn a_wildcard_covers_one_label_only() {
        let s = set(&[&["first.example"], &["*.cdn.example"]]);
        assert_eq!(s.choose(Some("x.y.cdn.example")), Choice::Default);
        assert_eq!(s.choose(Some("cdn.example")), Choice::Default);
    }
}
