//! The colocated origin packager: MPEG-TS in, live HLS out.
//!
//! `ts` reads transport streams without I/O, `codec` reads the codec
//! parameters players need (CODECS, RESOLUTION), `segmenter` cuts segments on
//! keyframes at the target duration.

pub mod codec;
pub mod segmenter;
pub mod ts;
