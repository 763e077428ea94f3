//! Certificate rotation without a failed request (issue 13): players poll
//! over HTTPS while the operator replaces the certificate files and sends
//! SIGHUP (or upgrades the process with `-u` + SIGQUIT). No request fails,
//! connections already open keep working, and new connections are given the
//! new certificate. A bad replacement is refused and the old one kept.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::tls::{https_client, https_get, ServerCert, TestPki};
use common::*;

const NAME: &str = "edge.test";

/// What the pollers saw.
#[derive(Default)]
struct Seen {
    ok: AtomicUsize,
    failures: Mutex<Vec<String>>,
    /// Certificates (DER) served to each new connection, in order.
    certs: Mutex<Vec<Vec<u8>>>,
}

impl Seen {
    fn fail(&self, what: String) {
        self.failures.lock().expect("lock").push(what);
    }

    fn saw_cert(&self, der: &[u8]) -> bool {
        self.certs.lock().expect("lock").iter().any(|c| c == der)
    }

    /// Every request succeeded, and there were enough of them to tell.
    fn assert_no_failure(&self, logs: impl Fn() -> String) {
        let failures = self.failures.lock().expect("lock").clone();
        assert!(
            failures.is_empty(),
            "failed requests: {failures:#?}\n{}",
            logs()
        );
        assert!(
            self.ok.load(Ordering::Relaxed) > 20,
            "too few requests to tell"
        );
    }
}

