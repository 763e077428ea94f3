//! hls-edge: an edge HLS caching proxy built on Pingora.
//!
//! Players fetch `/hls/...`; the edge classifies each object (segment, live or
//! VOD playlist, multivariant playlist), serves it from a bounded in-memory
//! cache or pulls it through from the route's origin, and applies the HLS
//! cache policy (see `docs/architecture.md`). An optional colocated packager
//! turns MPEG-TS into live HLS and is reached by the edge as an ordinary origin.
//!
//! Dependencies point down: `server` -> `listeners`, `proxy`/`admin` -> `cache`,
//! `upstream`, `packager` -> `tls`, `hls`, `config`, `metrics`.

pub mod config;
pub mod hls;
pub mod packager;

pub mod admin;
pub mod allocator;
pub mod auth;
pub mod cache;
pub mod connections;
pub mod decimal;
pub mod listeners;
pub mod logging;
pub mod metrics;
pub mod proxy;
pub mod redaction;
pub mod request_path;
pub mod routing;
pub mod sealed;
pub mod server;
pub mod streams;
pub mod tls;
pub mod upstream;
