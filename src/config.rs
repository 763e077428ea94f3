//! The validated configuration: one YAML file (`conf/edge.yaml`) in, one
//! `Config` out, or every problem of the file named by its key path.
//!
//! `file` is the schema as written; this module turns it into the model the
//! rest of the edge uses and from which Pingora's own `ServerConf` is built.

pub mod admin;
pub mod connections;
pub mod file;
pub mod listeners;
mod origins;
pub mod packager;
mod problems;
pub mod tokens;
pub mod units;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub use admin::AdminSettings;
pub use connections::ConnectionSettings;
pub use listeners::{ListenerConfig, TlsConfig};
pub use origins::{HealthConfig, Http2Config, OriginConfig, OriginGroupConfig, SiblingsConfig};
pub use packager::PackagerConfig;
pub use problems::{ConfigError, Problems};
pub use tokens::TokenSettings;

use file::{CacheFile, ConfigFile, RouteFile};

/// Everything the edge needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub edge: EdgeSettings,
    pub admin: AdminSettings,
    pub connections: ConnectionSettings,
    pub cache: CacheSettings,
    pub cors: CorsSettings,
    pub log: LogSettings,
    pub compression: CompressionSettings,
    pub origin_groups: BTreeMap<String, OriginGroupConfig>,
    pub routes: Vec<RouteConfig>,
    pub packager: Option<PackagerConfig>,
}

#[derive(Debug, Clone)]
pub struct EdgeSettings {
    /// This edge's name in `Cache-Status` and `CDN-Loop` (RFC 9211, RFC 8586).
    pub id: String,
    pub listen: Vec<ListenerConfig>,
    /// `Strict-Transport-Security` max-age on responses over TLS (RFC 6797);
    /// `None` sends none.
    pub hsts_max_age: Option<Duration>,
    /// HTTP/2 streams a player connection may have open at once.
    pub http2_max_streams: u32,
    /// Pingora worker threads of the proxy service.
    pub threads: usize,
    /// Whether the proxy's worker threads share their queued tasks (one
    /// multi-threaded runtime) or each keeps its own connections (one
    /// single-threaded runtime per thread).
    pub work_stealing: bool,
    /// How long a graceful shutdown lets requests in flight finish.
    pub grace_period: Duration,
    /// The secret shared with the other edges of the deployment: requests
    /// to peer origins and siblings are signed with it, and signed requests
    /// are admitted on token routes without a player token.
    pub peer_secret: Option<crate::auth::PeerSecret>,
}

#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Bound of the in-memory storage, bodies and metadata counted.
    pub max_size: u64,
    /// Objects larger than this are passed through, not stored.
    pub max_object_size: u64,
    /// Segments, parts and init sections when the origin gives no max-age.
    pub segment_ttl: Duration,
    pub vod_playlist_ttl: Duration,
    pub master_playlist_ttl: Duration,
    /// `max-age` told to players for live playlists (0 = `no-cache`).
    pub live_playlist_max_age: Duration,
    /// How long a coalesced request waits for the fill it joined.
    pub lock_timeout: Duration,
    /// How long past its freshness a stored segment may still be served when
    /// every origin fails (stale-if-error, RFC 5861).
    pub stale_if_error: Duration,
    /// Objects that are neither media nor playlists (keys, anything else).
    pub other: OtherObjects,
    /// What happens to the CMCD (CTA-5004) query parameter players add.
    pub cmcd: Cmcd,
    /// Query parameters (besides tokens and CMCD) that are not part of an
    /// object's identity: removed from the cache key and the origin request.
    pub ignore_query_params: Vec<String>,
    /// Responses that set a cookie.
    pub set_cookie: SetCookie,
    /// An operator-named targeted cache-control field (RFC 9213) that governs
    /// this edge's storage above `CDN-Cache-Control` and `Cache-Control`.
    pub targeted_field: Option<http::HeaderName>,
    /// Stored bodies of 64 KiB and more are kept in sealed memory files and
    /// sent to plaintext HTTP/1 players with `sendfile` (`sealed`).
    pub sendfile: bool,
}

/// `cache.other`: how objects that are neither media nor playlists are cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherObjects {
    /// Exactly as the origin's headers allow (RFC 9111), with no heuristic
    /// freshness: only what the origin gives a lifetime is stored.
    Rfc9111,
    /// Never stored.
    None,
}

