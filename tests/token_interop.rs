//! Tokens cross-checked with Akamai's own Python package, `akamai-edgeauth` (PyPI): what it
//! mints, hls-edge verifies and mints byte for byte the same; what hls-edge mints (session
//! tokens included, with the session salt), the package re-mints identically from the
//! token's fields and an independent HMAC in Python accepts. ACL and URL tokens,
//! escape-early on and off, SHA-256/SHA-1/MD5, ip/id/data, salt, fixed start and expiry.
//!
//! The package is installed with pip into this test's own directory under
//! `CARGO_TARGET_TMPDIR` if `python3` cannot import it already; without python3, pip or the
//! network the tests print why and skip, except under `CI=true`, where they fail.
//!
//! Run: `cargo test --test token_interop -- --nocapture`

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use hls_edge::auth::{
    mint_acl_token, mint_url_token, stream_acl, Algorithm, Request, SessionSpec, TokenConfig,
    TokenError, TokenFields, TokenKey, TokenKind, Verifier,
};
use serde::Serialize;
use serde_json::Value;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/edgeauth.py");
const KEY: &str = "52a152a1c0ffee00aa55aa55deadbeef0123456789abcdef0123456789abcdef";
const START: u64 = 1_700_000_000;
const EXP: u64 = 1_700_000_090;

/// One token, as EdgeAuth's constructor arguments (`None` = not given).
#[derive(Clone, Debug, Serialize)]
struct Case {
    key: String,
    algorithm: &'static str,
    escape_early: bool,
    salt: Option<String>,
    field_delimiter: Option<String>,
    acl_delimiter: Option<String>,
    ip: Option<String>,
    id: Option<String>,
    data: Option<String>,
    start: Option<u64>,
    exp: u64,
    acl: Option<Vec<String>>,
    url: Option<String>,
}

impl Case {
    fn config(&self) -> TokenConfig {
        let first =
            |s: &Option<String>, d| s.as_deref().and_then(|s| s.chars().next()).unwrap_or(d);
        TokenConfig {
            algorithm: self.algorithm.parse().unwrap(),
            escape_early: self.escape_early,
            field_delimiter: first(&self.field_delimiter, '~'),
            acl_delimiter: first(&self.acl_delimiter, '!'),
            salt: self.salt.clone(),
        }
    }

    fn fields(&self) -> TokenFields {
        TokenFields {
            start: self.start,
            exp: self.exp,
            acl: self.acl.clone().unwrap_or_default(),
            id: self.id.clone(),
            data: self.data.clone(),
            ip: self.ip.clone(),
        }
    }

    fn mint(&self) -> String {
        let key = TokenKey::from_hex(&self.key).unwrap();
        match &self.url {
            Some(url) => mint_url_token(&key, &self.config(), url, self.fields()).unwrap(),
            None => mint_acl_token(&key, &self.config(), self.fields()).unwrap(),
        }
    }

    /// A request the token is meant for.
    fn request(&self) -> Request<'_> {
        let path = match (&self.url, &self.acl) {
            (Some(url), _) => url.as_str(),
            (None, Some(acl)) if acl[0].starts_with("/vod/") => "/vod/film/seg_1.ts",
            _ => "/hls/demo/720p/seg_1.ts",
        };
        let client_ip = self.ip.as_deref().map(|ip| ip.parse::<IpAddr>().unwrap());
        Request {
            path,
            client_ip,
            now: self.start.unwrap_or(self.exp - 30),
        }
    }
}

fn base(algorithm: &'static str, escape_early: bool) -> Case {
    Case {
        key: KEY.to_string(),
        algorithm,
        escape_early,
        salt: None,
        field_delimiter: None,
        acl_delimiter: None,
        ip: None,
        id: None,
        data: None,
        start: None,
        exp: EXP,
        acl: Some(vec!["/hls/demo/*".to_string()]),
        url: None,
    }
}

