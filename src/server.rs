//! Builds the Pingora server from the one config file: the player-facing
//! proxy (when routes are configured), the admin listener, and the packager
//! when configured (origin-only mode has a packager and no routes).

use std::sync::Arc;
use std::time::Instant;

use pingora::apps::http_app::HttpServer;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::admin::Admin;
use crate::auth::Revocations;
use crate::cache::EdgeCache;
use crate::config::Config;
use crate::connections::ConnectionBook;
use crate::listeners::ListenerError;
use crate::proxy::access_log::AccessLog;
use crate::proxy::delivery::Delivery;
use crate::proxy::response_headers::ResponseDecor;
use crate::proxy::Edge;
use crate::routing::RouteError;
use crate::routing::RouteTable;
use crate::streams::StreamBook;
use crate::tls::CertReload;

/// Why the server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Routes(#[from] RouteError),
    #[error(transparent)]
    Listener(#[from] ListenerError),
}

/// Pingora's own settings, derived from ours (the operator sees one file).
fn server_conf(config: &Config) -> ServerConf {
    let mut conf = ServerConf {
        threads: config.edge.threads,
        work_stealing: config.edge.work_stealing,
        grace_period_seconds: Some(config.edge.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(config.edge.grace_period.as_secs().max(1)),
        upstream_keepalive_pool_size: 256,
        ..ServerConf::default()
    };
    // each origin of a group is tried at most once per request, after the
    // owning sibling when the group is sharded
    conf.max_retries = config
        .origin_groups
        .values()
        .map(|g| g.origins.len() + usize::from(g.siblings.is_some()))
        .max()
        .unwrap_or(1);
    let port = config.edge.listen.first().map_or(0, |l| l.addr.port());
    conf.upgrade_sock = format!("/tmp/hls-edge-{port}-upgrade.sock");
    conf.pid_file = format!("/tmp/hls-edge-{port}.pid");
    conf
}

/// Sealed bodies hold one open file each (`crate::sealed`): the soft limit is
/// lifted to the hard one, and half of it is theirs.
fn open_files_for_sealed_bodies() {
    match crate::sealed::raise_open_file_limit() {
        Ok(limit) => tracing::info!(
            open_files = limit,
            sealed_files = limit / 2,
            shmem_huge_pages = crate::sealed::host_huge_pages()
                .as_deref()
                .unwrap_or("unknown"),
            "stored bodies of 64 KiB and more are sent with sendfile"
        ),
        Err(e) => tracing::warn!(error = %e, "the open-file limit could not be read or raised"),
    }
}

/// Builds every service of the edge; `run` starts them.
pub fn build(config: &Config, opt: Opt) -> Result<Server, StartError> {
    let mut server = Server::new_with_opt_and_conf(Some(opt), server_conf(config));
    server.bootstrap();
    crate::metrics::register_all();
    if config.cache.sendfile {
        open_files_for_sealed_bodies();
        crate::sealed::set_cache_size(config.cache.max_size);
    }

    let revocations = Arc::new(Revocations::new());
    let routes = Arc::new(RouteTable::new(config, &revocations)?);
    let cache = EdgeCache::new(&config.cache, token_names(config));
    let storage = cache.storage;
    let streams = Arc::new(StreamBook::new());
    let decor = ResponseDecor {
        edge_id: config.edge.id.clone(),
        // checked by the config: a valid header value
        allow_origin: config
            .cors
            .allow_origin
            .as_deref()
            .and_then(|o| http::HeaderValue::from_str(o).ok()),
    };
    let mut cert_stores = Vec::new();
    if !config.routes.is_empty() {
        let peer_secret = config.edge.peer_secret.clone();
        let edge = || {
            let access_log = config
                .log
                .access_log
                .then(|| AccessLog::new(config.log.access_log_sample));
            Edge::new(
                routes.clone(),
                cache.clone(),
                decor.clone(),
                access_log,
                peer_secret.clone(),
                streams.clone(),
            )
            .with_connections(config.connections)
            .with_delivery(Delivery::new(config))
        };
        // connection limits and timeouts wrap the proxy app (src/connections.rs),
        // one book for all; one service per h2c setting (Pingora sets h2c per
        // service, src/listeners.rs)
        let connections = &config.connections;
        let book = ConnectionBook::new(connections.max, connections.max_per_client);
        for group in crate::listeners::groups(&config.edge.listen) {
            let mut app = pingora::proxy::http_proxy(&server.configuration, edge());
            crate::listeners::configure(&mut app, &group, config);
            let mut proxy = crate::connections::proxy_service(
                app,
                book.clone(),
                *connections,
                config.edge.grace_period,
                group.name(),
            );
            cert_stores.extend(crate::listeners::add_listeners(&mut proxy, &group)?);
            server.add_service(proxy);
        }
        let probes =
            crate::upstream::health_services(&routes.groups(), config.edge.peer_secret.as_ref());
        server.add_services(probes);
    }
    server.add_service(background_service(
        "hls-edge certificate reload",
        CertReload::new(cert_stores),
    ));

    let packager = config.packager.as_ref().map(|packager_config| {
        let (packager, services) = crate::packager::service::services(packager_config);
        server.add_services(services);
        packager
    });

    let admin = Admin {
        edge_id: config.edge.id.clone(),
        started: Instant::now(),
        routes,
        storage,
        max_cache_bytes: config.cache.max_size,
        packager,
        revocations,
        revocation_ttl: longest_token_lifetime(config),
        streams,
        access: crate::admin::AdminAccess::new(&config.admin),
    };

    let mut admin_service = Service::new("hls-edge admin".to_string(), HttpServer::new_app(admin));
    admin_service.add_tcp(&config.admin.listen.to_string());
    server.add_service(admin_service);

    Ok(server)
}

/// Every query parameter name that carries a token on some route, plus the
/// usual ones: none of them reaches a cache key or an origin.
fn token_names(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = crate::cache::DEFAULT_TOKEN_PARAMS
        .iter()
        .map(|s| s.to_string())
        .collect();
    for t in config.routes.iter().filter_map(|r| r.tokens.as_ref()) {
        names.extend([t.name.clone(), t.session_name.clone()]);
    }
    names.sort();
    names.dedup();
    names
}

/// How long a revocation must last: as long as the longest token it could
/// refuse (a session token; entry tokens are shorter by design).
fn longest_token_lifetime(config: &Config) -> std::time::Duration {
    config
        .routes
        .iter()
        .filter_map(|r| r.tokens.as_ref())
        .map(|t| t.session_ttl + t.clock_skew)
        .max()
        .unwrap_or(std::time::Duration::from_secs(86400))
}