/// `cache.cmcd`: the `CMCD` query parameter (CTA-5004) is never part of the
/// cache key; `strip` also keeps it from the origin, `forward` passes it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmcd {
    Strip,
    Forward,
}

/// `cache.set_cookie`: a response that sets a cookie is not stored (`refuse`),
/// or stored without its `Set-Cookie` (`strip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCookie {
    Refuse,
    Strip,
}

#[derive(Debug, Clone)]
pub struct CorsSettings {
    /// `Access-Control-Allow-Origin`; `None` sends no CORS headers.
    pub allow_origin: Option<String>,
}

/// `compression`: playlists sent with a content coding the player accepts
/// (gzip, br, zstd); segments never are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressionSettings {
    pub playlists: bool,
    /// 1 (fast) to 9 (small), applied to every coding.
    pub level: u32,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `RUST_LOG`-style filter (the environment variable wins when set).
    pub level: String,
    pub access_log: bool,
    /// Share (0 to 1) of requests answered below 400 that get an access log
    /// line; every error gets one.
    pub access_log_sample: f64,
    pub json: bool,
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub name: String,
    /// Path prefix, always starting with `/`; the longest matching prefix wins.
    pub prefix: String,
    pub origin_group: String,
    /// Playback tokens required on this route; `None`: a public route.
    pub tokens: Option<TokenSettings>,
    /// Store objects for the HLS lifetimes (`cache.*_ttl`) whatever lifetime
    /// the origin gives (its `no-store`, `private` and `Vary` still apply).
    pub override_origin_ttl: bool,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::read(path, format!("cannot read: {e}")))?;
        Self::parse(&text).map_err(|e| e.in_file(path))
    }

    /// Validates the text of a config file.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let file: ConfigFile =
            serde_yaml::from_str(text).map_err(|e| ConfigError::syntax(e.to_string()))?;
        let mut problems = Problems::default();
        let config = validate(file, &mut problems);
        match (problems.is_empty(), config) {
            (true, Some(config)) => Ok(config),
            _ => Err(problems.into_error()),
        }
    }
}

fn validate(file: ConfigFile, p: &mut Problems) -> Option<Config> {
    p.unknown_keys("", &file.unknown);
    let edge = &file.edge;
    p.unknown_keys("edge", &edge.unknown);
    let id = edge.id.clone().unwrap_or_else(|| "hls-edge".to_string());
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        p.push(
            "edge.id",
            format!("'{id}' must be letters, digits, '-', '_' or '.'"),
        );
    }
    let listen = listeners::listeners(edge.listen.as_deref(), p);
    let hsts_max_age = edge
        .hsts_max_age
        .as_deref()
        .and_then(|v| p.duration("edge.hsts_max_age", Some(v), ""));
    let http2_max_streams = edge.http2_max_streams.unwrap_or(128);
    if !(1..=1000).contains(&http2_max_streams) {
        p.push(
            "edge.http2_max_streams",
            format!("{http2_max_streams} is not between 1 and 1000"),
        );
    }
    let threads = edge.threads.unwrap_or(2);
    if threads == 0 || threads > 256 {
        p.push(
            "edge.threads",
            format!("{threads} is not between 1 and 256"),
        );
    }
    let grace_period = p.duration("edge.grace_period", edge.grace_period.as_deref(), "5s");

    let admin = admin::validate(&file.admin, p);
    let connections = connections::validate(&file.connections, p);
    let cache = cache_settings(&file.cache, p);
    p.unknown_keys("cors", &file.cors.unknown);
    if let Some(o) = file.cors.allow_origin.as_deref() {
        if http::HeaderValue::from_str(o).is_err() {
            p.push(
                "cors.allow_origin",
                "must be visible ASCII, as an Access-Control-Allow-Origin value".to_string(),
            );
        }
    }
    let cors = CorsSettings {
        allow_origin: match file.cors.allow_origin.as_deref() {
            Some("") => None,
            Some(o) => Some(o.to_string()),
            None => Some("*".to_string()),
        },
    };
    let log = log_settings(&file.log, p);
    let compression = compression_settings(&file.compression, p);
    let origin_groups = origins::origin_groups(&file.origin_groups, p);
    let peer_secret = peer_secret(edge.peer_secret_env.as_deref(), p);
    if peer_secret.is_none() && edge.peer_secret_env.is_none() {
        for (name, g) in &origin_groups {
            if let Some(i) = g.origins.iter().position(|o| o.peer) {
                p.push(
                    format!("origin_groups.{name}.origins[{i}].peer"),
                    "needs edge.peer_secret_env (the secret shared by the edges)",
                );
            }
        }
    }
    let routes = routes(&file.routes, &origin_groups, p);
    if routes.is_empty() && file.routes.is_empty() && file.packager.is_none() {
        p.push(
            "routes",
            "needs at least one route (or a packager section for origin-only mode)",
        );
    }
    let packager = file.packager.and_then(|f| packager::validate(f, p));
    listeners::distinct_addresses(
        &listen,
        admin.as_ref().map(|a| a.listen),
        packager.as_ref().map(|k| k.listen),
        p,
    );

    Some(Config {
        edge: EdgeSettings {
            id,
            listen,
            hsts_max_age,
            http2_max_streams,
            threads,
            work_stealing: edge.work_stealing.unwrap_or(true),
            grace_period: grace_period?,
            peer_secret,
        },
        admin: admin?,
        connections: connections?,
        cache: cache?,
        cors,
        log,
        compression,
        origin_groups,
        routes,
        packager,
    })
}

