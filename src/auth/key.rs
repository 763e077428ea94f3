//! Token keys and the HMAC algorithms. A [`TokenKey`] holds the secret bytes and shows them
//! nowhere: its `Debug` and `Display` give only its label and length. A `Signer` is a key
//! already absorbed into an HMAC state, so verifying a token hashes only the token text.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::Sha256;

/// The HMAC hash. EdgeAuth's default is SHA-256; SHA-1 and MD5 exist for old signers and are
/// accepted only where a route's configuration names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    #[default]
    Sha256,
    Sha1,
    Md5,
}

impl Algorithm {
    /// The name EdgeAuth uses (`algorithm='sha256'`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha1 => "sha1",
            Algorithm::Md5 => "md5",
        }
    }
}

impl FromStr for Algorithm {
    type Err = KeyError;

    /// `sha256`, `sha1` or `md5`, any case (as EdgeAuth's `algorithm.lower()`).
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s.to_ascii_lowercase().as_str() {
            "sha256" => Ok(Algorithm::Sha256),
            "sha1" => Ok(Algorithm::Sha1),
            "md5" => Ok(Algorithm::Md5),
            _ => Err(KeyError::UnknownAlgorithm(s.chars().take(32).collect())),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A bad key or algorithm in the configuration. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("token key is empty")]
    Empty,
    #[error("token key is not hex: odd number of digits")]
    OddLength,
    #[error("token key is not hex: bad digit at position {0}")]
    BadDigit(usize),
    #[error("unknown token algorithm {0:?} (expected sha256, sha1 or md5)")]
    UnknownAlgorithm(String),
    #[error("a verifier needs at least one key")]
    NoKeys,
}

/// A token secret, as EdgeAuth takes it: hex text (`key='52a1...'`), decoded to bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey {
    bytes: Vec<u8>,
    label: Option<String>,
}

impl TokenKey {
    /// Decodes a hex key (either case; surrounding whitespace, such as the newline of a key
    /// file, is ignored).
    pub fn from_hex(hex: &str) -> Result<TokenKey, KeyError> {
        let hex = hex.trim();
        if hex.is_empty() {
            return Err(KeyError::Empty);
        }
        if hex.len() % 2 != 0 {
            return Err(KeyError::OddLength);
        }
        if let Some(pos) = hex.bytes().position(|b| !b.is_ascii_hexdigit()) {
            return Err(KeyError::BadDigit(pos));
        }
        let bytes = hex::decode(hex).map_err(|_| KeyError::OddLength)?;
        Ok(TokenKey { bytes, label: None })
    }

    /// A key from raw bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<TokenKey, KeyError> {
        if bytes.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(TokenKey { bytes, label: None })
    }

    /// Whether the key is strong enough to sign with (`super::strength`).
    pub fn strength(&self) -> Result<(), super::strength::WeakSecret> {
        super::strength::check(&self.bytes)
    }

    /// Names the key for logs and metrics (`"2024-06"`), so a rotation can be watched.
    pub fn with_label(mut self, label: impl Into<String>) -> TokenKey {
        self.label = Some(label.into());
        self
    }

    /// The label given with [`TokenKey::with_label`].
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// The key absorbed into an HMAC state for `algorithm`.
    pub(crate) fn signer(&self, algorithm: Algorithm) -> Signer {
        // HMAC takes keys of any length (RFC 2104 §2), so `new_from_slice` cannot fail; the
        // fallback is never used but keeps this free of `unwrap`.
        fn keyed<M: Mac + hmac::digest::KeyInit>(key: &[u8]) -> Option<M> {
            <M as hmac::digest::KeyInit>::new_from_slice(key).ok()
        }
        let signer = match algorithm {
            Algorithm::Sha256 => keyed::<Hmac<Sha256>>(&self.bytes).map(Signer::Sha256),
            Algorithm::Sha1 => keyed::<Hmac<Sha1>>(&self.bytes).map(Signer::Sha1),
            Algorithm::Md5 => keyed::<Hmac<Md5>>(&self.bytes).map(Signer::Md5),
        };
        signer.unwrap_or(Signer::Unusable)
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("label", &self.label)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.label {
            Some(label) => write!(f, "token key {label:?}"),
            None => write!(f, "token key ({} bytes)", self.bytes.len()),
        }
    }
}