/// Polls `path` until `stop`: one task on a kept-alive connection (which,
/// like a browser, reopens a connection the server closed while idle), one
/// opening a new connection per request.
fn start_pollers(
    tls: SocketAddr,
    ca: PathBuf,
    path: &'static str,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let keep_alive = {
        let (ca, stop, seen) = (ca.clone(), stop.clone(), seen.clone());
        tokio::spawn(async move {
            let mut client = None;
            while !stop.load(Ordering::Relaxed) {
                let reused = client.is_some();
                if client.is_none() {
                    match https_client(tls, NAME, &ca).await {
                        Ok((c, _)) => client = Some(c),
                        Err(e) => seen.fail(format!("keep-alive connect: {e}")),
                    }
                }
                if let Some(c) = client.as_mut() {
                    match c.get(path, &[]).await {
                        Ok(r) if r.status == 200 && r.complete => {
                            seen.ok.fetch_add(1, Ordering::Relaxed);
                            if r.header("connection") == Some("close") {
                                client = None;
                            }
                        }
                        Ok(r) => {
                            seen.fail(format!("keep-alive: {} complete={}", r.status, r.complete));
                            client = None;
                        }
                        // RFC 9112 9.3.1: a request on an idle connection the
                        // server closed is retried on a new one, as browsers do
                        Err(ClientError::Closed) if reused => client = None,
                        Err(e) => {
                            seen.fail(format!("keep-alive: {e}"));
                            client = None;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let fresh = tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            match https_get(tls, NAME, &ca, path, &[]).await {
                Ok((r, handshake)) if r.status == 200 && r.complete => {
                    seen.ok.fetch_add(1, Ordering::Relaxed);
                    seen.certs.lock().expect("lock").push(handshake.peer_cert);
                }
                Ok((r, _)) => seen.fail(format!("new connection: {}", r.status)),
                Err(e) => seen.fail(format!("new connection: {e}")),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    vec![keep_alive, fresh]
}

/// Writes `cert` as the live files, each by rename so that a reader never
/// sees half a file.
fn install(cert: &ServerCert, live: &Path) {
    for (from, name) in [(&cert.cert, "edge.crt"), (&cert.key, "edge.key")] {
        let tmp = live.join(format!("{name}.new"));
        std::fs::copy(from, &tmp).expect("copy");
        std::fs::rename(&tmp, live.join(name)).expect("rename");
    }
}

/// `grace`: how long a stopping edge lets its connections finish (the
/// operator's `edge.grace_period`, 5 s by default).
async fn rotation_edge(
    pki: &TestPki,
    live: &Path,
    grace: &str,
) -> (TestEdge, CountingOrigin, SocketAddr) {
    let origin = CountingOrigin::start();
    origin.set("/hls/v/index.m3u8", Reply::playlist(vod_playlist(4, 3)));
    origin.set("/hls/v/seg_1.ts", Reply::segment(64_000));
    install(&pki.issue(&[NAME], 30), live);
    let tls = free_addr();
    let config = EdgeConfig::new()
        .grace_period(grace)
        .route("/hls/", origin.addr())
        .tls_listener(tls, &live.join("edge.crt"), &live.join("edge.key"));
    (TestEdge::start_config(&config).await, origin, tls)
}

async fn wait_for_cert(seen: &Seen, cert: &ServerCert, what: &str) {
    let deadline = Deadline::new(what, Duration::from_secs(10));
    while !seen.saw_cert(&cert.der) {
        deadline
            .tick(Duration::from_millis(20), || {
                format!(
                    "{} certificates seen",
                    seen.certs.lock().expect("lock").len()
                )
            })
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sighup_rotates_the_certificate_with_no_failed_request() {
    let Some(pki) = TestPki::new() else { return };
    let live = TempDir::new("hls-edge-live-cert").expect("temp dir");
    let (edge, origin, tls) = rotation_edge(&pki, live.path(), "0s").await;
    let ca = pki.ca_cert();
    let (mut old_conn, old_handshake) = https_client(tls, NAME, &ca).await.expect("connects");

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let pollers = start_pollers(
        tls,
        ca.clone(),
        "/hls/v/seg_1.ts",
        stop.clone(),
        seen.clone(),
    );
    // a slow response in flight across the reload
    origin.set(
        "/hls/v/seg_2.ts",
        Reply::segment(64_000).body_delay(Duration::from_millis(800)),
    );
    let slow = {
        let ca = ca.clone();
        tokio::spawn(async move { https_get(tls, NAME, &ca, "/hls/v/seg_2.ts", &[]).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    let next = pki.issue(&[NAME], 60);
    install(&next, live.path());
    assert!(edge.signal("HUP"), "SIGHUP delivered");
    wait_for_cert(&seen, &next, "a new connection given the new certificate").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // a bad replacement (a key that is not the certificate's) is refused:
    // the listener keeps serving the good one
    std::fs::copy(pki.stray_key(), live.path().join("edge.key")).expect("copy");
    assert!(edge.signal("HUP"));
    let deadline = Deadline::new("the failed reload counted", Duration::from_secs(10));
    loop {
        let metrics = edge.metrics().await;
        let errors = metric_value(
            &metrics,
            "hls_edge_tls_reloads_total",
            &[("listener", &tls.to_string()), ("result", "error")],
        );
        if errors == Some(1.0) {
            break;
        }
        deadline.tick(Duration::from_millis(20), || metrics).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for p in pollers {
        p.await.expect("poller joins");
    }

    let (slow, _) = slow
        .await
        .expect("joins")
        .expect("the slow request completed");
    assert!(slow.status == 200 && slow.complete && slow.body.len() == 64_000);
    seen.assert_no_failure(|| edge.logs());
    // the connection opened before the rotation still works, on its old certificate
    let r = old_conn
        .get("/hls/v/index.m3u8", &[])
        .await
        .expect("old connection");
    assert_eq!(r.status, 200);
    let after = https_get(tls, NAME, &ca, "/hls/v/index.m3u8", &[])
        .await
        .expect("GET");
    assert!(
        after.1.peer_cert == next.der,
        "new connections keep the new certificate"
    );
    assert!(old_handshake.peer_cert != next.der);
    let metrics = edge.metrics().await;
    let ok = metric_value(
        &metrics,
        "hls_edge_tls_reloads_total",
        &[("listener", &tls.to_string()), ("result", "ok")],
    );
    assert_eq!(ok, Some(1.0));
    assert!(edge.logs().contains("certificate reload failed"));
}

/// The process started with `-u`, killed on drop.
struct Successor {
    child: std::process::Child,
    log: PathBuf,
}

impl Drop for Successor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- successor output ---\n{log}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_graceful_upgrade_takes_the_new_certificate_with_no_failed_request() {
    let Some(pki) = TestPki::new() else { return };
    let live = TempDir::new("hls-edge-live-cert").expect("temp dir");
    // the old process hands over its sockets, accepts for Pingora's 5 s
    // close timeout beside the new one, then lets what it accepted finish
    let (mut edge, _origin, tls) = rotation_edge(&pki, live.path(), "2s").await;
    let ca = pki.ca_cert();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let pollers = start_pollers(
        tls,
        ca.clone(),
        "/hls/v/seg_1.ts",
        stop.clone(),
        seen.clone(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;

    // the operator's procedure (docs/operations.md): new files, a new
    // process with -u, then SIGQUIT to the old one, which hands it the sockets
    let next = pki.issue(&[NAME], 60);
    install(&next, live.path());
    let log = edge.dir().join("successor.log");
    let out = std::fs::File::create(&log).expect("log file");
    let child = std::process::Command::new(EDGE_BIN)
        .args(["-u", "-c"])
        .arg(edge.config_path())
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("the successor starts");
    let _successor = Successor { child, log };
    assert!(edge.signal("QUIT"), "SIGQUIT delivered");
    let exited = edge.wait_exit(Duration::from_secs(20)).await;
    assert!(
        exited.is_some(),
        "the old process did not exit\n{}",
        edge.logs()
    );
    wait_for_cert(&seen, &next, "a new connection served by the successor").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for p in pollers {
        p.await.expect("poller joins");
    }

    seen.assert_no_failure(|| edge.logs());
    let after = https_get(tls, NAME, &ca, "/hls/v/index.m3u8", &[])
        .await
        .expect("GET");
    assert!(after.1.peer_cert == next.der);
}