/// The peer secret from the environment variable named by
/// `edge.peer_secret_env`; problems name the variable, never its value.
fn peer_secret(var: Option<&str>, p: &mut Problems) -> Option<crate::auth::PeerSecret> {
    let var = var?;
    match std::env::var(var) {
        Ok(text) => match crate::auth::PeerSecret::new(&text) {
            Ok(secret) => Some(secret),
            Err(why) => {
                p.push("edge.peer_secret_env", format!("{var} {why}"));
                None
            }
        },
        Err(_) => {
            p.push("edge.peer_secret_env", format!("{var} is not set"));
            None
        }
    }
}

fn cache_settings(f: &CacheFile, p: &mut Problems) -> Option<CacheSettings> {
    p.unknown_keys("cache", &f.unknown);
    let max_size = p.size("cache.max_size", f.max_size.as_deref(), "256MiB");
    let max_object_size = p.size(
        "cache.max_object_size",
        f.max_object_size.as_deref(),
        "32MiB",
    );
    if let (Some(total), Some(object)) = (max_size, max_object_size) {
        if object > total {
            p.push("cache.max_object_size", "is larger than cache.max_size");
        }
    }
    let segment_ttl = p.duration("cache.segment_ttl", f.segment_ttl.as_deref(), "24h");
    let vod_playlist_ttl = p.duration(
        "cache.vod_playlist_ttl",
        f.vod_playlist_ttl.as_deref(),
        "24h",
    );
    let master_playlist_ttl = p.duration(
        "cache.master_playlist_ttl",
        f.master_playlist_ttl.as_deref(),
        "2s",
    );
    let live_playlist_max_age = p.duration(
        "cache.live_playlist_max_age",
        f.live_playlist_max_age.as_deref(),
        "0",
    );
    let lock_timeout = p.duration("cache.lock_timeout", f.lock_timeout.as_deref(), "10s");
    let stale_if_error = p.duration("cache.stale_if_error", f.stale_if_error.as_deref(), "10m");
    let other = p.choice(
        "cache.other",
        f.other.as_deref(),
        &[
            ("rfc9111", OtherObjects::Rfc9111),
            ("none", OtherObjects::None),
        ],
    );
    let cmcd = p.choice(
        "cache.cmcd",
        f.cmcd.as_deref(),
        &[("strip", Cmcd::Strip), ("forward", Cmcd::Forward)],
    );
    let set_cookie = p.choice(
        "cache.set_cookie",
        f.set_cookie.as_deref(),
        &[("refuse", SetCookie::Refuse), ("strip", SetCookie::Strip)],
    );
    let ignore_query_params = f.ignore_query_params.clone().unwrap_or_default();
    for (i, name) in ignore_query_params.iter().enumerate() {
        if name.is_empty() || name.starts_with("_HLS_") || name.contains(['&', '=', ' ']) {
            p.push(
                format!("cache.ignore_query_params[{i}]"),
                format!("'{name}' is not a query parameter name that may be ignored (_HLS_ directives select an object)"),
            );
        }
    }
    let targeted_field = f.targeted_field.as_deref().and_then(|name| {
        let parsed = http::HeaderName::from_bytes(name.as_bytes()).ok();
        if parsed.is_none() {
            p.push(
                "cache.targeted_field",
                format!("'{name}' is not a header field name"),
            );
        }
        parsed
    });
    let settings = CacheSettings {
        max_size: max_size?,
        max_object_size: max_object_size?,
        segment_ttl: segment_ttl?,
        vod_playlist_ttl: vod_playlist_ttl?,
        master_playlist_ttl: master_playlist_ttl?,
        live_playlist_max_age: live_playlist_max_age?,
        lock_timeout: lock_timeout?,
        stale_if_error: stale_if_error?,
        other,
        cmcd,
        ignore_query_params,
        set_cookie,
        targeted_field,
        sendfile: f.sendfile.unwrap_or(true),
    };
    Some(settings)
}

