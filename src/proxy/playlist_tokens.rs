//! Session tokens written into playlists (design section 4): a playlist
//! answered to a request with a valid token is rewritten so that every URI in
//! it (plain URI lines and `URI="..."` attributes) carries the session token.
//!
//! Only the response to this player is rewritten: the cache keeps the origin's
//! playlist, shared by every viewer, and the segments it points at stay shared
//! too (their keys never include tokens). The rewritten body is the player's
//! own, so it is `private` and has no Content-Length (it is sent chunked).

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestCtx;
use super::playback_tokens::{session_token, unix_now};
use crate::hls::rewrite::rewrite_uris;

/// A playlist body being collected for rewriting.
#[derive(Debug, Default)]
pub struct PlaylistRewrite {
    /// `name=value` appended to each URI.
    param: String,
    /// The request's host: absolute URIs to other hosts are left alone.
    host: String,
    body: Vec<u8>,
}

/// Decides, once the response header is known, whether to rewrite the body.
pub fn start(session: &Session, ctx: &mut RequestCtx, resp: &mut ResponseHeader) -> Result<()> {
    let (Some(route), Some(admitted)) = (&ctx.route, &ctx.token) else {
        return Ok(());
    };
    let Some(tokens) = &route.tokens else {
        return Ok(());
    };
    if !ctx.class.is_playlist() || resp.status.as_u16() != 200 {
        return Ok(());
    }
    let Some(param) = session_token(session, tokens, admitted, unix_now()) else {
        return Ok(());
    };
    let req = session.req_header();
    let host = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(req.uri.host())
        .unwrap_or("")
        .to_string();
    resp.remove_header(&http::header::CONTENT_LENGTH);
    resp.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
    resp.insert_header(http::header::CACHE_CONTROL, "private, no-cache")?;
    ctx.rewrite = Some(PlaylistRewrite {
        param,
        host,
        body: Vec::new(),
    });
    Ok(())
}

/// Holds the body back until its end, then sends it rewritten.
pub fn body(ctx: &mut RequestCtx, body: &mut Option<Bytes>, end_of_stream: bool) {
    let Some(rewrite) = ctx.rewrite.as_mut() else {
        return;
    };
    if let Some(chunk) = body.take() {
        rewrite.body.extend_from_slice(&chunk);
    }
    if end_of_stream {
        let text = String::from_utf8_lossy(&rewrite.body);
        let rewritten = rewrite_uris(&text, |uri| with_param(uri, &rewrite.param, &rewrite.host));
        *body = Some(Bytes::from(rewritten));
        rewrite.body = Vec::new();
    }
}

/// `uri` with `param` appended, or `None` for an absolute URI to another host.
fn with_param(uri: &str, param: &str, host: &str) -> Option<String> {
    let lower = uri.to_ascii_lowercase();
    let authority = ["http://", "https://", "//"]
        .iter()
        .find_map(|p| lower.strip_prefix(p));
    if let Some(rest) = authority {
        let uri_host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if !uri_host.eq_ignore_ascii_case(host) {
            return None;
        }
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
