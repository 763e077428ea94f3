//! The colocated origin packager: MPEG-TS in, live HLS out (design section 7).
//!
//! - `ts` reads transport streams without I/O; `codec` reads the parameters
//!   players need (CODECS, RESOLUTION); `segmenter` cuts on keyframes at the
//!   target duration;
//! - `store` keeps streams -> generations -> renditions -> segments with the
//!   live window and retention; `playlists` writes them with `hls::playlist`;
//! - `ingest` takes pushed TS (`PUT`/`POST /ingest/{stream}/{rendition}`,
//!   authenticated by `stream_key`); `looping` replays a file in real time;
//! - `service` serves it all over HTTP as an origin (`resource` parses URLs);
//!   with LL-HLS, `delivery` holds blocking playlist reloads and hinted part
//!   requests (`directives` decides, `holds` waits and counts).
//!
//! The edge reaches the packager like any other origin, so its output goes
//! through the same cache policy and metrics.

pub mod codec;
pub mod delivery;
pub mod directives;
pub mod holds;
pub mod ingest;
pub mod looping;
pub mod playlists;
pub mod resource;
pub mod segmenter;
pub mod service;
pub mod store;
pub mod stream_key;
pub mod ts;