/// A key ready to sign or verify: the HMAC state after the key block, cloned per message.
#[derive(Clone)]
pub(crate) enum Signer {
    Sha256(Hmac<Sha256>),
    Sha1(Hmac<Sha1>),
    Md5(Hmac<Md5>),
    /// Never built in practice (see [`TokenKey::signer`]); signs nothing, verifies nothing.
    Unusable,
}

impl Signer {
    /// Lowercase hex HMAC of the concatenation of `parts` (EdgeAuth's `hexdigest()`).
    pub(crate) fn sign_hex(&self, parts: &[&[u8]]) -> String {
        fn run<M: Mac + Clone>(m: &M, parts: &[&[u8]]) -> String {
            let mut m = m.clone();
            parts.iter().for_each(|p| m.update(p));
            hex::encode(m.finalize().into_bytes())
        }
        match self {
            Signer::Sha256(m) => run(m, parts),
            Signer::Sha1(m) => run(m, parts),
            Signer::Md5(m) => run(m, parts),
            Signer::Unusable => String::new(),
        }
    }

    /// Whether `tag` is the HMAC of the concatenation of `parts`, compared in constant time
    /// (`Mac::verify_slice` uses `subtle`).
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        fn run<M: Mac + Clone>(m: &M, parts: &[&[u8]], tag: &[u8]) -> bool {
            let mut m = m.clone();
            parts.iter().for_each(|p| m.update(p));
            m.verify_slice(tag).is_ok()
        }
        match self {
            Signer::Sha256(m) => run(m, parts, tag),
            Signer::Sha1(m) => run(m, parts, tag),
            Signer::Md5(m) => run(m, parts, tag),
            Signer::Unusable => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_keys_decode_and_bad_ones_say_why_without_the_key() {
        let k = TokenKey::from_hex(" 0A0b\n").unwrap();
        assert_eq!(k.bytes, vec![0x0a, 0x0b]);
        assert_eq!(TokenKey::from_hex(""), Err(KeyError::Empty));
        assert_eq!(TokenKey::from_hex("abc"), Err(KeyError::OddLength));
        let err = TokenKey::from_hex("00s3cr").unwrap_err();
        assert_eq!(err, KeyError::BadDigit(2));
        assert!(!err.to_string().contains("s3cr"));
    }

    #[test]
    fn debug_and_display_never_show_the_key() {
        let k = TokenKey::from_hex("deadbeefcafe").unwrap();
        for shown in [
            format!("{k:?}"),
            format!("{k}"),
            format!("{:?}", k.clone().with_label("k1")),
        ] {
            assert!(!shown.to_lowercase().contains("deadbeef"), "{shown}");
            assert!(!shown.contains("222, 173"), "{shown}");
        }
        assert_eq!(
            k.clone().with_label("2024-06").to_string(),
            "token key \"2024-06\""
        );
    }

    #[test]
    fn rfc4231_case_2_vectors() {
        // RFC 4231 §4.3 (HMAC-SHA-256), RFC 2202 §3 and §2 (HMAC-SHA-1, HMAC-MD5): key "Jefe".
        let key = TokenKey::from_bytes(b"Jefe".to_vec()).unwrap();
        let msg: &[&[u8]] = &[b"what do ya want ", b"for nothing?"];
        let sha256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(key.signer(Algorithm::Sha256).sign_hex(msg), sha256);
        let sha1 = "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79";
        assert_eq!(key.signer(Algorithm::Sha1).sign_hex(msg), sha1);
        let md5 = "750c783e6ab0b503eaa86e310a5db738";
        assert_eq!(key.signer(Algorithm::Md5).sign_hex(msg), md5);
        let tag = hex::decode(sha256).unwrap();
        assert!(key.signer(Algorithm::Sha256).verify(msg, &tag));
        assert!(!key
            .signer(Algorithm::Sha256)
            .verify(&[b"what do ya want"], &tag));
        assert!(!key.signer(Algorithm::Sha256).verify(msg, &tag[..31]));
    }

    #[test]
    fn algorithms_parse_by_edgeauth_name() {
        assert_eq!("SHA256".parse::<Algorithm>(), Ok(Algorithm::Sha256));
        assert_eq!("md5".parse::<Algorithm>(), Ok(Algorithm::Md5));
        assert!("sha512".parse::<Algorithm>().is_err());
    }
}