/// Every algorithm x escape-early x ACL/URL x bare/all fields, then the odd ones.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for algorithm in ["sha256", "sha1", "md5"] {
        for escape_early in [false, true] {
            for url in [false, true] {
                for full in [false, true] {
                    let mut c = base(algorithm, escape_early);
                    if url {
                        c.acl = None;
                        c.url = Some("/hls/demo/index.m3u8".into());
                    }
                    if full {
                        c.ip = Some("2001:db8::7".into());
                        c.id = Some("viewer 42/web".into());
                        c.data = Some("plan=gold&geo=FR".into());
                        c.start = Some(START);
                    }
                    cases.push(c);
                }
            }
        }
    }
    let s = || base("sha256", true);
    cases.push(Case {
        salt: Some("s4lt".into()),
        id: Some("x".into()),
        ..s()
    });
    cases.push(Case {
        salt: Some("s4lt".into()),
        acl: None,
        url: Some("/hls/demo/a%20b.ts".into()),
        ..s()
    });
    cases.push(Case {
        acl: Some(vec!["/vod/*".into(), "/hls/demo/???_?.ts".into()]),
        ..s()
    });
    cases.push(Case {
        ip: Some("192.0.2.10".into()),
        data: Some("émoji ✓".into()),
        start: Some(START),
        ..s()
    });
    cases.push(Case {
        field_delimiter: Some(";".into()),
        acl_delimiter: Some(",".into()),
        acl: Some(vec!["/hls/demo/*".into(), "/vod/*".into()]),
        ..base("sha256", false)
    });
    cases.push(Case {
        key: KEY.to_uppercase(),
        id: Some("a!b*c'(d)".into()),
        ..s()
    });
    cases.push(Case {
        start: Some(0),
        ..base("sha256", false)
    });
    cases
}

/// `python3` with `akamai-edgeauth` importable, and the PYTHONPATH it needs; `None` (after
/// saying why) if it cannot be had. Under `CI=true` (where `.ci/setup` installs python3 and
/// pip) a missing package is a failure, not a skip.
fn python() -> Option<&'static Option<PathBuf>> {
    static PYTHON: OnceLock<Option<Option<PathBuf>>> = OnceLock::new();
    let found = PYTHON.get_or_init(find_or_install).as_ref();
    if found.is_none() && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true: akamai-edgeauth must be available for the interop tests (see above)");
    }
    found
}

fn imports(pythonpath: Option<&Path>) -> bool {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", "import akamai.edgeauth"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(p) = pythonpath {
        cmd.env("PYTHONPATH", p);
    }
    cmd.status().is_ok_and(|s| s.success())
}

