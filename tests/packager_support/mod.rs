//! A packager on a free loopback port, run by a real Pingora server in its own
//! thread and stopped on drop; a blocking HTTP/1.1 client; ffmpeg helpers.
//! Shared by the `packager_*` integration tests.

#![allow(dead_code)]

#[path = "../common/media.rs"]
pub mod media;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hls_edge::config::packager::{validate, PackagerFile};
use hls_edge::config::Problems;
use hls_edge::packager::service::Packager;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use tokio::sync::watch;

/// `printf %s push-key-7c1e9a2b4d | sha256sum` (ingest refuses keys shorter
/// than 16 bytes, and `-t` the hashes of well-known ones)
pub const KEY: &str = "push-key-7c1e9a2b4d";
pub const KEY_SHA256: &str = "65df64ff39f61fa3c8cf6fab8cceba25fc69265bb6e0d9e47dadfa8160624a6f";

pub struct TestPackager {
    pub addr: SocketAddr,
    pub packager: Packager,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

/// Stops the server when the test says so instead of on a Unix signal.
struct StopWatch(watch::Receiver<bool>);

#[async_trait]
impl ShutdownSignalWatch for StopWatch {
    async fn recv(&self) -> ShutdownSignal {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|stop| *stop).await;
        ShutdownSignal::FastShutdown
    }
}

impl TestPackager {
    /// Starts a packager with the `packager:` section `yaml` (its `listen` is
    /// set here) and waits until it answers.
    pub fn start(yaml: &str) -> TestPackager {
        let addr = free_port();
        let yaml = format!("listen: \"{addr}\"\n{yaml}");
        let file: PackagerFile = serde_yaml::from_str(&yaml).expect("packager yaml");
        let mut problems = Problems::default();
        let config = validate(file, &mut problems);
        assert!(problems.is_empty(), "{}", problems.into_error());
        let config = config.expect("valid config");

        let conf = ServerConf {
            threads: 2,
            grace_period_seconds: Some(0),
            graceful_shutdown_timeout_seconds: Some(0),
            ..ServerConf::default()
        };
        let mut server = Server::new_with_opt_and_conf(None, conf);
        let packager = Packager::new(&config);
        server.add_services(packager.services());
        let (stop, rx) = watch::channel(false);
        let thread = std::thread::spawn(move || {
            server.run(RunArgs {
                shutdown_signal: Box::new(StopWatch(rx)),
            })
        });
        let test = TestPackager {
            addr,
            packager,
            stop,
            thread: Some(thread),
        };
        wait_until(Duration::from_secs(10), "packager answers", || {
            test.get("/").is_ok()
        });
        test
    }

    pub fn get(&self, path: &str) -> std::io::Result<Response> {
        request(self.addr, "GET", path, &[], b"")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestPackager {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A free loopback port: bound to learn it, released for the server.
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr")
}

/// Polls `ready` every 50 ms until it holds; panics after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on its own connection (`Connection: close`); the body is read
/// by Content-Length (every packager response has one) or to the close.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "PUT" || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    // the server may answer (403) without reading the body and close
    let _ = conn.write_all(body);
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw);
    parse_response(&raw, method == "HEAD")
}

fn parse_response(raw: &[u8], head_only: bool) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no response head"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("head not utf-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if head_only {
        body.clear();
    }
    let response = Response {
        status,
        headers,
        body,
    };
    if let Some(len) = response
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        if !head_only && response.body.len() != len {
            return Err(bad("body shorter than Content-Length"));
        }
    }
    Ok(response)
}

/// Whether ffmpeg and ffprobe can run here; says why a test is skipped when not.
pub fn have_ffmpeg(test: &str) -> bool {
    let ok = ["ffmpeg", "ffprobe"].iter().all(|tool| {
        Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        eprintln!("SKIPPED {test}: ffmpeg/ffprobe not found (CI installs them)");
    }
    ok
}

/// Runs ffprobe on a URL; Ok(stdout) when it reads it without error.
pub fn ffprobe(url: &str, entries: &str) -> Result<String, String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            entries,
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .map_err(|e| format!("ffprobe: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stderr.trim().is_empty() {
        return Err(format!("ffprobe {url}: {}", stderr.trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
