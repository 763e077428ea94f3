//! Reading `Cache-Status` (RFC 9211) off a response.
//!
//! The field is a list of caches, the one nearest the origin first and the
//! one that answered the client last (RFC 9211 §2); each is a name followed by
//! `;`-separated parameters: `hit`, `fwd=<reason>`, `fwd-status=<code>`,
//! `ttl=<s>`, `stored`, `collapsed`, `key=<string>`, `detail=<token|string>`.

use super::client::Response;

/// One cache's entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStatusEntry {
    pub cache: String,
    pub hit: bool,
    /// `fwd=` why the request went forward: `uri-miss`, `miss`, `stale`, `bypass`...
    pub fwd: Option<String>,
    pub fwd_status: Option<u16>,
    pub stored: bool,
    pub collapsed: bool,
    /// `ttl=` seconds of freshness left; negative when stale.
    pub ttl: Option<i64>,
    pub key: Option<String>,
    pub detail: Option<String>,
}

/// Every entry of every `Cache-Status` line of `resp`, in order.
pub fn cache_status(resp: &Response) -> Vec<CacheStatusEntry> {
    parse_cache_status(&resp.header_all("cache-status").join(", "))
}

/// The last entry written by `cache` (this edge's id), if any.
pub fn cache_status_of(resp: &Response, cache: &str) -> Option<CacheStatusEntry> {
    cache_status(resp)
        .into_iter()
        .rev()
        .find(|e| e.cache == cache)
}

impl Response {
    /// See [`cache_status`].
    pub fn cache_status(&self) -> Vec<CacheStatusEntry> {
        cache_status(self)
    }
}

/// Parses a `Cache-Status` value; unknown parameters are ignored.
pub fn parse_cache_status(value: &str) -> Vec<CacheStatusEntry> {
    split_outside_quotes(value, ',')
        .into_iter()
        .map(str::trim)
        .filter(|member| !member.is_empty())
        .map(parse_entry)
        .collect()
}

fn parse_entry(member: &str) -> CacheStatusEntry {
    let mut parts = split_outside_quotes(member, ';').into_iter().map(str::trim);
    let mut entry = CacheStatusEntry {
        cache: unquote(parts.next().unwrap_or("")),
        ..Default::default()
    };
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (param, None),
        };
        // A bare parameter is boolean true; `?0` is false (RFC 8941 §3.3.6).
        let flag = value != Some("?0");
        match name {
            "hit" => entry.hit = flag,
            "stored" => entry.stored = flag,
            "collapsed" => entry.collapsed = flag,
            "fwd" => entry.fwd = value.map(unquote),
            "fwd-status" => entry.fwd_status = value.and_then(|v| v.parse().ok()),
            "ttl" => entry.ttl = value.and_then(|v| v.parse().ok()),
            "key" => entry.key = value.map(unquote),
            "detail" => entry.detail = value.map(unquote),
            _ => {}
        }
    }
    entry
}

/// Splits on `sep` except inside `"..."` (with `\` escapes).
fn split_outside_quotes(text: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `"a \"b\""` -> `a "b"`; a token is returned as is.
fn unquote(text: &str) -> String {
    let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return text.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or('\\')
        } else {
            c
        });
    }
    out
}
