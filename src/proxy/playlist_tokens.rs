//! Session tokens written into playlists (design section 4): a playlist
//! answered to a request with a valid token is rewritten so that every URI in
//! it (plain URI lines and `URI="..."` attributes) carries the session token
//! that covers it (`playback_tokens::SessionParams`: never more than the
//! request's token granted, beyond the playlist's own children).
//!
//! Only the response to this player is rewritten: the cache keeps the origin's
//! playlist, shared by every viewer, and the segments it points at stay shared
//! too (their keys never include tokens). The rewritten body is the player's
//! own, so it is `private`. It is the last stage of `playlist_response`.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestCtx;
use super::playback_tokens::{session_params, unix_now, SessionParams};
use crate::hls::rewrite::rewrite_uris;

/// The session tokens a playlist's URIs get, decided when its header is known.
#[derive(Debug)]
pub struct TokenRewrite {
    /// The `name=value` appended to each URI.
    params: SessionParams,
    /// The request's host: absolute URIs to other hosts are left alone.
    host: String,
}

impl TokenRewrite {
    /// Writes `params` into a playlist answered on `host` (the request's `Host`).
    pub fn new(params: SessionParams, host: &str) -> TokenRewrite {
        TokenRewrite {
            params,
            host: host.to_string(),
        }
    }

    /// For a playlist answered to a request that carried a valid token on a token
    /// route; `None` otherwise.
    pub fn for_response(session: &Session, ctx: &RequestCtx) -> Option<TokenRewrite> {
        let (route, admitted) = (ctx.route.as_ref()?, ctx.token.as_ref()?);
        let tokens = route.tokens.as_ref()?;
        let params = session_params(session, tokens, admitted, unix_now());
        let req = session.req_header();
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(req.uri.host())
            .unwrap_or("");
        Some(TokenRewrite::new(params, host))
    }

    /// The rewritten body is this player's own: no shared cache may keep it.
    pub fn headers(&self, resp: &mut ResponseHeader) -> Result<()> {
        resp.insert_header(http::header::CACHE_CONTROL, "private, no-cache")
    }

    /// `body` with its session token on every URI (relative or to this host).
    pub fn apply(&self, body: &[u8]) -> Bytes {
        let text = String::from_utf8_lossy(body);
        let rewritten = rewrite_uris(&text, |uri| {
            if to_other_host(uri, &self.host) {
                return None;
            }
            let param = self.params.param_for(uri)?;
            with_param(uri, &param, &self.host)
        });
        Bytes::from(rewritten)
    }
}

/// Whether `uri` is absolute and names a host other than `host`.
fn to_other_host(uri: &str, host: &str) -> bool {
    let lower = uri.to_ascii_lowercase();
    let authority = ["http://", "https://", "//"]
        .iter()
        .find_map(|p| lower.strip_prefix(p));
    authority.is_some_and(|rest| {
        let uri_host = rest.split(['/', '?', '#']).next().unwrap_or("");
        !uri_host.eq_ignore_ascii_case(host)
    })
}

/// `uri` with `param` appended, or `None` for an absolute URI to another host.
fn with_param(uri: &str, param: &str, host: &str) -> Option<String> {
    if to_other_host(uri, host) {
        return None;
    }
    let (main, fragment) = uri
        .split_once('#')
        .map_or((uri, None), |(m, f)| (m, Some(f)));
    let sep = if main.contains('?') { '&' } else { '?' };
    Some(match fragment {
        Some(f) => format!("{main}{sep}{param}#{f}"),
        None => format!("{main}{sep}{param}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_appended_to_relative_and_same_host_uris_only() {
        let p = "hdntl=exp=9~acl=/hls/a/*~hmac=00";
        assert_eq!(
            with_param("seg_1.ts", p, "edge:8080").as_deref(),
            Some("seg_1.ts?hdntl=exp=9~acl=/hls/a/*~hmac=00")
        );
        assert_eq!(
            with_param("i.m3u8?_HLS_msn=3", p, "edge").as_deref(),
            Some("i.m3u8?_HLS_msn=3&hdntl=exp=9~acl=/hls/a/*~hmac=00")
        );
        assert_eq!(
            with_param("http://edge:8080/hls/a/x.ts", p, "edge:8080").as_deref(),
            Some("http://edge:8080/hls/a/x.ts?hdntl=exp=9~acl=/hls/a/*~hmac=00")
        );
        assert_eq!(with_param("https://cdn.example/x.ts", p, "edge:8080"), None);
        assert_eq!(with_param("//other/x.ts", p, "edge:8080"), None);
    }
}