fn find_or_install() -> Option<Option<PathBuf>> {
    if imports(None) {
        return Some(None);
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("token_interop");
    let lib = dir.join("pylib");
    if imports(Some(&lib)) {
        return Some(Some(lib));
    }
    // install next to the final place and rename, so a concurrent run never sees half of it
    let staging = dir.join(format!("pylib.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--timeout",
            "30",
        ])
        .args(["--retries", "2", "--target"])
        .arg(&staging)
        .arg("akamai-edgeauth")
        .output();
    match out {
        Ok(out) if out.status.success() => {
            // loses the race harmlessly if another run renamed its copy first
            let _ = std::fs::rename(&staging, &lib);
            let _ = std::fs::remove_dir_all(&staging);
            if imports(Some(&lib)) {
                return Some(Some(lib));
            }
            eprintln!(
                "SKIP token_interop: akamai-edgeauth installed in {lib:?} but does not import"
            );
        }
        Ok(out) => {
            let _ = std::fs::remove_dir_all(&staging);
            eprintln!(
                "SKIP token_interop: `pip install akamai-edgeauth` failed \
                 (no network or PyPI?):\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        }
        Err(e) => eprintln!("SKIP token_interop: cannot run python3: {e}"),
    }
    None
}

/// Runs `edgeauth.py <mode>` with `items` as JSON on stdin; the JSON list it prints.
fn run_python<T: Serialize>(pythonpath: &Option<PathBuf>, mode: &str, items: &[T]) -> Vec<Value> {
    let mut cmd = Command::new("python3");
    cmd.arg(SCRIPT)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = pythonpath {
        cmd.env("PYTHONPATH", p);
    }
    let mut child = cmd.spawn().expect("python3 ran a moment ago");
    let input = serde_json::to_vec(items).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "edgeauth.py {mode} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn verifier(case: &Case) -> Verifier {
    Verifier::new(case.config(), vec![TokenKey::from_hex(&case.key).unwrap()]).unwrap()
}

#[test]
fn edgeauth_tokens_verify_here_and_ours_are_byte_identical() {
    let Some(py) = python() else { return };
    let cases = cases();
    let theirs = run_python(py, "mint", &cases);
    assert_eq!(theirs.len(), cases.len());
    for (case, theirs) in cases.iter().zip(&theirs) {
        let theirs = theirs
            .as_str()
            .unwrap_or_else(|| panic!("edgeauth refused {case:?}: {theirs}"));
        assert_eq!(case.mint(), theirs, "minted differently: {case:?}");
        let v = verifier(case);
        let ok = v
            .verify(theirs, &case.request())
            .unwrap_or_else(|e| panic!("refused {theirs}: {e}"));
        assert_eq!(ok.token.id, case.id);
        assert_eq!(ok.token.data, case.data);
        assert_eq!(ok.token.start, case.start.filter(|&s| s > 0));

        // and the usual refusals hold for their tokens too
        let late = Request {
            now: case.exp + 10,
            ..case.request()
        };
        assert_eq!(v.verify(theirs, &late).unwrap_err().reason(), "expired");
        let elsewhere = Request {
            path: "/hls/other/seg_1.ts",
            ..case.request()
        };
        let want = if case.url.is_some() {
            "bad-hmac"
        } else {
            "acl"
        };
        assert_eq!(
            v.verify(theirs, &elsewhere).unwrap_err().reason(),
            want,
            "{theirs}"
        );
        let tampered = theirs.replacen(
            &format!("exp={}", case.exp),
            &format!("exp={}", case.exp + 1),
            1,
        );
        assert_eq!(
            v.verify(&tampered, &case.request()).unwrap_err(),
            TokenError::BadHmac
        );
    }
    eprintln!(
        "token_interop: {} edgeauth tokens verified and matched byte for byte",
        cases.len()
    );
}

#[derive(Serialize)]
struct Check {
    #[serde(flatten)]
    case: Case,
    token: String,
    now: u64,
}

#[test]
fn our_tokens_and_session_tokens_pass_edgeauth() {
    let Some(py) = python() else { return };
    let mut checks = Vec::new();
    for case in cases() {
        let token = case.mint();
        let now = case.request().now;
        // a session token minted from the verified entry token, with the same settings
        let v = verifier(&case);
        if case.url.is_none() {
            let entry = v.verify(&token, &case.request()).unwrap();
            let acl = stream_acl("/hls/demo/master.m3u8");
            // the session keeps an address the entry token was bound to
            let bound = entry.token.ip.as_deref().and_then(|ip| ip.parse().ok());
            let ip = bound.or(Some("198.51.100.4".parse().unwrap()));
            let spec = SessionSpec {
                acl: &acl,
                ttl: 3600,
                client_ip: ip,
                now,
            };
            let session = v.mint_session(&entry, &spec).unwrap();
            let later = Request {
                path: "/hls/demo/1080p/seg_2.ts",
                client_ip: ip,
                now: now + 3000,
            };
            assert_eq!(v.verify(&session, &later).unwrap().kind, TokenKind::Session);
            // EdgeAuth signs the same session token given the session salt
            let expect = Case {
                salt: case.config().for_sessions().salt,
                ..case.clone()
            };
            checks.push(Check {
                case: expect,
                token: session,
                now: now + 3000,
            });
        }
        checks.push(Check { case, token, now });
    }
    let verdicts = run_python(py, "verify", &checks);
    for (check, verdict) in checks.iter().zip(&verdicts) {
        assert_eq!(
            verdict["valid"],
            Value::Bool(true),
            "{}: {verdict}",
            check.token
        );
    }
    // the python check does refuse: a tampered token and a late clock
    let mut bad = Vec::new();
    for check in checks.iter().take(2) {
        let token = check.token.replacen("exp=", "exp=1", 1);
        bad.push(Check {
            case: check.case.clone(),
            token,
            now: check.now,
        });
        bad.push(Check {
            case: check.case.clone(),
            token: check.token.clone(),
            now: u64::MAX / 2,
        });
    }
    let verdicts = run_python(py, "verify", &bad);
    assert!(
        verdicts.iter().all(|v| v["valid"] == Value::Bool(false)),
        "{verdicts:?}"
    );
    eprintln!(
        "token_interop: {} hls-edge tokens accepted by the python check",
        checks.len()
    );
}

#[test]
fn algorithm_names_match_edgeauth() {
    for name in ["sha256", "sha1", "md5"] {
        assert_eq!(name.parse::<Algorithm>().unwrap().name(), name);
    }
}