fn compression_settings(f: &file::CompressionFile, p: &mut Problems) -> CompressionSettings {
    p.unknown_keys("compression", &f.unknown);
    let level = f.level.unwrap_or(6);
    if !(1..=9).contains(&level) {
        p.push(
            "compression.level",
            format!("{level} is not between 1 and 9"),
        );
    }
    CompressionSettings {
        playlists: f.playlists.unwrap_or(true),
        level: level.clamp(1, 9),
    }
}

fn log_settings(f: &file::LogFile, p: &mut Problems) -> LogSettings {
    p.unknown_keys("log", &f.unknown);
    let json = match f.format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            p.push("log.format", format!("'{other}' is not one of: text, json"));
            false
        }
    };
    let level = f.level.clone().unwrap_or_else(|| "info".to_string());
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&level) {
        p.push("log.level", format!("'{level}' is not a log filter: {e}"));
    }
    let access_log_sample = f.access_log_sample.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&access_log_sample) {
        p.push(
            "log.access_log_sample",
            format!("{access_log_sample} is not between 0 and 1"),
        );
    }
    LogSettings {
        level,
        access_log: f.access_log.unwrap_or(false),
        access_log_sample: access_log_sample.clamp(0.0, 1.0),
        json,
    }
}

fn routes(
    routes: &[RouteFile],
    groups: &BTreeMap<String, OriginGroupConfig>,
    p: &mut Problems,
) -> Vec<RouteConfig> {
    let mut out = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        let path = format!("routes[{i}]");
        p.unknown_keys(&path, &r.unknown);
        let prefix = match r.prefix.as_deref() {
            Some(prefix) if prefix.starts_with('/') => prefix.to_string(),
            Some(prefix) => {
                p.push(
                    format!("{path}.prefix"),
                    format!("'{prefix}' must start with '/'"),
                );
                continue;
            }
            None => {
                p.push(format!("{path}.prefix"), "is required");
                continue;
            }
        };
        let group = match r.origin_group.as_deref() {
            Some(g) if groups.contains_key(g) => g.to_string(),
            Some(g) => {
                p.push(
                    format!("{path}.origin_group"),
                    format!("'{g}' is not defined under origin_groups"),
                );
                continue;
            }
            None => {
                p.push(
                    format!("{path}.origin_group"),
                    "is required (the origins to pull from)",
                );
                continue;
            }
        };
        if out.iter().any(|o: &RouteConfig| o.prefix == prefix) {
            p.push(
                format!("{path}.prefix"),
                format!("'{prefix}' is already used by another route"),
            );
        }
        let name = r.name.clone().unwrap_or_else(|| format!("route{i}"));
        let tokens = r
            .tokens
            .as_ref()
            .and_then(|t| tokens::validate(&format!("{path}.tokens"), t, p));
        out.push(RouteConfig {
            name,
            prefix,
            origin_group: group,
            tokens,
            override_origin_ttl: r.override_origin_ttl.unwrap_or(false),
        });
    }
    out
}

#[cfg(test)]
mod tests;
