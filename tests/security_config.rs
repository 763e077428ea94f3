//! Security: weak secrets are refused by `hls-edge -t` (and at start), each
//! named by its key path, never echoed. Token keys, the peer secret, the
//! admin token and stream keys all need a minimum strength; a stream key,
//! configured only as its SHA-256, is also refused at ingest when the key a
//! client presents is too short.

mod common;

use common::*;

const STRONG_HEX: &str = "8f3a91c4d2e7b6054a1f9c3e7d2b8a6f";

fn route_with_key_file(path: &std::path::Path) -> String {
    format!(
        "origin_groups:\n  g:\n    origins: [{{url: \"http://127.0.0.1:9\"}}]\n\
         routes:\n  - prefix: /hls/\n    origin_group: g\n    tokens:\n      keys: [{{file: \"{}\"}}]\n",
        path.display()
    )
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn weak_token_keys_are_refused_by_key_path() {
    let dir = TempDir::new("weak-keys").expect("temp dir");
    for (hex, why) in [
        ("00", "at least 16 bytes"),
        ("0011223344556677", "at least 16 bytes"),
        (&"00".repeat(32), "one repeated byte"),
        (&"ab".repeat(32), "one repeated byte"),
        (&"0102".repeat(16), "distinct"),
    ] {
        let file = dir.path().join("key.hex");
        std::fs::write(&file, format!("{hex}\n")).expect("write key");
        let out = run_edge_check(&route_with_key_file(&file));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(65), "{hex}: {err}");
        assert!(err.contains("routes[0].tokens.keys[0]"), "{err}");
        assert!(err.contains(why), "{hex}: {err}");
        if hex.len() > 8 {
            assert!(!err.contains(hex), "the key is echoed: {err}");
        }
    }
    let file = dir.path().join("key.hex");
    std::fs::write(&file, STRONG_HEX).expect("write key");
    let out = run_edge_check(&route_with_key_file(&file));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_weak_peer_secret_is_refused_by_key_path() {
    let yaml = "edge:\n  peer_secret_env: TEST_PEER_SECRET\n\
                origin_groups:\n  g:\n    origins: [{url: \"http://127.0.0.1:9\"}]\n\
                routes:\n  - prefix: /hls/\n    origin_group: g\n";
    for secret in ["x", "aaaaaaaaaaaaaaaaaaaaaaaa", "abababababababababababab"] {
        let out = run_edge_check_with_env(yaml, &[("TEST_PEER_SECRET", secret)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(65), "{secret}: {err}");
        assert!(err.contains("edge.peer_secret_env"), "{err}");
        if secret.len() > 1 {
            assert!(!err.contains(secret), "the secret is echoed: {err}");
        }
    }
    let out = run_edge_check_with_env(
        yaml,
        &[("TEST_PEER_SECRET", "tiers-share-this-secret-0123456789")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `printf %s KEY | sha256sum`, computed here.
fn sha256_hex(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[test]
fn stream_key_hashes_of_weak_keys_are_refused_by_key_path() {
    for (hash, why) in [
        (sha256_hex(""), "empty"),
        (sha256_hex("live"), "the stream's name"),
        (sha256_hex("password"), "well-known"),
        ("0".repeat(64), "not a sha-256"),
    ] {
        let yaml = format!(
            "packager:\n  listen: 127.0.0.1:9\n  streams:\n    - {{ name: live, key_sha256: \"{hash}\" }}\n"
        );
        let out = run_edge_check(&yaml);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(65), "{why}: {err}");
        assert!(err.contains("packager.streams[0].key_sha256"), "{err}");
        assert!(err.contains(why), "{why}: {err}");
    }
}

#[test]
fn the_admin_api_needs_a_token_off_loopback_and_a_strong_one() {
    let base = "origin_groups:\n  g:\n    origins: [{url: \"http://127.0.0.1:9\"}]\n\
                routes:\n  - prefix: /hls/\n    origin_group: g\n";
    let open = format!("admin:\n  listen: 0.0.0.0:9090\n{base}");
    let out = run_edge_check(&open);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(err.contains("admin.listen"), "{err}");
    let weak = format!("admin:\n  listen: 0.0.0.0:9090\n  token_env: TEST_ADMIN_TOKEN\n{base}");
    let out = run_edge_check_with_env(&weak, &[("TEST_ADMIN_TOKEN", "letmein")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(err.contains("admin.token_env"), "{err}");
    assert!(!err.contains("letmein"), "{err}");
    let out = run_edge_check_with_env(
        &weak,
        &[("TEST_ADMIN_TOKEN", "b3f1c0d9e8a7f6e5d4c3b2a1f0e9d8c7")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_presented_stream_key_is_refused_at_ingest() {
    // `-t` cannot tell a short key from its hash; ingest can
    let short = "k3y-9";
    let strong = "c0ffee-9b1d-4c2e-8f7a-5e6d4c3b2a19";
    let packager = free_addr();
    let config = EdgeConfig::new().extra_yaml(&format!(
        "packager:\n  listen: {packager}\n  streams:\n    - {{ name: short, key_sha256: \"{}\" }}\n    - {{ name: strong, key_sha256: \"{}\" }}\n",
        sha256_hex(short),
        sha256_hex(strong)
    ));
    let _edge = TestEdge::start_config(&config).await;
    let put = |stream: &str, key: &str| {
        let path = format!("/ingest/{stream}/180p?key={key}");
        async move { http_request(packager, "PUT", &path, &[], b"").await }
    };
    let refused = put("short", short).await.expect("a response");
    assert_eq!(refused.status, 403, "{}", refused.text());
    let accepted = put("strong", strong).await.expect("a response");
    assert_ne!(accepted.status, 403, "{}", accepted.text());
}
