//! `EdgeConfig`: writes the YAML a `TestEdge` runs with, on ports the test
//! knows. Values are written raw into YAML (quote them yourself if needed);
//! whole sections the builder does not model go in with `extra_yaml`.

use std::fmt::{self, Display, Write as _};
use std::net::SocketAddr;

use super::edge::two_free_ports;

/// One route and its own origin group (`r{i}` / `g{i}`).
#[derive(Debug, Clone)]
pub struct RouteConfig {
    prefix: String,
    origins: Vec<String>,
    connect_timeout: String,
    read_timeout: String,
    group_lines: Vec<(String, String)>,
    route_lines: Vec<(String, String)>,
}

impl RouteConfig {
    /// A route for `prefix` with no origin yet, `connect_timeout: 1s`,
    /// `read_timeout: 5s`.
    pub fn new(prefix: &str) -> RouteConfig {
        RouteConfig {
            prefix: prefix.to_string(),
            origins: Vec::new(),
            connect_timeout: "1s".into(),
            read_timeout: "5s".into(),
            group_lines: Vec::new(),
            route_lines: Vec::new(),
        }
    }

    /// Adds an origin: `127.0.0.1:PORT`, a `SocketAddr` or a full URL.
    pub fn origin(mut self, origin: impl Display) -> RouteConfig {
        self.origins.push(origin_url(origin));
        self
    }

    /// Adds an origin with its `priority` (lower is tried first).
    pub fn origin_priority(mut self, origin: impl Display, priority: u32) -> RouteConfig {
        let url = origin_url(origin);
        self.origins
            .push(format!("{url}\n        priority: {priority}"));
        self
    }

    pub fn connect_timeout(mut self, duration: &str) -> RouteConfig {
        self.connect_timeout = duration.to_string();
        self
    }

    pub fn read_timeout(mut self, duration: &str) -> RouteConfig {
        self.read_timeout = duration.to_string();
        self
    }

    /// An extra `key: value` line under this route's origin group.
    pub fn group(mut self, key: &str, value: &str) -> RouteConfig {
        self.group_lines.push((key.into(), value.into()));
        self
    }

    /// An extra `key: value` line under this route.
    pub fn option(mut self, key: &str, value: &str) -> RouteConfig {
        self.route_lines.push((key.into(), value.into()));
        self
    }
}

/// The builder; see the module docs. `new()` picks two free loopback ports.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    id: String,
    listen_port: u16,
    admin_port: u16,
    threads: usize,
    grace_period: String,
    cache_max_size: String,
    lock_timeout: String,
    edge_lines: Vec<(String, String)>,
    /// `edge.listen` entries after the first (cleartext) one, as YAML flow.
    listeners: Vec<String>,
    cache_lines: Vec<(String, String)>,
    routes: Vec<RouteConfig>,
    extra: String,
    env: Vec<(String, String)>,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig::new()
    }
}

impl EdgeConfig {
    pub fn new() -> EdgeConfig {
        let (listen_port, admin_port) = two_free_ports();
        EdgeConfig {
            id: "edge-test".into(),
            listen_port,
            admin_port,
            threads: 2,
            grace_period: "0s".into(),
            cache_max_size: "64MiB".into(),
            lock_timeout: "10s".into(),
            edge_lines: Vec::new(),
            listeners: Vec::new(),
            cache_lines: Vec::new(),
            routes: Vec::new(),
            extra: String::new(),
            env: Vec::new(),
        }
    }

    /// `edge.id`, the name in Cache-Status and CDN-Loop (default `edge-test`).
    pub fn id(mut self, id: &str) -> EdgeConfig {
        self.id = id.to_string();
        self
    }

    /// A route for `prefix` with one origin.
    pub fn route(self, prefix: &str, origin: impl Display) -> EdgeConfig {
        self.route_config(RouteConfig::new(prefix).origin(origin))
    }

    /// A route for `prefix` with several origins, in priority order.
    pub fn route_origins<O: Display>(
        self,
        prefix: &str,
        origins: impl IntoIterator<Item = O>,
    ) -> EdgeConfig {
        let route = origins
            .into_iter()
            .fold(RouteConfig::new(prefix), RouteConfig::origin);
        self.route_config(route)
    }

    pub fn route_config(mut self, route: RouteConfig) -> EdgeConfig {
        self.routes.push(route);
        self
    }

    /// `edge.grace_period` (default `0s`: tests stop their edges at once;
    /// a graceful upgrade needs time for the connections in flight).
    pub fn grace_period(mut self, duration: &str) -> EdgeConfig {
        self.grace_period = duration.to_string();
        self
    }

    pub fn threads(mut self, threads: usize) -> EdgeConfig {
        self.threads = threads;
        self
    }

    /// `cache.max_size` (default `64MiB`).
    pub fn cache_max_size(mut self, size: &str) -> EdgeConfig {
        self.cache_max_size = size.to_string();
        self
    }

    /// `cache.lock_timeout` (default `10s`).
    pub fn lock_timeout(mut self, duration: &str) -> EdgeConfig {
        self.lock_timeout = duration.to_string();
        self
    }

