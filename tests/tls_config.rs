//! Certificates checked before the edge starts (`hls-edge -t`): a missing
//! file, a key that is not the certificate's, an expired or not yet valid
//! certificate, a key variable that is unset, each named by its key path;
//! a key taken from an environment variable is never echoed. The shipped
//! `conf/tls.yaml` checks clean once its documented set-up step has run.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::tls::{https_get, TestPki};
use common::*;

const ROUTES: &str = "origin_groups:\n  g:\n    origins: [{url: \"http://127.0.0.1:9\"}]\nroutes:\n  - {prefix: /hls/, origin_group: g}\n";

/// `hls-edge -t` on an edge listening on TLS with `tls` (flow YAML).
fn check(tls: &str, env: &[(&str, &str)]) -> Output {
    let dir = TempDir::new("hls-edge-tls-check").expect("temp dir");
    let config = dir.path().join("edge.yaml");
    let yaml = format!(
        "edge:\n  listen: [\"127.0.0.1:8080\", {{addr: \"127.0.0.1:8443\", tls: {tls}}}]\n{ROUTES}"
    );
    std::fs::write(&config, yaml).expect("config written");
    Command::new(EDGE_BIN)
        .args(["-t", "-c"])
        .arg(&config)
        .envs(env.iter().copied())
        .output()
        .expect("hls-edge runs")
}

fn flow(cert: &Path, key: &Path) -> String {
    format!(
        "{{cert: \"{}\", key: \"{}\"}}",
        cert.display(),
        key.display()
    )
}

fn refused_with(out: &Output, expected: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(65),
        "exit status; stderr:\n{stderr}"
    );
    for e in expected {
        assert!(stderr.contains(e), "{e:?} missing from:\n{stderr}");
    }
    stderr
}

#[test]
fn a_good_certificate_checks_clean() {
    let Some(pki) = TestPki::new() else { return };
    let cert = pki.issue(&["edge.test"], 30);
    let out = check(&flow(&cert.cert, &cert.key), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_missing_file_is_named_by_its_key_path() {
    let Some(pki) = TestPki::new() else { return };
    let cert = pki.issue(&["edge.test"], 30);
    let out = check(&flow(Path::new("/nonexistent/edge.crt"), &cert.key), &[]);
    refused_with(
        &out,
        &["edge.listen[1].tls.cert: cannot read /nonexistent/edge.crt"],
    );
    let out = check(&flow(&cert.cert, Path::new("/nonexistent/edge.key")), &[]);
    refused_with(
        &out,
        &["edge.listen[1].tls.key: cannot read /nonexistent/edge.key"],
    );
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let Some(pki) = TestPki::new() else { return };
    let cert = pki.issue(&["edge.test"], 30);
    let out = check(&flow(&cert.cert, &pki.stray_key()), &[]);
    refused_with(
        &out,
        &[
            "edge.listen[1].tls.key: the key",
            "does not belong to the certificate",
        ],
    );
    // a certificate file given as the key holds no key at all
    let out = check(&flow(&cert.cert, &cert.cert), &[]);
    refused_with(
        &out,
        &["edge.listen[1].tls.key:", "holds no PEM private key"],
    );
}

#[test]
fn expired_and_future_certificates_are_refused() {
    let Some(pki) = TestPki::new() else { return };
    let expired = pki.issue_expired(&["edge.test"]);
    let out = check(&flow(&expired.cert, &expired.key), &[]);
    refused_with(
        &out,
        &["edge.listen[1].tls.cert: certificate", "expired at"],
    );
    let future = pki.issue_future(&["edge.test"]);
    let out = check(&flow(&future.cert, &future.key), &[]);
    refused_with(
        &out,
        &[
            "edge.listen[1].tls.cert: certificate",
            "is not valid before",
        ],
    );
}

#[test]
fn several_certificates_are_checked_each_under_its_own_path() {
    let Some(pki) = TestPki::new() else { return };
    let good = pki.issue(&["a.test"], 30);
    let expired = pki.issue_expired(&["b.test"]);
    let tls = format!(
        "{{certificates: [{}, {}]}}",
        flow(&good.cert, &good.key),
        flow(&expired.cert, &expired.key)
    );
    let stderr = refused_with(
        &check(&tls, &[]),
        &["edge.listen[1].tls.certificates[1].cert: certificate"],
    );
    assert!(!stderr.contains("certificates[0]"), "{stderr}");
}

#[test]
fn a_key_from_the_environment_is_never_echoed() {
    let Some(pki) = TestPki::new() else { return };
    let cert = pki.issue(&["edge.test"], 30);
    let tls = |var: &str| format!("{{cert: \"{}\", key_env: {var}}}", cert.cert.display());

    let out = check(&tls("EDGE_TEST_TLS_KEY"), &[]);
    refused_with(
        &out,
        &["edge.listen[1].tls.key_env: EDGE_TEST_TLS_KEY is not set"],
    );

    let secret = "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-MATERIAL\n-----END PRIVATE KEY-----\n";
    let out = check(&tls("EDGE_TEST_TLS_KEY"), &[("EDGE_TEST_TLS_KEY", secret)]);
    let stderr = refused_with(&out, &["edge.listen[1].tls.key_env: $EDGE_TEST_TLS_KEY"]);
    assert!(!stderr.contains("TOP-SECRET"), "the key leaked: {stderr}");

    let key = cert.key_pem();
    let out = check(&tls("EDGE_TEST_TLS_KEY"), &[("EDGE_TEST_TLS_KEY", &key)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edge_serves_with_the_key_from_the_environment() {
    let Some(pki) = TestPki::new() else { return };
    let origin = CountingOrigin::start();
    origin.set("/hls/v/index.m3u8", Reply::playlist(vod_playlist(4, 2)));
    let cert = pki.issue(&["edge.test"], 30);
    let tls = free_addr();
    let entry = format!(
        "{{addr: \"{tls}\", tls: {{cert: \"{}\", key_env: EDGE_TEST_TLS_KEY}}}}",
        cert.cert.display()
    );
    let config = EdgeConfig::new()
        .route("/hls/", origin.addr())
        .listener(&entry)
        .env("EDGE_TEST_TLS_KEY", &cert.key_pem());
    let edge = TestEdge::start_config(&config).await;
    let (response, handshake) =
        https_get(tls, "edge.test", &pki.ca_cert(), "/hls/v/index.m3u8", &[])
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", edge.logs()));
    assert_eq!(response.status, 200);
    assert!(handshake.peer_cert == cert.der);
    assert!(
        !edge.logs().contains("PRIVATE KEY"),
        "the key leaked into the log"
    );
}

#[test]
fn the_shipped_tls_example_checks_clean_after_its_set_up_step() {
    if !common::tls::tool("openssl", "version") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = TempDir::new("hls-edge-tls-example").expect("temp dir");
    let made = Command::new(root.join("conf/tls/selfsigned.sh"))
        .arg(dir.path().join("tls"))
        .output()
        .expect("the set-up script runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // conf/tls.yaml with its certificate paths pointed at the fresh files
    let yaml = std::fs::read_to_string(root.join("conf/tls.yaml"))
        .expect("conf/tls.yaml")
        .replace("conf/tls/", &format!("{}/tls/", dir.path().display()));
    assert!(yaml.contains(&format!("{}/tls/edge.key", dir.path().display())));
    let config = dir.path().join("tls.yaml");
    std::fs::write(&config, yaml).expect("config written");
    let out = Command::new(EDGE_BIN)
        .current_dir(root)
        .args(["-t", "-c"])
        .arg(&config)
        .output()
        .expect("hls-edge runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
