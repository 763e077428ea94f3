//! One certificate of a TLS listener: its chain and private key read from PEM
//! (files, or the key from an environment variable), and the checks an
//! operator wants before a start or a reload rather than at the first
//! handshake: the chain parses, the key parses and belongs to the first
//! certificate, and that certificate is valid now. Also the names it answers
//! for (SNI) and when it expires.
//!
//! No listener or Pingora types here; the clock is passed in.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use x509_parser::extensions::GeneralName;

/// Where a certificate's private key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A PEM file.
    File(PathBuf),
    /// An environment variable holding the PEM text (its value is never shown).
    Env(String),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "file {}", path.display()),
            KeySource::Env(var) => write!(f, "env {var}"),
        }
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "{}", path.display()),
            KeySource::Env(var) => write!(f, "${var}"),
        }
    }
}

/// A certificate chain file and its key, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSource {
    pub cert: PathBuf,
    pub key: KeySource,
}

/// Which half of a `CertSource` a problem is about (it names the config key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Cert,
    Key,
}

/// Why a certificate cannot be served. Messages name files and variables,
/// never key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("cannot read {path}: {reason}")]
    ReadCert { path: String, reason: String },
    #[error("{path} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")")]
    NoCertificate { path: String },
    #[error("{path}: the first certificate does not parse: {reason}")]
    BadCertificate { path: String, reason: String },
    #[error("cannot read {path}: {reason}")]
    ReadKey { path: String, reason: String },
    #[error("{var} is not set")]
    KeyEnvUnset { var: String },
    #[error("{key} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { key: String },
    #[error("{key}: the private key is not usable: {reason}")]
    BadKey { key: String, reason: String },
    #[error("the key {key} does not belong to the certificate {path}")]
    Mismatch { key: String, path: String },
    #[error("certificate {path} expired at {at}")]
    Expired { path: String, at: String },
    #[error("certificate {path} is not valid before {at}")]
    NotYetValid { path: String, at: String },
}

impl CertError {
    /// The half of the source the problem is about.
    pub fn part(&self) -> Part {
        match self {
            CertError::ReadKey { .. }
            | CertError::KeyEnvUnset { .. }
            | CertError::NoKey { .. }
            | CertError::BadKey { .. }
            | CertError::Mismatch { .. } => Part::Key,
            _ => Part::Cert,
        }
    }
}

/// A certificate ready to serve.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    pub key: Arc<CertifiedKey>,
    /// DNS names (lowercase, `*.` kept for wildcards) and IP addresses it is
    /// valid for: its subjectAltName entries, else its subject CN.
    pub names: Vec<String>,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
}

impl LoadedCert {
    /// The name shown in logs and metrics: its first name, else `unnamed`.
    pub fn label(&self) -> &str {
        self.names.first().map_or("unnamed", String::as_str)
    }
}

/// Reads and checks a certificate and its key at time `now`.
pub fn load(source: &CertSource, now: SystemTime) -> Result<LoadedCert, CertError> {
    let path = source.cert.display().to_string();
    let chain = read_chain(&source.cert)?;
    let facts = inspect(&chain[0], &path)?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if now > facts.not_after {
        return Err(CertError::Expired {
            path,
            at: facts.not_after_text,
        });
    }
    if now < facts.not_before {
        return Err(CertError::NotYetValid {
            path,
            at: facts.not_before_text,
        });
    }
    let key = read_key(&source.key)?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| CertError::BadKey {
            key: source.key.to_string(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    // rustls compares the key's SubjectPublicKeyInfo with the certificate's
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        certified.keys_match()
    {
        return Err(CertError::Mismatch {
            key: source.key.to_string(),
            path,
        });
    }
    Ok(LoadedCert {
        key: Arc::new(certified),
        names: facts.names,
        not_after: facts.not_after,
    })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|e| CertError::ReadCert {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| CertError::BadCertificate {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate { path: shown });
    }
    Ok(chain)
}

fn read_key(source: &KeySource) -> Result<PrivateKeyDer<'static>, CertError> {
    let pem = match source {
        KeySource::File(path) => std::fs::read(path).map_err(|e| CertError::ReadKey {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?,
        KeySource::Env(var) => std::env::var(var)
            .map_err(|_| CertError::KeyEnvUnset { var: var.clone() })?
            .into_bytes(),
    };
    // the PEM parser's own error could quote the input: never shown
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| CertError::NoKey {
        key: source.to_string(),
    })
}

/// What the edge needs to know of the end-entity certificate.
struct CertFacts {
    names: Vec<String>,
    not_before: i64,
    not_after: i64,
    not_before_text: String,
    not_after_text: String,
}

fn inspect(der: &CertificateDer<'_>, path: &str) -> Result<CertFacts, CertError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| CertError::BadCertificate {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
    let validity = cert.validity();
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_ascii_lowercase()),
                GeneralName::IPAddress(ip) => names.extend(ip_text(ip)),
                _ => {}
            }
        }
    }
    // RFC 6125 6.4.4: the CN is only looked at when there is no SAN
    if names.is_empty() {
        let cn = cert.subject().iter_common_name().next();
        if let Some(cn) = cn.and_then(|cn| cn.as_str().ok()) {
            names.push(cn.to_ascii_lowercase());
        }
    }
    Ok(CertFacts {
        names,
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        not_before_text: validity.not_before.to_string(),
        not_after_text: validity.not_after.to_string(),
    })
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv4Addr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_a_certificate_problem_and_names_the_file() {
        let source = CertSource {
            cert: PathBuf::from("/nonexistent/edge.crt"),
            key: KeySource::File(PathBuf::from("/nonexistent/edge.key")),
        };
        let e = load(&source, SystemTime::now()).unwrap_err();
        assert_eq!(e.part(), Part::Cert);
        assert!(e.to_string().contains("/nonexistent/edge.crt"), "{e}");
    }

    #[test]
    fn an_env_key_is_shown_by_its_variable_only() {
        let key = KeySource::Env("EDGE_TLS_KEY".into());
        assert_eq!(key.to_string(), "$EDGE_TLS_KEY");
        assert_eq!(format!("{key:?}"), "env EDGE_TLS_KEY");
    }

    #[test]
    fn ip_addresses_are_written_as_text() {
        assert_eq!(ip_text(&[127, 0, 0, 1]).as_deref(), Some("127.0.0.1"));
        let v6 = std::net::Ipv6Addr::LOCALHOST.octets();
        assert_eq!(ip_text(&v6).as_deref(), Some("::1"));
        assert_eq!(ip_text(&[1, 2, 3]), None);
    }
}