    /// An extra `key: value` line under `cache:` (e.g. `segment_ttl`, `24h`).
    pub fn cache(mut self, key: &str, value: &str) -> EdgeConfig {
        self.cache_lines.push((key.into(), value.into()));
        self
    }

    /// Another `edge.listen` entry after the cleartext one the kit uses, as
    /// YAML flow: `{addr: "127.0.0.1:8443", tls: {cert: a.crt, key: a.key}}`.
    pub fn listener(mut self, entry: &str) -> EdgeConfig {
        self.listeners.push(entry.to_string());
        self
    }

    /// A TLS listener on `addr` with one certificate (`tls` keys as flow YAML
    /// can be added with `listener` instead).
    pub fn tls_listener(
        self,
        addr: SocketAddr,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> EdgeConfig {
        let entry = format!(
            "{{addr: \"{addr}\", tls: {{cert: \"{}\", key: \"{}\"}}}}",
            cert.display(),
            key.display()
        );
        self.listener(&entry)
    }

    /// An extra `key: value` line under `edge:`.
    pub fn edge(mut self, key: &str, value: &str) -> EdgeConfig {
        self.edge_lines.push((key.into(), value.into()));
        self
    }

    /// The colocated packager on `listen`, looping the bundled two-rendition demo
    /// as stream `demo` (what `conf/edge.yaml` runs).
    pub fn demo_packager(self, listen: std::net::SocketAddr) -> EdgeConfig {
        self.extra_yaml(&format!(
            "packager:\n  listen: {listen}\n  streams:\n    - name: demo\n      loop:\n        - {{ rendition: 360p, file: conf/demo/360p.ts }}\n        - {{ rendition: 180p, file: conf/demo/180p.ts }}\n"
        ))
    }

    /// Raw YAML appended at the end: whole top-level sections (`cors:`, `log:`, `packager:`...).
    pub fn extra_yaml(mut self, yaml: &str) -> EdgeConfig {
        self.extra.push_str(yaml);
        if !yaml.ends_with('\n') {
            self.extra.push('\n');
        }
        self
    }

    /// An environment variable for the edge process only (never this process's).
    pub fn env(mut self, key: &str, value: &str) -> EdgeConfig {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn listen_port(mut self, port: u16) -> EdgeConfig {
        self.listen_port = port;
        self
    }

    pub fn admin_port(mut self, port: u16) -> EdgeConfig {
        self.admin_port = port;
        self
    }

    /// The same config on two newly picked free ports.
    pub fn fresh_ports(mut self) -> EdgeConfig {
        (self.listen_port, self.admin_port) = two_free_ports();
        self
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.listen_port))
    }

    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.admin_port))
    }

    pub fn env_pairs(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The config file text.
    pub fn yaml(&self) -> String {
        let mut y = String::new();
        let _ = self.write_yaml(&mut y);
        y
    }

    fn write_yaml(&self, y: &mut String) -> fmt::Result {
        let mut listen = format!("\"{}\"", self.addr());
        for entry in &self.listeners {
            listen.push_str(", ");
            listen.push_str(entry);
        }
        writeln!(y, "edge:\n  id: {}\n  listen: [{listen}]", self.id)?;
        writeln!(
            y,
            "  threads: {}\n  grace_period: {}",
            self.threads, self.grace_period
        )?;
        write_lines(y, "  ", &self.edge_lines)?;
        writeln!(y, "admin:\n  listen: {}", self.admin_addr())?;
        writeln!(
            y,
            "cache:\n  max_size: {}\n  lock_timeout: {}",
            self.cache_max_size, self.lock_timeout
        )?;
        write_lines(y, "  ", &self.cache_lines)?;
        if !self.routes.is_empty() {
            writeln!(y, "origin_groups:")?;
            for (i, route) in self.routes.iter().enumerate() {
                writeln!(y, "  g{i}:\n    origins:")?;
                for url in &route.origins {
                    writeln!(y, "      - url: {url}")?;
                }
                writeln!(
                    y,
                    "    connect_timeout: {}\n    read_timeout: {}",
                    route.connect_timeout, route.read_timeout
                )?;
                write_lines(y, "    ", &route.group_lines)?;
            }
            writeln!(y, "routes:")?;
            for (i, route) in self.routes.iter().enumerate() {
                writeln!(
                    y,
                    "  - name: r{i}\n    prefix: {}\n    origin_group: g{i}",
                    route.prefix
                )?;
                write_lines(y, "    ", &route.route_lines)?;
            }
        }
        y.push_str(&self.extra);
        Ok(())
    }
}

fn write_lines(y: &mut String, indent: &str, lines: &[(String, String)]) -> fmt::Result {
    lines
        .iter()
        .try_for_each(|(k, v)| writeln!(y, "{indent}{k}: {v}"))
}

/// `127.0.0.1:8080` -> `http://127.0.0.1:8080`; a URL with a scheme is kept.
pub fn origin_url(origin: impl Display) -> String {
    let text = origin.to_string();
    if text.contains("://") {
        text
    } else {
        format!("http://{text}")
    }
}
