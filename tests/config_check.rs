//! `hls-edge -t -c FILE`: a bad file exits non-zero naming each bad key; every
//! shipped config in `conf/` checks clean (as River validates its configs in CI).

mod common;

use common::*;

#[test]
fn a_bad_config_names_every_problem_by_its_key_path() {
    let out = run_edge_check(
        r#"
edge:
  listen: ["127.0.0.1:99999"]
  threds: 4
cache:
  segment_ttl: forever
origin_groups:
  g:
    origins: [{url: "ftp://origin"}]
routes:
  - prefix: /hls/
    origin_group: missing
"#,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for path in [
        "edge.listen[0]",
        "edge.threds: unknown key",
        "cache.segment_ttl",
        "origin_groups.g.origins[0].url",
        "routes[0].origin_group",
    ] {
        assert!(stderr.contains(path), "{path} missing from:\n{stderr}");
    }
}

#[test]
fn a_missing_origin_is_reported() {
    let out = run_edge_check("routes:\n  - prefix: /hls/\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("routes[0].origin_group: is required"));
}

#[test]
fn every_shipped_config_checks_clean() {
    let conf = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let mut checked = 0;
    for entry in std::fs::read_dir(&conf).expect("conf/ exists") {
        let path = entry.expect("readable").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        // its certificate is made by the set-up step first: tests/tls_config.rs
        if path.file_name().and_then(|n| n.to_str()) == Some("tls.yaml") {
            continue;
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hls-edge"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("HLS_EDGE_TOKEN_KEY", "00112233445566778899aabbccddeeff")
            .args(["-t", "-c"])
            .arg(&path)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 1);
}
