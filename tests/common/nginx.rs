//! nginx (the Debian package) as a real origin: a directory of HLS files served under
//! `/hls/`, the way an operator serves what a packager writes to disk. `ETag`,
//! `Last-Modified`, `304 Not Modified` and ranges are nginx's own, not the kit's.
//!
//! Faults an operator's nginx really produces are switched by flag files the config
//! tests on every request (`if (-f ...)`): `503` on everything, `404` on segments. A
//! stopped nginx refuses connections; `start` again brings it back on the same port.

use std::io;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::edge::TempDir;
use super::net::free_addr;

/// A fault nginx answers with, switched at runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NginxFault {
    /// `503` for every request, probes included.
    Unavailable,
    /// `404` for every `.ts` segment (playlists still served).
    SegmentsMissing,
}

impl NginxFault {
    fn flag(self) -> &'static str {
        match self {
            NginxFault::Unavailable => "503",
            NginxFault::SegmentsMissing => "404-segments",
        }
    }
}

/// One nginx serving `root` at `/hls/` on a loopback port; see the module docs.
pub struct Nginx {
    child: Option<Child>,
    addr: SocketAddr,
    dir: TempDir,
}

impl Nginx {
    /// Whether nginx is installed (`.ci/setup` installs it); says so when not.
    pub fn available() -> bool {
        let found = Command::new(binary())
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            eprintln!("skipped: nginx is not installed (.ci/setup installs it)");
        }
        found
    }

    /// Starts nginx serving `root` at `/hls/` (and `200` at `/healthz`).
    pub fn start(root: &Path) -> io::Result<Nginx> {
        let mut nginx = Nginx {
            child: None,
            addr: free_addr(),
            dir: TempDir::new("hls-edge-nginx")?,
        };
        for attempt in 0..5 {
            nginx.addr = free_addr();
            let conf = config(nginx.dir.path(), root, nginx.addr);
            std::fs::write(nginx.dir.path().join("nginx.conf"), conf)?;
            match nginx.spawn() {
                Ok(()) => return Ok(nginx),
                Err(e) if attempt < 4 && e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("no free port for nginx"))
    }

    fn spawn(&mut self) -> io::Result<()> {
        let log = std::fs::File::create(self.dir.path().join("stderr.log"))?;
        let child = Command::new(binary())
            .arg("-p")
            .arg(self.dir.path())
            .arg("-c")
            .arg(self.dir.path().join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // its own process group: a stop kills the master and its worker together
            .process_group(0)
            .spawn()?;
        self.child = Some(child);
        self.wait_listening()
    }

    /// Polls until nginx accepts connections, or reports why it exited.
    fn wait_listening(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                let logs = self.logs();
                let kind = if logs.contains("Address already in use") {
                    io::ErrorKind::AddrInUse
                } else {
                    io::ErrorKind::Other
                };
                return Err(io::Error::new(
                    kind,
                    format!("nginx exited ({status}): {logs}"),
                ));
            }
            if Instant::now() >= deadline {
                return Err(io::Error::other(format!(
                    "nginx not listening: {}",
                    self.logs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops nginx (SIGKILL to the master and its worker, as a crash of the host's
    /// nginx): connections are refused from then on. A worker whose master alone was
    /// killed would go on serving, listening socket and all.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = i32::try_from(child.id()).expect("a pid fits an i32");
            // SAFETY: kill(2) with a negative pid signals that process group; the group
            // is this nginx's own (`process_group(0)` at spawn), nothing else is in it.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
            let _ = child.wait();
        }
        // the worker dies with the master; wait until the kernel closed its socket
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "nginx on {} still accepts connections after SIGKILL",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts it again on the same port, serving the same directory.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.spawn()
    }

    /// Switches `fault` on or off.
    pub fn set_fault(&self, fault: NginxFault, on: bool) {
        let flag = self.dir.path().join("faults").join(fault.flag());
        if on {
            std::fs::write(&flag, b"on").expect("write fault flag");
        } else {
            let _ = std::fs::remove_file(&flag);
        }
    }

    /// nginx's access log: one line per request, `$status` after the request line.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// How many requests nginx answered with `status` for paths containing `path_part`.
    pub fn answered(&self, status: u16, path_part: &str) -> usize {
        let status = format!("\" {status} ");
        self.access_log()
            .lines()
            .filter(|l| l.contains(path_part) && l.contains(&status))
            .count()
    }

    /// `answered`, once nginx has logged `expected` such requests or 5 s have
    /// passed. nginx writes a request's log line when it finalizes the request,
    /// which can be after the edge has relayed the whole response to the test.
    pub fn answered_once_logged(&self, status: u16, path_part: &str, expected: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let answered = self.answered(status, path_part);
            if answered >= expected || Instant::now() >= deadline {
                return answered;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `nginx` on the `PATH`, else where Debian installs it (`/usr/sbin` is not on every
/// user's `PATH`).
fn binary() -> &'static str {
    let on_path = Command::new("nginx")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if on_path {
        "nginx"
    } else {
        "/usr/sbin/nginx"
    }
}

/// The config: one worker, logs and temp files in `dir`, `root` at `/hls/`.
fn config(dir: &Path, root: &Path, addr: SocketAddr) -> String {
    let d = dir.display();
    let faults: PathBuf = dir.join("faults");
    std::fs::create_dir_all(&faults).expect("faults directory");
    let f = faults.display();
    let r = root.display();
    format!(
        r#"worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    types {{
        application/vnd.apple.mpegurl m3u8;
        video/mp2t ts;
    }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 30s;
    server {{
        listen {addr};
        if (-f {f}/503) {{ return 503; }}
        location = /healthz {{ return 200 "ok\n"; }}
        location /hls/ {{
            alias {r}/;
            location ~ \.ts$ {{
                if (-f {f}/404-segments) {{ return 404; }}
            }}
        }}
    }}
}}
"#
    )
}
