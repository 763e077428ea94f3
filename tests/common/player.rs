//! hls.js in headless Chromium as a test's player: `hlsjs_play` runs the rig
//! in `tests/player` (`play.mjs`) on a URL and parses its one JSON report
//! into a `PlayerReport` (first frame, seconds played, stalls, every hls.js
//! error, live latency, playlist and fragment loads with their statuses, and
//! what the browser's network stack saw).
//!
//! It judges nothing: each test asserts on the report. When node, Chromium
//! or the rig's npm packages are missing the answer is
//! `PlayerUnavailable::NotInstalled`; `have_hlsjs` turns that into a visible
//! skip, except under `CI=true`, where `.ci/setup` has installed them and a
//! missing rig fails the test.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::edge::TempDir;
pub use super::player_report::{
    FragmentLoad, HlsjsError, Latency, NetworkLog, PlayerReport, PlaylistLoad, Stalls,
};

/// Where the rig lives (`package.json`, `play.mjs`, `node_modules`).
pub const PLAYER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/player");
/// The browser when `CHROMIUM` is not set: Debian's package.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
/// Past the runner's own limits (start timeout + seconds + 60 s), the child is killed.
const SLACK: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(50);

/// How to play: seconds to watch after the first frame, the hls.js config,
/// and what every hls.js request carries.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    pub seconds: u32,
    /// Give up when no frame shows within this many seconds of loading.
    pub start_timeout: u32,
    /// The hls.js config object, e.g. `{"lowLatencyMode": true}`.
    pub config: serde_json::Value,
    /// Added to every hls.js request (a non-safelisted header makes the
    /// browser send a CORS preflight first).
    pub headers: Vec<(String, String)>,
    /// `k=v&...` appended to every hls.js request URL.
    pub query: Option<String>,
    /// Test-only: accept self-signed certificates.
    pub ignore_certificate_errors: bool,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions {
            seconds: 10,
            start_timeout: 20,
            config: serde_json::json!({}),
            headers: Vec::new(),
            query: None,
            ignore_certificate_errors: false,
        }
    }
}

impl PlayOptions {
    pub fn seconds(seconds: u32) -> PlayOptions {
        PlayOptions {
            seconds,
            ..PlayOptions::default()
        }
    }

    pub fn start_timeout(mut self, seconds: u32) -> PlayOptions {
        self.start_timeout = seconds;
        self
    }

    pub fn config(mut self, config: serde_json::Value) -> PlayOptions {
        self.config = config;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> PlayOptions {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn query(mut self, query: &str) -> PlayOptions {
        self.query = Some(query.into());
        self
    }

    pub fn ignore_certificate_errors(mut self) -> PlayOptions {
        self.ignore_certificate_errors = true;
        self
    }

    fn args(&self, url: &str) -> Vec<String> {
        let mut args = vec![
            url.to_string(),
            "--seconds".into(),
            self.seconds.to_string(),
            "--start-timeout".into(),
            self.start_timeout.to_string(),
            "--config".into(),
            self.config.to_string(),
        ];
        for (name, value) in &self.headers {
            args.extend(["--header".into(), format!("{name}: {value}")]);
        }
        if let Some(query) = &self.query {
            args.extend(["--query".into(), query.clone()]);
        }
        if self.ignore_certificate_errors {
            args.push("--ignore-certificate-errors".into());
        }
        args
    }

    fn limit(&self) -> Duration {
        Duration::from_secs(u64::from(self.start_timeout) + u64::from(self.seconds)) + SLACK
    }
}

/// Why there is no report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayerUnavailable {
    /// node, Chromium or the rig's npm packages are missing here.
    NotInstalled(String),
    /// The rig ran but gave no report: browser crash, hang, unreadable output.
    Failed(String),
}

impl fmt::Display for PlayerUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlayerUnavailable::NotInstalled(why) => {
                write!(
                    f,
                    "the hls.js player rig is not installed: {why} (.ci/setup installs it)"
                )
            }
            PlayerUnavailable::Failed(why) => write!(f, "the hls.js player rig failed: {why}"),
        }
    }
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from(DEFAULT_CHROMIUM), PathBuf::from)
}

/// Whether the rig can run here: node answers, Chromium is there, and the
/// npm packages are installed.
pub fn hlsjs_available() -> Result<(), PlayerUnavailable> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Err(PlayerUnavailable::NotInstalled("node does not run".into()));
    }
    let browser = chromium();
    if !browser.is_file() {
        return Err(PlayerUnavailable::NotInstalled(format!(
            "no chromium at {}",
            browser.display()
        )));
    }
    for package in ["hls.js", "playwright-core"] {
        let dir = Path::new(PLAYER_DIR).join("node_modules").join(package);
        if !dir.join("package.json").is_file() {
            return Err(PlayerUnavailable::NotInstalled(format!(
                "npm package {package} is not installed in tests/player"
            )));
        }
    }
    Ok(())
}

/// Whether a player test can run; prints why when it cannot (the test then
/// returns early). Under `CI=true` a missing rig panics instead.
pub fn have_hlsjs() -> bool {
    match hlsjs_available() {
        Ok(()) => true,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// Plays `url` with hls.js in headless Chromium (blocking: run it with
/// `spawn_blocking` beside an async edge). Bounded: the child is killed
/// once `start_timeout + seconds + 90 s` have passed.
pub fn hlsjs_play(url: &str, opts: &PlayOptions) -> Result<PlayerReport, PlayerUnavailable> {
    hlsjs_available()?;
    let dir = TempDir::new("hls-edge-player")
        .map_err(|e| PlayerUnavailable::Failed(format!("temp dir: {e}")))?;
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let file = |p: &Path| File::create(p).map_err(|e| PlayerUnavailable::Failed(e.to_string()));
    let mut child = Command::new("node")
        .arg(Path::new(PLAYER_DIR).join("play.mjs"))
        .args(opts.args(url))
        .env("CHROMIUM", chromium())
        .stdin(Stdio::null())
        .stdout(file(&out_path)?)
        .stderr(file(&err_path)?)
        .spawn()
        .map_err(|e| PlayerUnavailable::NotInstalled(format!("node: {e}")))?;
    let status = wait_bounded(&mut child, opts.limit())?;
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    match status.code() {
        Some(0) => PlayerReport::parse(&stdout)
            .map_err(|e| PlayerUnavailable::Failed(format!("{e}: {stdout}{stderr}"))),
        Some(3) => Err(PlayerUnavailable::NotInstalled(unavailable_reason(&stdout))),
        _ => Err(PlayerUnavailable::Failed(format!(
            "play.mjs {status}: {stdout}{stderr}"
        ))),
    }
}

/// Waits for the runner, killing it after `limit` (Chromium exits with its
/// DevTools pipe when node dies, so nothing is left behind).
fn wait_bounded(child: &mut Child, limit: Duration) -> Result<ExitStatus, PlayerUnavailable> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PlayerUnavailable::Failed(format!(
                    "no report within {limit:?}"
                )));
            }
        }
    }
}

fn unavailable_reason(stdout: &str) -> String {
    serde_json::from_str::<serde_json::Value>(stdout)
        .ok()
        .and_then(|v| v["unavailable"].as_str().map(str::to_string))
        .unwrap_or_else(|| stdout.trim().to_string())
}
