//! The test kit every integration test of the edge shares (`mod common;`).
//!
//! Real servers on ephemeral loopback ports, assertions on what a user sees:
//! - `CountingOrigin` (origin.rs, reply.rs): a scriptable HTTP/1.1 origin that
//!   counts and records requests; replies can be chunked, delayed, truncated,
//!   unframed, reset or hang; live playlists advance on demand (playlist.rs).
//! - `RecordingOrigin` (recording_origin.rs): a lax origin that keeps every
//!   byte it received, for asserting that nothing unchecked reached it.
//! - `http_get` / `Client` / `concurrent_gets` (client.rs): a raw client that
//!   reports a cut body as `complete == false`, never as a short success;
//!   `Client::send_raw` writes requests the kit would never build.
//! - `TestEdge` / `EdgeConfig` (edge.rs, edge_config.rs): the real binary as a
//!   child on free ports, ready once `/healthz` answers 200.
//! - `cache_status` (RFC 9211) and `metric_value` (Prometheus text) readers;
//!   `parse_exposition` (exposition.rs), a strict reader of the whole format.
//! - `status_json` / `scrape_after` (admin.rs): `/status` and `/metrics` as a
//!   dashboard reads them; `Deadline` (deadline.rs): a bounded poll.
//! - `hlsjs_play` (player.rs, player_report.rs): hls.js in headless Chromium
//!   (the rig in tests/player) plays a URL and reports first frame, stalls,
//!   errors, latency and every load; `have_hlsjs` skips when it is missing.
//! - `TcpRelay` (relay.rs): a forwarder counting the connections through it.
//! - `TestPki` / `https_get` / `curl` (tls.rs): certificates made with
//!   openssl, an HTTPS client that reports ALPN and the certificate served.
//! - `entry_token` (tokens.rs): tokens minted under the kit's test key;
//!   `origin_group`: one route in front of a group of counting origins.
//!   Their generic names (`KEY`, `SEGMENT`, `pair`...) are imported by path.
//!
//! Nothing here touches process-wide state: every server, port and temp dir
//! belongs to the test that made it, so tests run in parallel.
//! It does not own the crate's own parsers: the kit re-implements the little it
//! needs so a bug in `src/` cannot vouch for itself.

// Each test file uses part of the kit.
#![allow(dead_code, unused_imports)]

pub mod admin;
pub mod cache_status;
pub mod client;
pub mod deadline;
pub mod edge;
pub mod edge_check;
pub mod edge_config;
pub mod exposition;
pub mod fault_proxy;
pub mod live_hls;
pub mod media;
pub mod metrics;
pub mod net;
pub mod nginx;
pub mod origin;
pub mod origin_group;
pub mod player;
pub mod player_report;
pub mod playlist;
pub mod recording_origin;
pub mod relay;
pub mod reply;
pub mod tiers;
pub mod tls;
pub mod tokens;
mod wire;

pub use admin::{scrape_after, scrape_until, status_json, stream_in};
pub use cache_status::{cache_status, cache_status_of, parse_cache_status, CacheStatusEntry};
pub use client::{
    concurrent_gets, concurrent_gets_with, http_get, http_head, http_request, timed_get, Client,
    ClientError, Framing, Response, TimedGet, DEFAULT_TIMEOUT,
};
pub use deadline::Deadline;
pub use edge::{EdgeStartError, TempDir, TestEdge, EDGE_BIN};
pub use edge_check::{run_edge_check, run_edge_check_with_env, run_edge_with_config};
pub use edge_config::{origin_url, EdgeConfig, RouteConfig};
pub use exposition::{parse_exposition, Family};
pub use media::{ffmpeg_plays, have, push_test_pattern};
pub use metrics::{metric_value, samples, Sample};
pub use net::{free_addr, free_port, is_addr_in_use, retry_on_port_collision};
pub use origin::{CountingOrigin, RecordedRequest};
pub use player::{have_hlsjs, hlsjs_available, hlsjs_play, PlayOptions, PlayerUnavailable};
pub use player_report::PlayerReport;
pub use playlist::{
    media_sequence_in, multivariant_playlist, pattern_body, segment_uri, uris_in, vod_playlist,
    LivePlaylist, PLAYLIST_TYPE, SEGMENT_TYPE,
};
pub use recording_origin::RecordingOrigin;
pub use relay::TcpRelay;
pub use reply::{Reply, ReplyFraming};
pub use tiers::tier_config;
pub use tokens::{
    bound_entry_token, entry_token, entry_token_for, token_field, two_routes, url_token,
    with_bad_hmac,
};
