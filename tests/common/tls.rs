//! TLS for tests: a throwaway certificate authority and server certificates
//! made with the `openssl` command (the same tool the docs give operators),
//! and an HTTPS client that reports what the handshake agreed (ALPN, the
//! certificate served) and then speaks HTTP/1.1 through the kit's `Client`.
//!
//! The client trusts only the test CA: a handshake that succeeds proves the
//! edge served a chain that verifies for the name asked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::client::{Client, ClientError, Response, DEFAULT_TIMEOUT};
use super::edge::TempDir;

/// Whether an external tool runs (`probe` is its version flag). Under
/// `CI=true` a missing tool fails the test (`.ci/setup` installs it);
/// elsewhere the test is skipped with a message.
pub fn tool(name: &str, probe: &str) -> bool {
    let found = Command::new(name)
        .arg(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{name} is not installed: .ci/setup installs it");
        }
        eprintln!("skipped: {name} is not installed (.ci/setup installs it)");
    }
    found
}

/// A server certificate made by `TestPki`.
#[derive(Debug, Clone)]
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The end-entity certificate as DER, to compare with what a handshake saw.
    pub der: Vec<u8>,
}

impl ServerCert {
    /// The key file's PEM text (for `key_env`).
    pub fn key_pem(&self) -> String {
        std::fs::read_to_string(&self.key).expect("the key file was just written")
    }
}

/// A certificate authority in a temp dir, removed on drop.
pub struct TestPki {
    dir: TempDir,
    issued: std::cell::Cell<u32>,
}

impl TestPki {
    /// A new CA (ECDSA P-256), or `None` when openssl is missing outside CI.
    pub fn new() -> Option<TestPki> {
        if !tool("openssl", "version") {
            return None;
        }
        let dir = TempDir::new("hls-edge-pki").expect("temp dir");
        let pki = TestPki {
            dir,
            issued: std::cell::Cell::new(0),
        };
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=hls-edge test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        std::fs::write(pki.path("index.txt"), "").expect("ca database");
        std::fs::write(pki.path("serial"), "1000\n").expect("ca serial");
        let conf = format!(
            "[ca]\ndefault_ca = test\n[test]\ndatabase = {dir}/index.txt\nnew_certs_dir = {dir}\nserial = {dir}/serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n[any]\ncommonName = supplied\n",
            dir = pki.dir.path().display()
        );
        std::fs::write(pki.path("ca.cnf"), conf).expect("ca config");
        Some(pki)
    }

    /// The CA certificate (PEM), the one root clients trust.
    pub fn ca_cert(&self) -> PathBuf {
        self.path("ca.crt")
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid
    /// from yesterday for `days`.
    pub fn issue(&self, names: &[&str], days: u32) -> ServerCert {
        let start = chrono_like_date(-1);
        let end = chrono_like_date(i64::from(days));
        self.issue_between(names, &start, &end)
    }

    /// A certificate whose validity ended yesterday.
    pub fn issue_expired(&self, names: &[&str]) -> ServerCert {
        self.issue_between(names, &chrono_like_date(-30), &chrono_like_date(-1))
    }

    /// A certificate not valid before next week.
    pub fn issue_future(&self, names: &[&str]) -> ServerCert {
        self.issue_between(names, &chrono_like_date(7), &chrono_like_date(30))
    }

    /// Another key pair, not the key of any certificate.
    pub fn stray_key(&self) -> PathBuf {
        let n = self.next();
        let key = format!("stray{n}.key");
        self.openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-out",
            &key,
        ]);
        self.path(&key)
    }

    /// `start`, `end`: `YYYYMMDDHHMMSSZ`.
    fn issue_between(&self, names: &[&str], start: &str, end: &str) -> ServerCert {
        let n = self.next();
        let (key, csr, crt, ext) = (
            format!("server{n}.key"),
            format!("server{n}.csr"),
            format!("server{n}.crt"),
            format!("server{n}.ext"),
        );
        let subject = format!("/CN={}", names.first().copied().unwrap_or("hls-edge test"));
        self.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &subject,
            "-keyout",
            &key,
            "-out",
            &csr,
        ]);
        let sans: Vec<String> = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(_) => format!("IP:{n}"),
                Err(_) => format!("DNS:{n}"),
            })
            .collect();
        let extensions = format!(
            "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
            sans.join(",")
        );
        std::fs::write(self.path(&ext), extensions).expect("extensions file");
        self.openssl(&[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.crt",
            "-keyfile",
            "ca.key",
            "-in",
            &csr,
            "-out",
            &crt,
            "-extfile",
            &ext,
            "-startdate",
            start,
            "-enddate",
            end,
        ]);
        let der = CertificateDer::from_pem_file(self.path(&crt))
            .expect("openssl wrote a PEM certificate")
            .to_vec();
        ServerCert {
            cert: self.path(&crt),
            key: self.path(&key),
            der,
        }
    }

    fn next(&self) -> u32 {
        let n = self.issued.get() + 1;
        self.issued.set(n);
        n
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `YYYYMMDDHHMMSSZ` for today plus `days` (UTC), from `date`.
fn chrono_like_date(days: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("{days} days"), "+%Y%m%d%H%M%SZ"])
        .output()
        .expect("date runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// What a TLS handshake agreed.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// `h2`, `http/1.1`, or `None` when no protocol was negotiated.
    pub alpn: Option<String>,
    /// The end-entity certificate the server sent (DER).
    pub peer_cert: Vec<u8>,
}

