//! `TestEdge`: the real `hls-edge` binary as a child process on loopback
//! ports the test chose, its config written by `EdgeConfig`, its output kept in
//! a temp dir for failure messages. One-shot runs (`-t`) live in edge_check.rs.

use std::fmt;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::client::{Client, ClientError, Response};
use super::net::{free_port, is_addr_in_use, retry_on_port_collision};

/// The binary under test, built by cargo before integration tests.
pub const EDGE_BIN: &str = env!("CARGO_BIN_EXE_hls-edge");
/// Bound on the wait for `/healthz` after spawning.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
pub(super) const POLL: Duration = Duration::from_millis(20);

/// A directory under `std::env::temp_dir()`, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> io::Result<TempDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // create_dir fails on an existing name, so a clash just moves on.
        for attempt in 0..1000u32 {
            let path = std::env::temp_dir()
                .join(format!("{prefix}-{}-{nanos}-{attempt}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir(path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no unique temp dir name in 1000 attempts",
        ))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Why a `TestEdge` did not become ready. Each variant carries the child's output.
#[derive(Debug)]
pub enum EdgeStartError {
    /// The test's YAML lacks something the kit needs (e.g. `admin.listen`).
    Config(String),
    Spawn(io::Error),
    /// Exited early with a bind collision; retry with fresh ports.
    PortInUse {
        logs: String,
    },
    Exited {
        status: ExitStatus,
        logs: String,
    },
    NotReady {
        after: Duration,
        logs: String,
    },
}

impl fmt::Display for EdgeStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EdgeStartError::Config(why) => write!(f, "test config: {why}"),
            EdgeStartError::Spawn(e) => write!(f, "cannot spawn {EDGE_BIN}: {e}"),
            EdgeStartError::PortInUse { logs } => {
                write!(f, "edge could not bind its port:\n{logs}")
            }
            EdgeStartError::Exited { status, logs } => {
                write!(f, "edge exited early ({status}):\n{logs}")
            }
            EdgeStartError::NotReady { after, logs } => {
                write!(f, "edge /healthz not 200 within {after:?}:\n{logs}")
            }
        }
    }
}

impl std::error::Error for EdgeStartError {}

/// A running edge; killed (SIGKILL) and reaped on drop. If the test is
/// panicking, drop prints the edge's output to stderr (shown by `cargo test`).
pub struct TestEdge {
    child: Child,
    addr: SocketAddr,
    admin_addr: SocketAddr,
    log_path: PathBuf,
    config_path: PathBuf,
    dir: TempDir,
}

