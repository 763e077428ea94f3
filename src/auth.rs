//! Playback tokens (design section 4): Akamai EdgeAuth 2.0 compatible token parsing,
//! verification and minting, session tokens minted from a verified entry token, the
//! revocation list, and where a request carries its token (query, cookie, path segment).
//!
//! Everything here is pure: the clock is passed in (`now`, unix seconds), nothing does I/O,
//! nothing reads the environment. Turning a [`TokenError`] into an HTTP status (401 for
//! [`TokenError::Missing`], 403 otherwise), stripping token parameters from the cache key and
//! the origin request, and rewriting playlists belong to the proxy, not to this module.
//!
//! A token reads `[ip=IP~][st=START~]exp=END~acl=ACL[~id=ID][~data=DATA]~hmac=HEX` (URL
//! tokens have no `acl=`: their path is signed but not sent). The HMAC covers the text before
//! `~hmac=`, then `~url=<path>` for URL tokens and `~salt=<salt>` if a salt is configured.
//! Session tokens are signed with the salt extended by [`SESSION_SALT`], so entry and session
//! tokens cannot stand in for each other. Keys and salts never appear in an error, a `Debug`
//! or a `Display`.

pub mod acl;
pub mod bearer;
mod escape;
pub mod key;
pub mod mint;
pub mod peer;
pub mod placement;
pub mod revocation;
pub mod scope;
pub mod session;
pub mod strength;
pub mod token;
pub mod verify;

pub use acl::AclRefusal;
pub use bearer::BearerToken;
pub use key::{Algorithm, KeyError, TokenKey};
pub use mint::{mint_acl_token, mint_url_token, MintError, TokenFields};
pub use peer::{PeerError, PeerSecret};
pub use placement::{Placement, TokenValue, DEFAULT_TOKEN_NAME};
pub use revocation::{Revocation, RevocationError, Revocations, MAX_REVOCATIONS};
pub use scope::{SessionGrant, SessionTerms};
pub use session::{mint_session_token, stream_acl, SessionSpec};
pub use strength::WeakSecret;
pub use token::{Token, TokenConfig, SESSION_SALT};
pub use verify::{Request, TokenKind, Verified, Verifier, DEFAULT_SKEW_SECS};

/// Why a request's token was refused. [`TokenError::reason`] gives the bounded label used in
/// the response header and the metric; messages name the bad value, never the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token in any accepted place (the proxy answers 401).
    #[error("no token")]
    Missing,
    /// Not a token: a field without `=`, an unknown or repeated field, a non-numeric time...
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The HMAC matches none of the configured keys (or the token was altered).
    #[error("token hmac matches no configured key")]
    BadHmac,
    /// `exp` (plus the skew tolerance) has passed.
    #[error("token expired at {exp} (now {now})")]
    Expired { exp: u64, now: u64 },
    /// `st` (minus the skew tolerance) is still ahead.
    #[error("token not valid before {start} (now {now})")]
    NotYetValid { start: u64, now: u64 },
    /// The request path is not covered by the token's ACL (or URL), or could escape it.
    #[error("token does not cover the path: {0}")]
    Acl(AclRefusal),
    /// The token carries `ip=` and the client has another address (or none known).
    #[error("token is bound to another client ip")]
    Ip,
    /// The token's session id was revoked.
    #[error("session {id:?} is revoked")]
    Revoked { id: String },
}

impl TokenError {
    /// The bounded label for the response header and the metric: one of `missing`,
    /// `malformed`, `bad-hmac`, `expired`, `not-yet-valid`, `acl`, `ip`, `revoked`.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Missing => "missing",
            TokenError::Malformed(_) => "malformed",
            TokenError::BadHmac => "bad-hmac",
            TokenError::Expired { .. } => "expired",
            TokenError::NotYetValid { .. } => "not-yet-valid",
            TokenError::Acl(_) => "acl",
            TokenError::Ip => "ip",
            TokenError::Revoked { .. } => "revoked",
        }
    }

    /// Every value [`TokenError::reason`] can return (for pre-registering metric labels).
    pub const REASONS: [&'static str; 8] = [
        "missing",
        "malformed",
        "bad-hmac",
        "expired",
        "not-yet-valid",
        "acl",
        "ip",
        "revoked",
    ];
}
