//! `routes[i].tokens:` playback tokens on a route (design section 4).
//!
//! Keys are never written in the file itself: each comes from an environment
//! variable or a file holding its hex, so that a config can be shared and
//! logged. A problem names the variable or file, never the key.

use std::time::Duration;

use serde::Deserialize;

use super::file::Unknown;
use super::Problems;
use crate::auth::{Algorithm, TokenConfig, TokenKey};

/// The section as written.
#[derive(Debug, Default, Deserialize)]
pub struct TokensFile {
    pub required: Option<bool>,
    #[serde(default)]
    pub keys: Vec<KeyFile>,
    pub algorithm: Option<String>,
    pub escape_early: Option<bool>,
    pub name: Option<String>,
    pub session_name: Option<String>,
    pub session_ttl: Option<String>,
    pub bind_ip: Option<bool>,
    pub clock_skew: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `keys[i]:` where one key's hex is read from.
#[derive(Debug, Default, Deserialize)]
pub struct KeyFile {
    pub env: Option<String>,
    pub file: Option<String>,
    pub label: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// A route's validated token settings.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// Keys tried in turn (rotation); the first signs session tokens.
    pub keys: Vec<TokenKey>,
    pub format: TokenConfig,
    /// Entry token name in the query, a cookie or a path segment (`hdnts`).
    pub name: String,
    /// Session token name the edge writes into playlists (`hdntl`).
    pub session_name: String,
    pub session_ttl: Duration,
    /// Session tokens carry the client's address (`ip=`).
    pub bind_ip: bool,
    pub clock_skew: Duration,
}

/// Validates `tokens:` at `path`; `None` when the route is public.
pub fn validate(path: &str, file: &TokensFile, p: &mut Problems) -> Option<TokenSettings> {
    p.unknown_keys(path, &file.unknown);
    if file.required == Some(false) {
        return None;
    }
    let algorithm = match file
        .algorithm
        .as_deref()
        .unwrap_or("sha256")
        .parse::<Algorithm>()
    {
        Ok(a) => Some(a),
        Err(_) => {
            p.push(
                format!("{path}.algorithm"),
                "is not one of: sha256, sha1, md5",
            );
            None
        }
    };
    if file.keys.is_empty() {
        p.push(
            format!("{path}.keys"),
            "needs at least one key (env: VAR or file: PATH holding its hex)",
        );
    }
    let keys: Vec<TokenKey> = file
        .keys
        .iter()
        .enumerate()
        .filter_map(|(i, k)| key(&format!("{path}.keys[{i}]"), k, p))
        .collect();
    let session_ttl = p.duration(
        &format!("{path}.session_ttl"),
        file.session_ttl.as_deref(),
        "4h",
    );
    let clock_skew = p.duration(
        &format!("{path}.clock_skew"),
        file.clock_skew.as_deref(),
        "5s",
    );
    let name = token_name(
        &format!("{path}.name"),
        file.name.as_deref().unwrap_or("hdnts"),
        p,
    );
    let session_name = token_name(
        &format!("{path}.session_name"),
        file.session_name.as_deref().unwrap_or("hdntl"),
        p,
    );
    if name.is_some() && name == session_name {
        p.push(
            format!("{path}.session_name"),
            "must differ from name (entry and session tokens are told apart by it)",
        );
    }
    if keys.len() != file.keys.len() {
        return None;
    }
    Some(TokenSettings {
        keys,
        format: TokenConfig {
            algorithm: algorithm?,
            escape_early: file.escape_early.unwrap_or(false),
            ..TokenConfig::default()
        },
        name: name?,
        session_name: session_name?,
        session_ttl: session_ttl?,
        bind_ip: file.bind_ip.unwrap_or(false),
        clock_skew: clock_skew?,
    })
}

fn key(path: &str, k: &KeyFile, p: &mut Problems) -> Option<TokenKey> {
    p.unknown_keys(path, &k.unknown);
    let (origin, hex) = match (&k.env, &k.file) {
        (Some(var), None) => match std::env::var(var) {
            Ok(v) => (format!("environment variable {var}"), v),
            Err(_) => {
                p.push(format!("{path}.env"), format!("{var} is not set"));
                return None;
            }
        },
        (None, Some(file)) => match std::fs::read_to_string(file) {
            Ok(v) => (format!("file {file}"), v),
            Err(e) => {
                p.push(format!("{path}.file"), format!("cannot read {file}: {e}"));
                return None;
            }
        },
        _ => {
            p.push(path.to_string(), "needs exactly one of env or file");
            return None;
        }
    };
    match TokenKey::from_hex(hex.trim()) {
        Ok(key) => match key.strength() {
            Ok(()) => Some(match &k.label {
                Some(label) => key.with_label(label.clone()),
                None => key,
            }),
            Err(weak) => {
                p.push(
                    path.to_string(),
                    format!("the key in {origin} is too weak: it {weak} (make one with: openssl rand -hex 32)"),
                );
                None
            }
        },
        Err(e) => {
            p.push(
                path.to_string(),
                format!("the key in {origin} is not usable: {e}"),
            );
            None
        }
    }
}

fn token_name(path: &str, name: &str, p: &mut Problems) -> Option<String> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Some(name.to_string())
    } else {
        p.push(
            path.to_string(),
            format!("'{name}' must be letters, digits, '_' or '-'"),
        );
        None
    }
}
