//! The YAML file as written by an operator, before validation.
//!
//! Every section keeps the keys it does not know in `unknown`, so that
//! validation can report all of them at once with their paths instead of
//! stopping at the first one (which `deny_unknown_fields` would do). Values
//! with units (durations, sizes, addresses, URLs) stay strings here and are
//! parsed by `config::validate`, which names the key of any bad one.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

pub use super::admin::AdminFile;
pub use super::connections::ConnectionsFile;
use super::packager::PackagerFile;
use super::tokens::TokensFile;

/// Keys a section did not recognise.
pub type Unknown = BTreeMap<String, Value>;

#[derive(Debug, Default, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub edge: EdgeFile,
    #[serde(default)]
    pub admin: AdminFile,
    #[serde(default)]
    pub connections: ConnectionsFile,
    #[serde(default)]
    pub cache: CacheFile,
    #[serde(default)]
    pub cors: CorsFile,
    #[serde(default)]
    pub log: LogFile,
    #[serde(default)]
    pub compression: CompressionFile,
    #[serde(default)]
    pub origin_groups: BTreeMap<String, OriginGroupFile>,
    #[serde(default)]
    pub routes: Vec<RouteFile>,
    pub packager: Option<PackagerFile>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `edge:` who this edge is and where it listens for players.
#[derive(Debug, Default, Deserialize)]
pub struct EdgeFile {
    pub id: Option<String>,
    /// Addresses, or maps with `addr`, `tls`, `h2c` (see `config::listeners`).
    pub listen: Option<Vec<Value>>,
    pub threads: Option<usize>,
    /// Whether an idle worker thread may take tasks queued on another.
    pub work_stealing: Option<bool>,
    /// `Strict-Transport-Security: max-age` sent on TLS responses (RFC 6797).
    pub hsts_max_age: Option<String>,
    /// HTTP/2 streams one player connection may have open at once.
    pub http2_max_streams: Option<u32>,
    pub grace_period: Option<String>,
    /// Environment variable holding the secret shared by the edges of a
    /// deployment (tiers and siblings).
    pub peer_secret_env: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `cache:` storage bound and the TTL of each object class.
#[derive(Debug, Default, Deserialize)]
pub struct CacheFile {
    pub max_size: Option<String>,
    pub max_object_size: Option<String>,
    pub segment_ttl: Option<String>,
    pub vod_playlist_ttl: Option<String>,
    pub master_playlist_ttl: Option<String>,
    pub live_playlist_max_age: Option<String>,
    pub lock_timeout: Option<String>,
    pub stale_if_error: Option<String>,
    pub other: Option<String>,
    pub cmcd: Option<String>,
    pub ignore_query_params: Option<Vec<String>>,
    pub set_cookie: Option<String>,
    pub targeted_field: Option<String>,
    pub sendfile: Option<bool>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `cors:` what browsers are told.
#[derive(Debug, Default, Deserialize)]
pub struct CorsFile {
    pub allow_origin: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `compression:` content codings the edge applies to playlists.
#[derive(Debug, Default, Deserialize)]
pub struct CompressionFile {
    pub playlists: Option<bool>,
    pub level: Option<u32>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `log:` access log and diagnostics.
#[derive(Debug, Default, Deserialize)]
pub struct LogFile {
    pub level: Option<String>,
    pub access_log: Option<bool>,
    /// Share of successful requests logged (errors always are).
    pub access_log_sample: Option<f64>,
    pub format: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `origin_groups.NAME:` the origins a route pulls from.
#[derive(Debug, Default, Deserialize)]
pub struct OriginGroupFile {
    #[serde(default)]
    pub origins: Vec<OriginFile>,
    pub connect_timeout: Option<String>,
    pub read_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub health: Option<HealthFile>,
    pub retry_404_segments: Option<bool>,
    /// HTTP/2 to the group's origins: ALPN on https, prior knowledge on http.
    pub http2: Option<bool>,
    pub http2_max_streams: Option<u32>,
    pub siblings: Option<SiblingsFile>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `origin_groups.NAME.origins[i]:` one origin server.
#[derive(Debug, Default, Deserialize)]
pub struct OriginFile {
    pub url: Option<String>,
    pub priority: Option<u32>,
    pub weight: Option<u32>,
    pub tls_verify: Option<bool>,
    /// The origin is another hls-edge: requests to it are signed as a peer's.
    pub peer: Option<bool>,
    pub connect_timeout: Option<String>,
    pub read_timeout: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `origin_groups.NAME.health:` ejection, probes and stale playlists.
#[derive(Debug, Default, Deserialize)]
pub struct HealthFile {
    pub failures: Option<u32>,
    pub cooldown: Option<String>,
    pub slow: Option<String>,
    pub probe_path: Option<String>,
    pub probe_interval: Option<String>,
    pub probe_timeout: Option<String>,
    pub stale_after: Option<u32>,
    pub failure_ratio: Option<f64>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `origin_groups.NAME.siblings:` edges sharing one cache.
#[derive(Debug, Default, Deserialize)]
pub struct SiblingsFile {
    #[serde(default)]
    pub peers: Vec<String>,
    #[serde(rename = "self")]
    pub me: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `routes[i]:` a path prefix served from an origin group.
#[derive(Debug, Default, Deserialize)]
pub struct RouteFile {
    pub name: Option<String>,
    pub prefix: Option<String>,
    pub origin_group: Option<String>,
    pub tokens: Option<TokensFile>,
    pub override_origin_ttl: Option<bool>,
    #[serde(flatten)]
    pub unknown: Unknown,
}
