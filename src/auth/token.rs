//! The token text: [`TokenConfig`] (how a route's tokens are written) and [`Token`], the
//! fields parsed out of one token. Parsing checks the shape only; whether the token is
//! genuine and covers the request is `verify`'s job.

use std::fmt;

use super::escape;
use super::key::Algorithm;
use super::TokenError;

/// Longest token text accepted; bounds the work an unauthenticated request can cause.
pub const MAX_TOKEN_LEN: usize = 4096;

/// How tokens are written, as the options of EdgeAuth's constructor of the same names.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// `algorithm`: the HMAC hash (default SHA-256).
    pub algorithm: Algorithm,
    /// `escape_early`: `ip`, `id`, `data` (and the signed `url`) are `quote_plus`-ed with
    /// lowercase `%xx` before signing (default off).
    pub escape_early: bool,
    /// `field_delimiter` (default `~`).
    pub field_delimiter: char,
    /// `acl_delimiter` between ACL entries (default `!`).
    pub acl_delimiter: char,
    /// `salt`: signed as `~salt=<salt>`, never sent (default none). Secret, like the key.
    pub salt: Option<String>,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            algorithm: Algorithm::Sha256,
            escape_early: false,
            field_delimiter: '~',
            acl_delimiter: '!',
            salt: None,
        }
    }
}

impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenConfig")
            .field("algorithm", &self.algorithm)
            .field("escape_early", &self.escape_early)
            .field("field_delimiter", &self.field_delimiter)
            .field("acl_delimiter", &self.acl_delimiter)
            .field("salt", &self.salt.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Appended to the configured salt (or used alone) when the edge signs session tokens, so
/// that session and entry tokens cannot stand in for each other (see `verify`).
pub const SESSION_SALT: &str = "hls-edge-session";

impl TokenConfig {
    /// The configuration session tokens are signed with: this one, its salt extended by
    /// [`SESSION_SALT`]. EdgeAuth with this salt mints and checks the same session tokens.
    pub fn for_sessions(&self) -> TokenConfig {
        TokenConfig {
            salt: Some(self.session_salt()),
            ..self.clone()
        }
    }

    pub(crate) fn session_salt(&self) -> String {
        format!("{}{SESSION_SALT}", self.salt.as_deref().unwrap_or(""))
    }

    /// `value` as it is written into a token: `quote_plus`-ed if `escape_early`.
    pub(crate) fn escape<'a>(&self, value: &'a str) -> std::borrow::Cow<'a, str> {
        if self.escape_early {
            escape::quote_plus_lower(value)
        } else {
            std::borrow::Cow::Borrowed(value)
        }
    }
}

/// The fields of one token. `ip`, `id` and `data` are the values the signer passed in: with
/// `escape_early` they are unescaped here (so `id` is the session id an operator revokes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// `ip=`: the client address the token is bound to.
    pub ip: Option<String>,
    /// `st=`: not valid before (unix seconds). EdgeAuth writes it only if a start is given.
    pub start: Option<u64>,
    /// `exp=`: not valid after (unix seconds).
    pub exp: u64,
    /// `acl=`: path globs; `None` for a URL token (its path is signed, not sent).
    pub acl: Option<Vec<String>>,
    /// `id=`: the session id (what revocation names).
    pub id: Option<String>,
    /// `data=`: opaque payload.
    pub data: Option<String>,
    /// The token text before `~hmac=`, exactly as received: what the HMAC covers.
    signed: String,
    /// `hmac=`, decoded from hex.
    hmac: Tag,
}

