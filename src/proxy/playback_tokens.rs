//! Playback tokens on the request path (design section 4): find the route's
//! token (path segment, query or cookie), verify it, and for playlists mint
//! the session tokens that the rewritten playlist hands to the player, one
//! per child where the scope rule (`crate::auth::scope`) says so.
//!
//! Entry tokens arrive under the route's `name` (`hdnts`), session tokens
//! under its `session_name` (`hdntl`): a player that got a rewritten playlist
//! keeps presenting the session token, which outlives the short entry token
//! but not its own expiry, and is refused at once once its id is revoked.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use pingora::proxy::Session;

use crate::auth::placement::{from_cookie, from_path, from_query, query_value};
use crate::auth::{SessionGrant, SessionTerms, TokenError, TokenValue, Verified};
use crate::config::TokenSettings;
use crate::metrics;
use crate::request_path;
use crate::routing::RouteTokens;

/// Whether a request came with an entry or a session token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Entry,
    Session,
}

/// A request's accepted token.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub verified: Verified,
    pub kind: TokenKind,
}

impl Admitted {
    pub fn session_id(&self) -> Option<&str> {
        self.verified.token.id.as_deref()
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Finds and verifies the token of a request on a token route. `sent_path`
/// is the path as the client sent it: a token placed in it is read from it
/// as sent, and removed from the request URI (the rest normalised), so that
/// the cache key, the ACL check and the origin all see the path without it.
pub fn admit(
    session: &mut Session,
    sent_path: &str,
    tokens: &RouteTokens,
    now: u64,
) -> Result<Admitted, TokenError> {
    let settings = &tokens.settings;
    let client_ip = client_ip(session);
    let (value, kind) = find(session, sent_path, settings).ok_or(TokenError::Missing)?;
    let path = session.req_header().uri.path().to_string();
    let request = crate::auth::Request {
        path: &path,
        client_ip,
        now,
    };
    let verified = tokens.verifier.verify_value(&value, &request)?;
    Ok(Admitted { verified, kind })
}

fn find(
    session: &mut Session,
    sent_path: &str,
    s: &TokenSettings,
) -> Option<(TokenValue, TokenKind)> {
    for (name, kind) in [
        (&s.session_name, TokenKind::Session),
        (&s.name, TokenKind::Entry),
    ] {
        if let Some((value, rest)) = from_path(sent_path, name) {
            if set_path(session, &rest).is_some() {
                return Some((value, kind));
            }
        }
    }
    let query = session.req_header().uri.query().unwrap_or("").to_string();
    if let Some(v) = from_query(&query, &s.session_name) {
        return Some((v, TokenKind::Session));
    }
    if let Some(v) = from_query(&query, &s.name) {
        return Some((v, TokenKind::Entry));
    }
    let cookies = session.req_header().headers.get_all(http::header::COOKIE);
    cookies
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find_map(|c| {
            from_cookie(c, &s.name)
                .map(|v| (v, TokenKind::Entry))
                .or_else(|| from_cookie(c, &s.session_name).map(|v| (v, TokenKind::Session)))
        })
}

/// The request path without its token segment, normalised (the whole sent
/// path already passed the path rule, so this cannot fail in practice).
fn set_path(session: &mut Session, rest: &str) -> Option<()> {
    let rest = request_path::normalise(rest).ok()?;
    let req = session.req_header_mut();
    let rebuilt = match req.uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.into_owned(),
    };
    let uri = rebuilt.parse::<http::Uri>().ok()?;
    req.set_uri(uri);
    Some(())
}

fn client_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// The session tokens a playlist response hands its children: the rule of
/// `crate::auth::scope` (a session never reaches more than the request's
/// token granted, beyond the playlist's own children), with the route's
/// session name and lifetime, bound to the client when the route says so.
pub fn session_params(
    session: &Session,
    tokens: &RouteTokens,
    admitted: &Admitted,
    now: u64,
) -> SessionParams {
    let settings = &tokens.settings;
    let terms = SessionTerms {
        ttl: settings.session_ttl.as_secs(),
        client_ip: settings.bind_ip.then(|| client_ip(session)).flatten(),
        now,
    };
    let playlist = session.req_header().uri.path();
    let grant = SessionGrant::new(&tokens.verifier, &admitted.verified, playlist, &terms);
    SessionParams::new(grant, &settings.session_name, playlist)
}

/// `name=token` query parameters for a playlist's child URIs.
#[derive(Debug)]
pub struct SessionParams {
    grant: SessionGrant,
    name: String,
    /// The playlist's URL (on a placeholder host), parsed once: relative URIs
    /// resolve against it (RFC 3986 5.2). `None` if it is not a URL path.
    base: Option<url::Url>,
}

impl SessionParams {
    /// The sessions `grant` gives the children of the playlist at `playlist`
    /// (its request path), written as `name=token`.
    pub fn new(grant: SessionGrant, name: &str, playlist: &str) -> SessionParams {
        let base = url::Url::parse("http://edge.invalid")
            .ok()
            .and_then(|host| host.join(playlist).ok());
        SessionParams {
            grant,
            name: name.to_string(),
            base,
        }
    }

    /// The parameter to append to `uri` (as written in the playlist), or
    /// `None` when no session may be given for it.
    pub fn param_for(&self, uri: &str) -> Option<String> {
        let Some(path) = self.base.as_ref().and_then(|base| child_path(base, uri)) else {
            metrics::SESSIONS_WITHHELD.inc();
            tracing::debug!(uri = %crate::redaction::target(uri), "child uri left without a session token");
            return None;
        };
        match self.grant.token_for(&path) {
            Some(token) => Some(format!("{}={}", self.name, query_value(&token))),
            None => {
                metrics::SESSIONS_WITHHELD.inc();
                tracing::info!(child = %path, "no exact session can be written for this child: left without a token");
                None
            }
        }
    }
}

/// The normalised path a player requests for `uri` listed in the playlist at
/// `base` (relative references resolved, dot segments removed as RFC
/// 3986 5.2.4 does), or `None` if it is not a path the edge would accept.
fn child_path(base: &url::Url, uri: &str) -> Option<String> {
    let child = base.join(uri).ok()?;
    request_path::normalise(child.path())
        .ok()
        .map(|p| p.into_owned())
}