impl TestEdge {
    /// Starts with a YAML that names its own ports; panics with the edge's
    /// output if it does not become ready.
    pub async fn start(yaml: &str) -> TestEdge {
        TestEdge::try_start_with_env(yaml, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts `config`, retrying with fresh ports (up to 5 times) when a port
    /// it picked was taken meanwhile.
    pub async fn start_config(config: &super::EdgeConfig) -> TestEdge {
        let result =
            retry_on_port_collision(
                5,
                |e| matches!(e, EdgeStartError::PortInUse { .. }),
                |attempt| {
                    let config = if attempt == 0 {
                        config.clone()
                    } else {
                        config.clone().fresh_ports()
                    };
                    async move {
                        TestEdge::try_start_with_env(&config.yaml(), &config.env_pairs()).await
                    }
                },
            )
            .await;
        result.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn try_start(yaml: &str) -> Result<TestEdge, EdgeStartError> {
        TestEdge::try_start_with_env(yaml, &[]).await
    }

    /// Starts `hls-edge -c FILE` with extra environment variables for the
    /// child only (secrets from env), then waits for `/healthz` to answer 200.
    pub async fn try_start_with_env(
        yaml: &str,
        env: &[(&str, &str)],
    ) -> Result<TestEdge, EdgeStartError> {
        let (addr, admin_addr) = listen_addrs(yaml)?;
        let serves_players = has_routes(yaml);
        let dir = TempDir::new("hls-edge-test").map_err(EdgeStartError::Spawn)?;
        let config_path = dir.path().join("edge.yaml");
        let log_path = dir.path().join("edge.log");
        std::fs::write(&config_path, yaml).map_err(EdgeStartError::Spawn)?;
        let child = spawn_logged(
            Command::new(EDGE_BIN)
                .arg("-c")
                .arg(&config_path)
                .envs(env.iter().copied()),
            &log_path,
        )
        .map_err(EdgeStartError::Spawn)?;
        let mut edge = TestEdge {
            child,
            addr,
            admin_addr,
            log_path,
            config_path,
            dir,
        };
        edge.wait_ready(serves_players).await?;
        Ok(edge)
    }

    /// Ready: `/healthz` answers and, when it serves players, the proxy port
    /// accepts connections (the admin listener may start first).
    async fn wait_ready(&mut self, serves_players: bool) -> Result<(), EdgeStartError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let logs = self.logs();
                return Err(if is_addr_in_use(&logs) {
                    EdgeStartError::PortInUse { logs }
                } else {
                    EdgeStartError::Exited { status, logs }
                });
            }
            if let Ok(mut client) =
                Client::connect_timeout(self.admin_addr, Duration::from_secs(1)).await
            {
                // Still ours: a child that lost its port may not have exited yet.
                let healthy = matches!(client.get("/healthz", &[]).await, Ok(r) if r.status == 200);
                let listening =
                    !serves_players || tokio::net::TcpStream::connect(self.addr).await.is_ok();
                if healthy && listening && matches!(self.child.try_wait(), Ok(None)) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(EdgeStartError::NotReady {
                    after: READY_TIMEOUT,
                    logs: self.logs(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Where players connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// `http://ADDR/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET on a fresh connection; panics (with the edge's output) when there is
    /// no response at all. Truncation shows as `complete == false`.
    pub async fn get(&self, path: &str) -> Response {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let result = self.try_get_with(path, headers).await;
        result.unwrap_or_else(|e| {
            panic!(
                "GET {path} on the edge: {e}\n--- edge output ---\n{}",
                self.logs()
            )
        })
    }

    pub async fn try_get_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        super::client::http_get(self.addr, path, headers).await
    }

    pub async fn head(&self, path: &str) -> Response {
        let result = super::client::http_head(self.addr, path, &[]).await;
        result.unwrap_or_else(|e| {
            panic!(
                "HEAD {path} on the edge: {e}\n--- edge output ---\n{}",
                self.logs()
            )
        })
    }

    /// GET on the admin listener.
    pub async fn admin_get(&self, path: &str) -> Response {
        let result = super::client::http_get(self.admin_addr, path, &[]).await;
        result.unwrap_or_else(|e| {
            panic!(
                "GET {path} on the admin listener: {e}\n--- edge output ---\n{}",
                self.logs()
            )
        })
    }

    /// The `/metrics` text; panics unless it answers 200.
    pub async fn metrics(&self) -> String {
        let response = self.admin_get("/metrics").await;
        assert_eq!(response.status, 200, "GET /metrics: {}", response.text());
        response.text()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal by name (`TERM`, `QUIT`, `HUP`) with `kill -s`; returns
    /// whether it was delivered.
    pub fn signal(&self, name: &str) -> bool {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-s", name, &pid])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Polls until the child exits, up to `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGKILL and reap. Idempotent.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything the child wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_else(|e| format!("(no edge output: {e})"))
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The edge's temp dir (config and output), removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestEdge {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- hls-edge output ({}) ---\n{}",
                self.config_path.display(),
                self.logs()
            );
        }
    }
}

/// `edge.listen[0]` and `admin.listen` of a config.
fn listen_addrs(yaml: &str) -> Result<(SocketAddr, SocketAddr), EdgeStartError> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(yaml).map_err(|e| EdgeStartError::Config(format!("not YAML: {e}")))?;
    let addr = |value: &serde_yaml::Value, key: &str| {
        value
            .as_str()
            .and_then(|s| s.parse::<SocketAddr>().ok())
            .ok_or_else(|| {
                EdgeStartError::Config(format!("{key} must be an ip:port the test chose"))
            })
    };
    Ok((
        addr(&doc["edge"]["listen"][0], "edge.listen[0]")?,
        addr(&doc["admin"]["listen"], "admin.listen")?,
    ))
}

/// Whether the config has routes (a proxy listener for players).
fn has_routes(yaml: &str) -> bool {
    serde_yaml::from_str::<serde_yaml::Value>(yaml)
        .ok()
        .and_then(|doc| {
            doc.get("routes")
                .and_then(|r| r.as_sequence())
                .map(|r| !r.is_empty())
        })
        .unwrap_or(false)
}

/// Spawns with stdout and stderr both appended to `log_path`.
fn spawn_logged(command: &mut Command, log_path: &Path) -> io::Result<Child> {
    let log = File::create(log_path)?;
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
}

/// Picks a free port pair: used by `EdgeConfig` for new configs.
pub(super) fn two_free_ports() -> (u16, u16) {
    let a = free_port();
    let mut b = free_port();
    for _ in 0..10 {
        if b != a {
            break;
        }
        b = free_port();
    }
    (a, b)
}