impl Token {
    /// Parses a token written with `cfg`'s delimiters and escaping. Fields may come in any
    /// order but at most once each, `hmac` last; `exp` is required, `acl` makes it an ACL
    /// token. Empty text is [`TokenError::Missing`], anything else wrong is `Malformed`.
    pub fn parse(text: &str, cfg: &TokenConfig) -> Result<Token, TokenError> {
        if text.is_empty() {
            return Err(TokenError::Missing);
        }
        if text.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("token too long"));
        }
        let delim = cfg.field_delimiter;
        let (signed, hmac_hex) = split_hmac(text, delim)?;
        let hmac = decode_hmac(hmac_hex)?;
        let mut fields = RawFields::default();
        for field in signed.split(delim) {
            let (name, value) = field
                .split_once('=')
                .ok_or(TokenError::Malformed("field without '='"))?;
            fields.set(name, value)?;
        }
        let unescape = |v: Option<&str>| -> Result<Option<String>, TokenError> {
            match v {
                Some(v) if cfg.escape_early => escape::unquote(v, true)
                    .map(|v| Some(v.into_owned()))
                    .ok_or(TokenError::Malformed("escaped value is not utf-8")),
                v => Ok(v.map(str::to_owned)),
            }
        };
        Ok(Token {
            ip: unescape(fields.ip)?,
            start: fields
                .st
                .map(|s| parse_time(s, "st is not a number"))
                .transpose()?,
            exp: parse_time(
                fields.exp.ok_or(TokenError::Malformed("no exp"))?,
                "exp is not a number",
            )?,
            acl: fields
                .acl
                .map(|a| a.split(cfg.acl_delimiter).map(str::to_owned).collect()),
            id: unescape(fields.id)?,
            data: unescape(fields.data)?,
            signed: signed.to_owned(),
            hmac,
        })
    }

    /// A URL token (no `acl=`): the request path is part of what was signed.
    pub fn is_url_token(&self) -> bool {
        self.acl.is_none()
    }

    /// The token text before `~hmac=`, as received.
    pub fn signed_text(&self) -> &str {
        &self.signed
    }

    pub(crate) fn hmac(&self) -> &[u8] {
        &self.hmac.bytes[..self.hmac.len]
    }
}

/// Splits `...~hmac=HEX` into the signed text and the hex.
fn split_hmac(text: &str, delim: char) -> Result<(&str, &str), TokenError> {
    let mut marker = [0u8; 9];
    let marker = build_marker(delim, &mut marker);
    match text.rfind(marker) {
        Some(at) if at > 0 => Ok((&text[..at], &text[at + marker.len()..])),
        _ if text.starts_with("hmac=") => Err(TokenError::Malformed("no field before hmac")),
        _ => Err(TokenError::Malformed("no hmac")),
    }
}

/// `<delim>hmac=` in `buf`, without allocating.
fn build_marker(delim: char, buf: &mut [u8; 9]) -> &str {
    let n = delim.encode_utf8(buf).len();
    buf[n..n + 5].copy_from_slice(b"hmac=");
    std::str::from_utf8(&buf[..n + 5]).unwrap_or("~hmac=")
}

/// An HMAC of up to 64 bytes (SHA-512 size; EdgeAuth's longest is SHA-256's 32), held inline
/// so that parsing allocates less on the request path.
#[derive(Clone, PartialEq, Eq)]
struct Tag {
    bytes: [u8; 64],
    len: usize,
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.bytes[..self.len]))
    }
}

/// Lowercase or uppercase hex, an even number of digits.
fn decode_hmac(hex_text: &str) -> Result<Tag, TokenError> {
    let digits = hex_text.as_bytes();
    if digits.is_empty() || digits.len() > 128 || digits.len() % 2 != 0 {
        return Err(TokenError::Malformed("hmac has a bad length"));
    }
    let mut tag = Tag {
        bytes: [0; 64],
        len: digits.len() / 2,
    };
    for (out, pair) in tag.bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let (Some(hi), Some(lo)) = (hex_digit(pair[0]), hex_digit(pair[1])) else {
            return Err(TokenError::Malformed("hmac is not hex"));
        };
        *out = hi << 4 | lo;
    }
    Ok(tag)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A decimal unix time; digits only, as EdgeAuth writes `'{0}'.format(int)`.
fn parse_time(s: &str, what: &'static str) -> Result<u64, TokenError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenError::Malformed(what));
    }
    s.parse().map_err(|_| TokenError::Malformed(what))
}

#[derive(Default)]
struct RawFields<'a> {
    ip: Option<&'a str>,
    st: Option<&'a str>,
    exp: Option<&'a str>,
    acl: Option<&'a str>,
    id: Option<&'a str>,
    data: Option<&'a str>,
}

