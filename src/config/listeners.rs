//! `edge.listen`: where players connect, in cleartext or over TLS.
//!
//! An entry is an address (`"0.0.0.0:8080"`: HTTP/1.1 in cleartext) or a map:
//!
//! ```yaml
//! - addr: "0.0.0.0:8443"
//!   tls:
//!     cert: conf/tls/edge.crt      # PEM chain, end-entity first
//!     key: conf/tls/edge.key       # or key_env: VAR holding the PEM text
//! - addr: "10.0.0.5:8080"
//!   h2c: true                      # HTTP/2 with prior knowledge, for tiers
//! ```
//!
//! Several certificates chosen by SNI go under `tls.certificates`. Every
//! certificate is read and checked here (so `-t` names a missing file, a key
//! that is not the certificate's or an expired certificate by its key path);
//! the listener loads them again when it starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Deserialize;
use serde_yaml::Value;

use super::file::Unknown;
use super::Problems;
use crate::tls::{self, CertSource, KeySource};

/// One player-facing listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    pub addr: SocketAddr,
    pub tls: Option<TlsConfig>,
    /// Cleartext HTTP/2 with prior knowledge (RFC 9113 section 3.3) besides
    /// HTTP/1.1; for tier-to-tier traffic on a trusted network.
    pub h2c: bool,
}

impl std::fmt::Display for ListenerConfig {
    /// `https://ADDR` (with `h2` when offered), `http://ADDR` (`h2c`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.tls, self.h2c) {
            (Some(tls), _) if tls.http2 => write!(f, "https://{} (h2, http/1.1)", self.addr),
            (Some(_), _) => write!(f, "https://{} (http/1.1)", self.addr),
            (None, true) => write!(f, "http://{} (http/1.1, h2c)", self.addr),
            (None, false) => write!(f, "http://{}", self.addr),
        }
    }
}

/// `edge.listen[i].tls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The first is served when the SNI names none of them.
    pub certificates: Vec<CertSource>,
    /// Offer HTTP/2 by ALPN (`h2`, then `http/1.1`); default true.
    pub http2: bool,
}

