//! Tier-to-tier authentication (design section 5): edges of one deployment
//! share a secret, and an edge fetching from another edge (a shield, or the
//! sibling that owns a segment) signs each request with it. The receiving
//! edge admits a signed request on a token route without a player token: the
//! player's token was checked by the first edge, which strips it before
//! forwarding.
//!
//! The header is `X-HLS-Edge-Peer: t=<unix seconds>;sig=<hex>`, where `sig`
//! is HMAC-SHA256(secret, "<t>\n<path>") over the request path. A signature is
//! good for `PEER_SKEW_SECS` either side of `t`, for that path only. Pure
//! code: the clock is passed in, the comparison is constant-time, and the
//! secret never appears in `Debug` or in errors.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The request header carrying a peer signature.
pub const PEER_HEADER: &str = "x-hls-edge-peer";
/// The request header marking a fetch from a sibling that is not the owner:
/// the owner fetches it from its origins and never forwards it again.
pub const SIBLING_HEADER: &str = "x-hls-edge-sibling";
/// How far a signature's time may be from the receiver's clock.
pub const PEER_SKEW_SECS: u64 = 30;
/// The shortest secret accepted (bytes); see `super::strength` for the rest.
pub const MIN_SECRET_LEN: usize = super::strength::MIN_SECRET_BYTES;

/// Why a peer signature was refused (the `reason` of the refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    #[error("peer signature is malformed")]
    Malformed,
    #[error("peer signature is outside the allowed clock skew")]
    Expired,
    #[error("peer signature does not match")]
    BadSignature,
}

/// The shared secret of a deployment's edges.
#[derive(Clone)]
pub struct PeerSecret {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for PeerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerSecret(..)")
    }
}

impl PeerSecret {
    /// A secret from its text (as found in an environment variable), or why
    /// not (never quoting it).
    pub fn new(text: &str) -> Result<PeerSecret, String> {
        let text = text.trim();
        super::strength::check(text.as_bytes())
            .map_err(|weak| format!("is too weak: it {weak}"))?;
        Ok(PeerSecret {
            bytes: text.as_bytes().to_vec(),
        })
    }

    fn mac(&self, t: u64, path: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.bytes).expect("HMAC accepts keys of any length");
        mac.update(t.to_string().as_bytes());
        mac.update(b"\n");
        mac.update(path.as_bytes());
        mac
    }

    /// The header value signing a request for `path` at `now`.
    pub fn sign(&self, path: &str, now: u64) -> String {
        let sig = self.mac(now, path).finalize().into_bytes();
        format!("t={now};sig={}", hex::encode(sig))
    }

    /// Checks a header value for a request of `path` received at `now`.
    pub fn verify(&self, value: &str, path: &str, now: u64) -> Result<(), PeerError> {
        let (t, sig) = parse(value).ok_or(PeerError::Malformed)?;
        if t.abs_diff(now) > PEER_SKEW_SECS {
            return Err(PeerError::Expired);
        }
        let sig = hex::decode(sig).map_err(|_| PeerError::Malformed)?;
        self.mac(t, path)
            .verify_slice(&sig)
            .map_err(|_| PeerError::BadSignature)
    }
}

fn parse(value: &str) -> Option<(u64, &str)> {
    let (t, sig) = value.trim().split_once(';')?;
    let t = t.trim().strip_prefix("t=")?.parse().ok()?;
    let sig = sig.trim().strip_prefix("sig=")?;
    Some((t, sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn secret() -> PeerSecret {
        PeerSecret::new("a-shared-secret-of-the-tiers").unwrap()
    }

    #[test]
    fn a_signature_verifies_for_its_path_and_time_only() {
        let s = secret();
        let v = s.sign("/hls/demo/seg_1.ts", NOW);
        assert_eq!(s.verify(&v, "/hls/demo/seg_1.ts", NOW + 5), Ok(()));
        assert_eq!(
            s.verify(&v, "/hls/demo/seg_2.ts", NOW),
            Err(PeerError::BadSignature)
        );
        assert_eq!(
            s.verify(&v, "/hls/demo/seg_1.ts", NOW + PEER_SKEW_SECS + 1),
            Err(PeerError::Expired)
        );
        let other = PeerSecret::new("another-secret-entirely").unwrap();
        assert_eq!(
            other.verify(&v, "/hls/demo/seg_1.ts", NOW),
            Err(PeerError::BadSignature)
        );
    }

    #[test]
    fn malformed_values_and_short_secrets_are_refused_without_quoting() {
        let s = secret();
        for bad in ["", "t=1", "sig=00", "t=x;sig=00", "t=1700000000;sig=zz"] {
            assert_eq!(s.verify(bad, "/p", NOW), Err(PeerError::Malformed), "{bad}");
        }
        let e = PeerSecret::new("short-secret").unwrap_err();
        assert!(!e.contains("short-secret"));
        assert!(!format!("{s:?}").contains("shared"));
    }
}