impl<'a> RawFields<'a> {
    fn set(&mut self, name: &str, value: &'a str) -> Result<(), TokenError> {
        let slot = match name {
            "ip" => &mut self.ip,
            "st" => &mut self.st,
            "exp" => &mut self.exp,
            "acl" => &mut self.acl,
            "id" => &mut self.id,
            "data" => &mut self.data,
            // `url=` and `salt=` are signed but never sent; sending them is a forgery attempt
            // or a broken signer either way.
            _ => return Err(TokenError::Malformed("unknown field")),
        };
        if slot.is_some() {
            return Err(TokenError::Malformed("repeated field"));
        }
        if value.is_empty() {
            return Err(TokenError::Malformed("empty field"));
        }
        *slot = Some(value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HMAC: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(text: &str) -> Result<Token, TokenError> {
        Token::parse(text, &TokenConfig::default())
    }

    #[test]
    fn parses_every_field_in_edgeauth_order() {
        let text = format!("ip=1.2.3.4~st=100~exp=200~acl=/hls/*!/x?~id=s1~data=d~hmac={HMAC}");
        let t = parse(&text).unwrap();
        assert_eq!(t.ip.as_deref(), Some("1.2.3.4"));
        assert_eq!((t.start, t.exp), (Some(100), 200));
        assert_eq!(t.acl, Some(vec!["/hls/*".to_string(), "/x?".to_string()]));
        assert_eq!(
            (t.id.as_deref(), t.data.as_deref()),
            (Some("s1"), Some("d"))
        );
        assert_eq!(
            t.signed_text(),
            "ip=1.2.3.4~st=100~exp=200~acl=/hls/*!/x?~id=s1~data=d"
        );
        assert_eq!(hex::encode(t.hmac()), HMAC);
        assert!(!t.is_url_token());
        let url = parse(&format!("exp=200~hmac={HMAC}")).unwrap();
        assert!(url.is_url_token() && url.start.is_none());
    }

    #[test]
    fn escape_early_values_are_unescaped() {
        let cfg = TokenConfig {
            escape_early: true,
            ..TokenConfig::default()
        };
        let text = format!("ip=%3a%3a1~exp=2~acl=/*~id=a+b%2fc~data=x%3dy~hmac={HMAC}");
        let t = Token::parse(&text, &cfg).unwrap();
        assert_eq!(t.ip.as_deref(), Some("::1"));
        assert_eq!(t.id.as_deref(), Some("a b/c"));
        assert_eq!(t.data.as_deref(), Some("x=y"));
        // without escape_early the same text is taken as written
        let raw = parse(&text).unwrap();
        assert_eq!(raw.id.as_deref(), Some("a+b%2fc"));
    }

    #[test]
    fn other_delimiters() {
        let cfg = TokenConfig {
            field_delimiter: ';',
            acl_delimiter: ',',
            ..TokenConfig::default()
        };
        let t = Token::parse(&format!("exp=5;acl=/a/*,/b/*;hmac={HMAC}"), &cfg).unwrap();
        assert_eq!(t.acl, Some(vec!["/a/*".to_string(), "/b/*".to_string()]));
    }

    #[test]
    fn malformed_tokens() {
        let long = format!("exp=1~data={}~hmac={HMAC}", "x".repeat(MAX_TOKEN_LEN));
        let cases = [
            format!("hmac={HMAC}"),
            "exp=1~acl=/*".to_string(),
            "exp=1~acl=/*~hmac=".to_string(),
            "exp=1~acl=/*~hmac=xyz0".to_string(),
            "exp=1~acl=/*~hmac=abc".to_string(),
            format!("exp=1~acl=/*~hmac={HMAC}{HMAC}0a"),
            format!("acl=/*~hmac={HMAC}"),
            format!("exp=soon~hmac={HMAC}"),
            format!("exp=+5~hmac={HMAC}"),
            format!("st=-1~exp=5~hmac={HMAC}"),
            format!("exp=99999999999999999999999~hmac={HMAC}"),
            format!("exp=5~exp=6~hmac={HMAC}"),
            format!("exp=5~url=/x~hmac={HMAC}"),
            format!("exp=5~salt=s~hmac={HMAC}"),
            format!("exp=5~junk~hmac={HMAC}"),
            format!("exp=5~id=~hmac={HMAC}"),
            format!("exp=5~~hmac={HMAC}"),
            format!("exp=5~hmac={HMAC}~id=x"),
            long,
        ];
        for text in cases {
            let err = parse(&text).unwrap_err();
            assert_eq!(err.reason(), "malformed", "{text}: {err}");
        }
        assert_eq!(parse(""), Err(TokenError::Missing));
        let cfg = TokenConfig {
            escape_early: true,
            ..TokenConfig::default()
        };
        let bad_utf8 = Token::parse(&format!("exp=5~id=%ff~hmac={HMAC}"), &cfg);
        assert_eq!(bad_utf8.unwrap_err().reason(), "malformed");
    }

    #[test]
    fn salt_is_not_in_debug() {
        let cfg = TokenConfig {
            salt: Some("pepper".into()),
            ..TokenConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("pepper"));
    }
}