/// A listen entry written as a map.
#[derive(Debug, Default, Deserialize)]
pub struct ListenFile {
    pub addr: Option<String>,
    pub tls: Option<TlsFile>,
    pub h2c: Option<bool>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `tls:` one certificate inline, or several under `certificates`.
#[derive(Debug, Default, Deserialize)]
pub struct TlsFile {
    #[serde(flatten)]
    pub one: CertFile,
    pub certificates: Option<Vec<CertFile>>,
    pub http2: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CertFile {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub key_env: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

impl CertFile {
    fn is_empty(&self) -> bool {
        self.cert.is_none() && self.key.is_none() && self.key_env.is_none()
    }
}

/// Every address the edge listens on must be its own: Pingora gives two services
/// configured with one address one socket, and each connection goes to either of them
/// (the admin API answering player requests, or the packager answering `/metrics`).
/// `edge.listen` repeats are reported by [`listeners`]; this checks the admin and
/// packager listeners against every other one.
pub(super) fn distinct_addresses(
    edge: &[ListenerConfig],
    admin: Option<SocketAddr>,
    packager: Option<SocketAddr>,
    p: &mut Problems,
) {
    let mut seen: Vec<(String, SocketAddr)> = edge
        .iter()
        .enumerate()
        .map(|(i, l)| (format!("edge.listen[{i}]"), l.addr))
        .collect();
    for (key, addr) in [("admin.listen", admin), ("packager.listen", packager)] {
        let Some(addr) = addr else { continue };
        if let Some((other, _)) = seen.iter().find(|(_, a)| clash(*a, addr)) {
            p.push(
                key,
                format!("{addr} is also {other}: each listener needs its own port"),
            );
        }
        seen.push((key.to_string(), addr));
    }
}

/// Whether two listeners would share a socket: one port, and one address or a wildcard.
fn clash(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Validates `edge.listen` (default: `0.0.0.0:8080` in cleartext).
pub(super) fn listeners(entries: Option<&[Value]>, p: &mut Problems) -> Vec<ListenerConfig> {
    let Some(entries) = entries else {
        return vec![ListenerConfig {
            addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            tls: None,
            h2c: false,
        }];
    };
    if entries.is_empty() {
        p.push("edge.listen", "needs at least one address");
    }
    let mut out: Vec<(usize, ListenerConfig)> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("edge.listen[{i}]");
        let Some(listener) = listener(&path, entry, p) else {
            continue;
        };
        if let Some((j, _)) = out.iter().find(|(_, l)| l.addr == listener.addr) {
            p.push(path, format!("{} repeats edge.listen[{j}]", listener.addr));
            continue;
        }
        out.push((i, listener));
    }
    out.into_iter().map(|(_, l)| l).collect()
}

fn listener(path: &str, entry: &Value, p: &mut Problems) -> Option<ListenerConfig> {
    if let Some(text) = entry.as_str() {
        let addr = p.socket_addr(path, Some(text), "")?;
        return Some(ListenerConfig {
            addr,
            tls: None,
            h2c: false,
        });
    }
    let file: ListenFile = match serde_yaml::from_value(entry.clone()) {
        Ok(file) => file,
        Err(e) => {
            p.push(
                path,
                format!("is neither an address nor a listener map: {e}"),
            );
            return None;
        }
    };
    p.unknown_keys(path, &file.unknown);
    let addr = p.socket_addr(&format!("{path}.addr"), file.addr.as_deref(), "");
    let h2c = file.h2c.unwrap_or(false);
    if h2c && file.tls.is_some() {
        p.push(
            format!("{path}.h2c"),
            "is for cleartext listeners: a TLS listener offers HTTP/2 by ALPN (tls.http2)",
        );
    }
    let tls = file
        .tls
        .as_ref()
        .and_then(|t| tls_config(&format!("{path}.tls"), t, p));
    Some(ListenerConfig {
        addr: addr?,
        tls,
        h2c,
    })
}

fn tls_config(path: &str, file: &TlsFile, p: &mut Problems) -> Option<TlsConfig> {
    let listed = file.certificates.as_deref().unwrap_or_default();
    let mut certificates = Vec::new();
    let mut good = true;
    p.unknown_keys(path, &file.one.unknown);
    match (file.one.is_empty(), file.certificates.is_some()) {
        (false, true) => {
            p.push(
                format!("{path}.certificates"),
                "give one certificate as cert/key or several under certificates, not both",
            );
            return None;
        }
        (true, false) => {
            p.push(
                format!("{path}.cert"),
                "is required (or a list under certificates)",
            );
            return None;
        }
        (false, false) => good &= push_cert(path, &file.one, &mut certificates, p),
        (true, true) => {
            if listed.is_empty() {
                p.push(
                    format!("{path}.certificates"),
                    "needs at least one certificate",
                );
            }
            for (i, cert) in listed.iter().enumerate() {
                let cpath = format!("{path}.certificates[{i}]");
                p.unknown_keys(&cpath, &cert.unknown);
                good &= push_cert(&cpath, cert, &mut certificates, p);
            }
        }
    }
    (good && !certificates.is_empty()).then(|| TlsConfig {
        certificates,
        http2: file.http2.unwrap_or(true),
    })
}

/// Checks one certificate now and adds its source; false on a problem.
fn push_cert(path: &str, file: &CertFile, out: &mut Vec<CertSource>, p: &mut Problems) -> bool {
    let Some(source) = cert_source(path, file, p) else {
        return false;
    };
    match tls::certs::load(&source, SystemTime::now()) {
        Ok(loaded) => {
            if let Some(j) = out.iter().position(|s| s.cert == source.cert) {
                p.push(format!("{path}.cert"), format!("repeats certificate {j}"));
                return false;
            }
            tracing::debug!(names = ?loaded.names, "certificate checked");
            out.push(source);
            true
        }
        Err(e) => {
            let key = match (e.part(), &source.key) {
                (tls::certs::Part::Cert, _) => "cert",
                (tls::certs::Part::Key, KeySource::Env(_)) => "key_env",
                (tls::certs::Part::Key, KeySource::File(_)) => "key",
            };
            p.push(format!("{path}.{key}"), e.to_string());
            false
        }
    }
}

fn cert_source(path: &str, file: &CertFile, p: &mut Problems) -> Option<CertSource> {
    let cert = match file.cert.as_deref() {
        Some(c) if !c.is_empty() => PathBuf::from(c),
        _ => {
            p.push(
                format!("{path}.cert"),
                "is required (a PEM certificate chain file)",
            );
            return None;
        }
    };
    let key = match (file.key.as_deref(), file.key_env.as_deref()) {
        (Some(k), None) if !k.is_empty() => KeySource::File(PathBuf::from(k)),
        (None, Some(var)) if !var.is_empty() => KeySource::Env(var.to_string()),
        (Some(_), Some(_)) => {
            p.push(format!("{path}.key_env"), "give key or key_env, not both");
            return None;
        }
        _ => {
            p.push(
                format!("{path}.key"),
                "is required (a PEM key file, or key_env naming a variable that holds it)",
            );
            return None;
        }
    };
    Some(CertSource { cert, key })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const ROUTES: &str = "origin_groups: {g: {origins: [{url: 'http://127.0.0.1:8081'}]}}\nroutes: [{prefix: /hls/, origin_group: g}]\n";

    fn problems(edge: &str) -> Vec<String> {
        let text = format!("edge:\n{edge}\n{ROUTES}");
        match Config::parse(&text) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .problems()
                .iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect(),
        }
    }

    #[test]
    fn cleartext_entries_as_text_or_maps() {
        let text = format!(
            "edge:\n  listen: [\"127.0.0.1:8080\", {{addr: \"127.0.0.1:8081\", h2c: true}}]\n{ROUTES}"
        );
        let c = Config::parse(&text).expect("valid");
        let l = &c.edge.listen;
        assert_eq!((l[0].addr.port(), l[0].h2c), (8080, false));
        assert_eq!((l[1].addr.port(), l[1].h2c), (8081, true));
        assert_eq!(l[1].to_string(), "http://127.0.0.1:8081 (http/1.1, h2c)");
    }

    #[test]
    fn shape_problems_are_named_by_key_path() {
        let got = problems(
            "  listen:\n    - {addr: \"127.0.0.1:8443\", h2c: true, tls: {cert: /nonexistent.crt, key: /nonexistent.key}, colour: blue}\n    - {tls: {key: k.pem}}\n    - {addr: \"127.0.0.1:8444\", tls: {cert: a.crt, key: a.key, key_env: A}}\n    - {addr: \"127.0.0.1:8445\", tls: {cert: a.crt, key: a.key, certificates: []}}\n    - \"127.0.0.1:8080\"\n    - \"127.0.0.1:8080\"\n    - 42",
        );
        let expected = [
            "edge.listen[0].colour: unknown key",
            "edge.listen[0].h2c: is for cleartext listeners",
            "edge.listen[0].tls.cert: cannot read /nonexistent.crt",
            "edge.listen[1].addr: is required",
            "edge.listen[1].tls.cert: is required",
            "edge.listen[2].tls.key_env: give key or key_env, not both",
            "edge.listen[3].tls.certificates: give one certificate",
            "edge.listen[5]: 127.0.0.1:8080 repeats edge.listen[4]",
            "edge.listen[6]: is neither an address nor a listener map",
        ];
        for e in expected {
            assert!(
                got.iter().any(|g| g.starts_with(e)),
                "missing {e:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expected.len(), "{got:#?}");
    }

    #[test]
    fn an_empty_list_and_bad_numbers_are_refused() {
        let got = problems("  listen: []\n  http2_max_streams: 0\n  hsts_max_age: soon");
        assert!(
            got.iter()
                .any(|g| g.starts_with("edge.listen: needs at least one")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|g| g.starts_with("edge.http2_max_streams: 0 is not")),
            "{got:?}"
        );
        assert!(
            got.iter().any(|g| g.starts_with("edge.hsts_max_age:")),
            "{got:?}"
        );
    }

    #[test]
    fn two_listeners_never_share_an_address() {
        let got = problems(
            "  listen: [\"127.0.0.1:8080\"]\nadmin:\n  listen: 0.0.0.0:8080\n  token_env: T",
        );
        assert!(
            got.iter().any(|g| g
                == "admin.listen: 0.0.0.0:8080 is also edge.listen[0]: each listener needs its own port"),
            "{got:#?}"
        );
        // the admin API's default address, taken by the packager
        let got = problems(
            "  listen: [\"127.0.0.1:8080\"]\npackager:\n  listen: 127.0.0.1:9090\n  streams: []",
        );
        assert!(
            got.iter().any(|g| g
                == "packager.listen: 127.0.0.1:9090 is also admin.listen: each listener needs its own port"),
            "{got:#?}"
        );
        let apart = problems("  listen: [\"127.0.0.1:8080\"]\nadmin:\n  listen: 127.0.0.1:8090");
        assert!(apart.is_empty(), "{apart:#?}");
    }
}