/// A TLS connection to `addr` asking for `server_name` (SNI), trusting only
/// `ca`, offering `alpn`.
pub async fn tls_connect(
    addr: SocketAddr,
    server_name: &str,
    ca: &Path,
    alpn: &[&str],
) -> Result<(TlsStream<TcpStream>, Handshake), ClientError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("the CA file reads") {
        roots
            .add(cert.expect("the CA file parses"))
            .expect("a usable CA");
    }
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let name = ServerName::try_from(server_name.to_string()).expect("a DNS name or an IP");
    let connect = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    };
    let stream = tokio::time::timeout(DEFAULT_TIMEOUT, connect)
        .await
        .map_err(|_| ClientError::ConnectTimeout {
            addr: addr.to_string(),
            after: DEFAULT_TIMEOUT,
        })?
        .map_err(|source| ClientError::Connect {
            addr: addr.to_string(),
            source,
        })?;
    let session = stream.get_ref().1;
    let handshake = Handshake {
        alpn: session
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        peer_cert: session
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default(),
    };
    Ok((stream, handshake))
}

/// An HTTP/1.1 client over TLS (ALPN `http/1.1`).
pub async fn https_client(
    addr: SocketAddr,
    server_name: &str,
    ca: &Path,
) -> Result<(Client<TlsStream<TcpStream>>, Handshake), ClientError> {
    let (stream, handshake) = tls_connect(addr, server_name, ca, &["http/1.1"]).await?;
    let host = format!("{server_name}:{}", addr.port());
    Ok((Client::over(stream, &host, DEFAULT_TIMEOUT), handshake))
}

/// GET over HTTPS/1.1 on a fresh connection.
pub async fn https_get(
    addr: SocketAddr,
    server_name: &str,
    ca: &Path,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Response, Handshake), ClientError> {
    let (mut client, handshake) = https_client(addr, server_name, ca).await?;
    Ok((client.get(path, headers).await?, handshake))
}

/// What `curl` saw of one request: the status line's version and code, the
/// response headers (lowercase names) and the body.
#[derive(Debug, Clone)]
pub struct CurlResponse {
    pub version: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl CurlResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Runs `curl` with `args` (plus `-s -D` to read the head) on `url`; `None`
/// when curl failed, with its message printed.
pub fn curl(args: &[&str], url: &str) -> Result<CurlResponse, String> {
    let dir = TempDir::new("hls-edge-curl").expect("temp dir");
    let head = dir.path().join("head");
    let body = dir.path().join("body");
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "20", "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(args)
        .arg(url)
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let head = std::fs::read_to_string(&head).map_err(|e| e.to_string())?;
    // the last head is the final response (after any 1xx)
    let last = head
        .split("\r\n\r\n")
        .filter(|h| !h.trim().is_empty())
        .last()
        .unwrap_or_default();
    let mut lines = last.lines();
    let mut status_line = lines.next().unwrap_or_default().split_whitespace();
    let version = status_line.next().unwrap_or_default().to_string();
    let status = status_line
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("curl {url}: no status line in {last:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(CurlResponse {
        version,
        status,
        headers,
        body: std::fs::read(&body).unwrap_or_default(),
    })
}

/// How long a test waits for an edge to pick up what it was told.
pub const SETTLE: Duration = Duration::from_secs(10);
