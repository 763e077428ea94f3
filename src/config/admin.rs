//! `admin:` the operator's listener (`/metrics`, `/status`, `/healthz`,
//! `/readyz`, the session API) and what guards it.
//!
//! The bearer token comes from an environment variable or a file, never
//! from the config itself, and must be strong (`crate::auth::strength`).
//! An admin listener off loopback without a token is refused: anyone who
//! can reach it could revoke sessions.

use std::net::SocketAddr;

use serde::Deserialize;

use super::file::Unknown;
use super::Problems;
use crate::auth::BearerToken;

/// The section as written.
#[derive(Debug, Default, Deserialize)]
pub struct AdminFile {
    pub listen: Option<String>,
    /// Environment variable holding the bearer token.
    pub token_env: Option<String>,
    /// File holding the bearer token.
    pub token_file: Option<String>,
    /// Host names (besides IP literals and `localhost`) the admin listener
    /// answers to.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// The validated section.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub listen: SocketAddr,
    /// Required on every endpoint but `/healthz` and `/readyz` when set.
    pub token: Option<BearerToken>,
    /// Extra `Host` names accepted (lower case, without port).
    pub allowed_hosts: Vec<String>,
}

pub fn validate(f: &AdminFile, p: &mut Problems) -> Option<AdminSettings> {
    p.unknown_keys("admin", &f.unknown);
    let listen = p.socket_addr("admin.listen", f.listen.as_deref(), "127.0.0.1:9090");
    let token = token(f, p);
    if let (Some(addr), None) = (listen, &token) {
        if !addr.ip().is_loopback() && f.token_env.is_none() && f.token_file.is_none() {
            p.push(
                "admin.listen",
                format!("{addr} is not a loopback address: set admin.token_env or admin.token_file so that the admin API needs a bearer token"),
            );
        }
    }
    let mut allowed_hosts = Vec::new();
    for (i, host) in f.allowed_hosts.iter().enumerate() {
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if valid {
            allowed_hosts.push(host.to_ascii_lowercase());
        } else {
            p.push(
                format!("admin.allowed_hosts[{i}]"),
                format!("'{host}' is not a host name (letters, digits, '-' and '.'; no port)"),
            );
        }
    }
    Some(AdminSettings {
        listen: listen?,
        token,
        allowed_hosts,
    })
}

/// The token from `token_env` or `token_file`; problems name the variable
/// or file, never the token.
fn token(f: &AdminFile, p: &mut Problems) -> Option<BearerToken> {
    let (key, origin, text) = match (&f.token_env, &f.token_file) {
        (None, None) => return None,
        (Some(_), Some(_)) => {
            p.push("admin", "has both token_env and token_file: keep one");
            return None;
        }
        (Some(var), None) => match std::env::var(var) {
            Ok(text) => ("admin.token_env", var.clone(), text),
            Err(_) => {
                p.push("admin.token_env", format!("{var} is not set"));
                return None;
            }
        },
        (None, Some(file)) => match std::fs::read_to_string(file) {
            Ok(text) => ("admin.token_file", file.clone(), text),
            Err(e) => {
                p.push("admin.token_file", format!("cannot read {file}: {e}"));
                return None;
            }
        },
    };
    match BearerToken::new(&text) {
        Ok(token) => Some(token),
        Err(weak) => {
            p.push(
                key,
                format!("the token in {origin} is too weak: it {weak} (make one with: openssl rand -hex 32)"),
            );
            None
        }
    }
}
