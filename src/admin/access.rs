//! Who may use the admin listener. It is meant for an operator's tools
//! (curl, Prometheus, a deployment script), never for a web page: a page
//! the operator's browser opens could otherwise revoke sessions with a
//! cross-site `POST` (a `text/plain` body needs no CORS preflight), or read
//! `/status` after rebinding its own name to `127.0.0.1`.
//!
//! In this order:
//! 1. `Host` must name this listener: an IP literal, `localhost`, or one of
//!    `admin.allowed_hosts` (DNS rebinding sends the attacker's name): 403;
//! 2. a browser's cross-site request is refused: an `Origin` that is not this
//!    listener's own (`null` included), or `Sec-Fetch-Site` other than
//!    `same-origin`/`none` (Fetch Metadata): 403;
//! 3. with `admin.token_env`/`token_file`, every endpoint but the probes
//!    (`/healthz`, `/readyz`) needs `Authorization: Bearer <token>` (RFC 6750):
//!    401 with `WWW-Authenticate`.

use std::net::IpAddr;

use http::HeaderMap;

use crate::auth::BearerToken;
use crate::config::AdminSettings;

/// Why an admin request was refused; `reason()` is the bounded label of
/// `X-Admin-Refused` and of `hls_edge_admin_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdminRefusal {
    #[error("Host does not name the admin listener")]
    Host,
    #[error("cross-site request")]
    Origin,
    #[error("missing or wrong bearer token")]
    Token,
}

impl AdminRefusal {
    pub fn reason(self) -> &'static str {
        match self {
            AdminRefusal::Host => "host",
            AdminRefusal::Origin => "origin",
            AdminRefusal::Token => "token",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            AdminRefusal::Token => 401,
            _ => 403,
        }
    }
}

/// The admin listener's access rules.
#[derive(Debug, Clone, Default)]
pub struct AdminAccess {
    token: Option<BearerToken>,
    allowed_hosts: Vec<String>,
}

/// Paths a load balancer or orchestrator probes without credentials.
const PROBES: &[&str] = &["/healthz", "/readyz"];

impl AdminAccess {
    pub fn new(settings: &AdminSettings) -> AdminAccess {
        AdminAccess {
            token: settings.token.clone(),
            allowed_hosts: settings.allowed_hosts.clone(),
        }
    }

    /// Whether a request for `path` with `headers` may be answered.
    pub fn check(&self, path: &str, headers: &HeaderMap) -> Result<(), AdminRefusal> {
        let host = headers
            .get(http::header::HOST)
            .map(|h| h.to_str().map_err(|_| AdminRefusal::Host))
            .transpose()?;
        if let Some(host) = host {
            if !self.names_this_listener(host) {
                return Err(AdminRefusal::Host);
            }
        }
        if cross_site(headers, host) {
            return Err(AdminRefusal::Origin);
        }
        match &self.token {
            Some(token) if !PROBES.contains(&path) => {
                let presented = headers
                    .get(http::header::AUTHORIZATION)
                    .map(|v| v.as_bytes());
                if token.accepts(presented) {
                    Ok(())
                } else {
                    Err(AdminRefusal::Token)
                }
            }
            _ => Ok(()),
        }
    }

    fn names_this_listener(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        name.parse::<IpAddr>().is_ok() || name == "localhost" || self.allowed_hosts.contains(&name)
    }
}

/// `host[:port]` without the port; `[v6]:port` gives `v6`.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// A browser marks cross-site requests: an `Origin` other than this
/// listener's own (RFC 6454; `null` from sandboxed or file pages), or
/// `Sec-Fetch-Site` (Fetch Metadata) other than `same-origin` or `none`.
fn cross_site(headers: &HeaderMap, host: Option<&str>) -> bool {
    let origin_ok = headers.get_all(http::header::ORIGIN).iter().all(|origin| {
        let origin = origin.to_str().unwrap_or("null");
        let Some(host) = host else {
            return false;
        };
        ["http://", "https://"]
            .iter()
            .any(|scheme| origin.eq_ignore_ascii_case(&format!("{scheme}{host}")))
    });
    let fetch_ok = headers.get_all("sec-fetch-site").iter().all(|site| {
        site.to_str()
            .is_ok_and(|s| s.eq_ignore_ascii_case("same-origin") || s.eq_ignore_ascii_case("none"))
    });
    !(origin_ok && fetch_ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn open() -> AdminAccess {
        AdminAccess {
            token: None,
            allowed_hosts: vec!["edge-admin.internal".into()],
        }
    }

    #[test]
    fn hosts_must_name_the_listener() {
        let a = open();
        for ok in [
            "127.0.0.1:9090",
            "localhost:9090",
            "[::1]:9090",
            "10.0.0.5",
            "EDGE-ADMIN.internal:9090",
        ] {
            let h =
                HeaderMap::from_iter([(http::header::HOST, HeaderValue::from_str(ok).unwrap())]);
            assert_eq!(a.check("/status", &h), Ok(()), "{ok}");
        }
        for bad in ["evil.example", "evil.example:9090", "127.0.0.1.nip.io:9090"] {
            let h =
                HeaderMap::from_iter([(http::header::HOST, HeaderValue::from_str(bad).unwrap())]);
            assert_eq!(a.check("/status", &h), Err(AdminRefusal::Host), "{bad}");
        }
        assert_eq!(a.check("/status", &headers(&[])), Ok(()));
    }

    #[test]
    fn cross_site_requests_are_refused() {
        let a = open();
        let h = |extra: &[(&'static str, &'static str)]| {
            let mut map = headers(&[("host", "127.0.0.1:9090")]);
            map.extend(headers(extra));
            map
        };
        let post = "/sessions/x/revoke";
        assert_eq!(
            a.check(post, &h(&[("origin", "http://evil.example")])),
            Err(AdminRefusal::Origin)
        );
        assert_eq!(
            a.check(post, &h(&[("origin", "null")])),
            Err(AdminRefusal::Origin)
        );
        assert_eq!(
            a.check(post, &h(&[("sec-fetch-site", "cross-site")])),
            Err(AdminRefusal::Origin)
        );
        assert_eq!(
            a.check(post, &h(&[("sec-fetch-site", "same-site")])),
            Err(AdminRefusal::Origin)
        );
        assert_eq!(
            a.check(post, &h(&[("origin", "http://127.0.0.1:9090")])),
            Ok(())
        );
        assert_eq!(a.check(post, &h(&[("sec-fetch-site", "none")])), Ok(()));
        assert_eq!(
            a.check(post, &headers(&[("origin", "http://127.0.0.1:9090")])),
            Err(AdminRefusal::Origin)
        );
    }

    #[test]
    fn the_token_guards_all_but_the_probes() {
        let a = AdminAccess {
            token: Some(BearerToken::new("a1b2c3d4e5f60718293a4b5c6d7e8f90").unwrap()),
            allowed_hosts: Vec::new(),
        };
        assert_eq!(a.check("/healthz", &headers(&[])), Ok(()));
        assert_eq!(a.check("/metrics", &headers(&[])), Err(AdminRefusal::Token));
        let ok = headers(&[("authorization", "Bearer a1b2c3d4e5f60718293a4b5c6d7e8f90")]);
        assert_eq!(a.check("/metrics", &ok), Ok(()));
    }
}
