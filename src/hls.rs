//! The HLS vocabulary every other part shares (RFC 8216, draft-pantos-hls-rfc8216bis): what
//! kind of object a request is for (`class`), the one playlist model with its parser and
//! writer (`playlist`), and URI rewriting that keeps every other byte (`rewrite`). The cache
//! policy, the token rewriter and the packager all use these, so there is one playlist
//! parser, not four. No I/O and no policy (TTLs, tokens) live here.

pub mod class;
pub mod playlist;
pub mod progress;
pub mod rewrite;
mod tag;

pub use class::ObjectClass;
pub use playlist::{
    MediaPlaylist, MediaSegment, MultivariantPlaylist, Playlist, PlaylistError, PlaylistType,
    VariantStream,
};
pub use progress::{PlaylistSummary, Position};
