//! Collecting every problem of a config file, each named by its key path.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::file::Unknown;
use super::units::{parse_duration, parse_size};

/// One problem: the key path (`routes[1].origin_group`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

/// The problems found so far; validation keeps going after each one.
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

/// A config file that cannot be used, with every reason.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    file: Option<String>,
    problems: Vec<Problem>,
}

impl Problems {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_error(self) -> ConfigError {
        ConfigError {
            file: None,
            problems: self.0,
        }
    }

    /// Reports each key of `unknown` as `section.key: unknown key`.
    pub fn unknown_keys(&mut self, section: &str, unknown: &Unknown) {
        for key in unknown.keys() {
            let path = if section.is_empty() {
                key.clone()
            } else {
                format!("{section}.{key}")
            };
            self.push(path, "unknown key");
        }
    }

    /// One of the named `choices` (the first is the default when absent); an unknown
    /// value is reported with the choices and the default taken.
    pub fn choice<T: Copy>(&mut self, path: &str, value: Option<&str>, choices: &[(&str, T)]) -> T {
        let (_, default) = choices[0];
        let Some(value) = value else {
            return default;
        };
        match choices.iter().find(|(name, _)| *name == value) {
            Some((_, chosen)) => *chosen,
            None => {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.push(
                    path,
                    format!("'{value}' is not one of: {}", names.join(", ")),
                );
                default
            }
        }
    }

    /// A duration, or `default` when absent (an empty default means required).
    pub fn duration(&mut self, path: &str, value: Option<&str>, default: &str) -> Option<Duration> {
        self.parsed(path, value, default, parse_duration)
    }

    /// A byte size, or `default` when absent.
    pub fn size(&mut self, path: &str, value: Option<&str>, default: &str) -> Option<u64> {
        self.parsed(path, value, default, parse_size)
    }

    /// An `ip:port` listen address, or `default` when absent.
    pub fn socket_addr(
        &mut self,
        path: &str,
        value: Option<&str>,
        default: &str,
    ) -> Option<SocketAddr> {
        self.parsed(path, value, default, |s| {
            s.parse::<SocketAddr>()
                .map_err(|_| format!("'{s}' is not an address like \"127.0.0.1:8080\""))
        })
    }

    /// An origin URL: `http://host[:port]` or `https://host[:port]`, no path.
    pub fn origin_url(&mut self, path: &str, value: Option<&str>) -> Option<(bool, String, u16)> {
        self.parsed(path, value, "", parse_origin_url)
    }

    fn parsed<T>(
        &mut self,
        path: &str,
        value: Option<&str>,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = match value {
            Some(v) => v,
            None if default.is_empty() => {
                self.push(path, "is required");
                return None;
            }
            None => default,
        };
        parse(text).map_err(|m| self.push(path, m)).ok()
    }
}

fn parse_origin_url(text: &str) -> Result<(bool, String, u16), String> {
    let url = url::Url::parse(text).map_err(|e| format!("'{text}' is not a URL: {e}"))?;
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(format!("'{text}': scheme '{other}' is not http or https")),
    };
    let host = url
        .host_str()
        .ok_or_else(|| format!("'{text}' has no host"))?;
    if url.path() != "/" || url.query().is_some() {
        return Err(format!(
            "'{text}' must not have a path or query (routes keep the request path)"
        ));
    }
    let port = url
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    Ok((tls, host.trim_matches(['[', ']']).to_string(), port))
}

impl ConfigError {
    pub fn read(path: &Path, message: String) -> Self {
        ConfigError {
            file: Some(path.display().to_string()),
            problems: vec![Problem {
                path: String::new(),
                message,
            }],
        }
    }

    pub fn syntax(message: String) -> Self {
        ConfigError {
            file: None,
            problems: vec![Problem {
                path: String::new(),
                message,
            }],
        }
    }

    pub fn in_file(mut self, path: &Path) -> Self {
        self.file = Some(path.display().to_string());
        self
    }

    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.as_deref().unwrap_or("config");
        let n = self.problems.len();
        write!(f, "{file}: {n} problem{}", if n == 1 { "" } else { "s" })?;
        for problem in &self.problems {
            if problem.path.is_empty() {
                write!(f, "\n  {}", problem.message)?;
            } else {
                write!(f, "\n  {}: {}", problem.path, problem.message)?;
            }
        }
        Ok(())
    }
}
