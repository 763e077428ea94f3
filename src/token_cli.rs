//! `hls-edge token sign`: mints an entry token the way an operator's backend
//! would, with the same code the edge verifies with.
//!
//! The key is read from an environment variable (default `HLS_EDGE_TOKEN_KEY`)
//! or a file, never from the command line, so it stays out of shell history
//! and process listings.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use hls_edge::auth::placement::query_value;
use hls_edge::auth::{
    mint_acl_token, mint_url_token, Algorithm, TokenConfig, TokenFields, TokenKey,
};
use hls_edge::config::units::parse_duration;

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Print a signed token (or a whole URL with --url-base).
    Sign(SignArgs),
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// ACL path globs (`*`, `?`), e.g. '/hls/demo/*'; several allowed.
    #[arg(long, required_unless_present = "url")]
    acl: Vec<String>,
    /// Sign a URL token for this exact path instead of an ACL token.
    #[arg(long, conflicts_with = "acl")]
    url: Option<String>,
    /// Lifetime from now (e.g. 90s, 2h).
    #[arg(long, default_value = "90s")]
    ttl: String,
    /// Start time offset from now (e.g. 0s); omitted by default, as EdgeAuth does.
    #[arg(long)]
    start: Option<String>,
    /// Session id (what revocation names).
    #[arg(long)]
    id: Option<String>,
    /// Opaque payload.
    #[arg(long)]
    data: Option<String>,
    /// Bind the token to this client address.
    #[arg(long)]
    ip: Option<String>,
    /// sha256 (default), sha1 or md5.
    #[arg(long, default_value = "sha256")]
    algorithm: String,
    /// URL-escape ip/id/data before signing (EdgeAuth's escape_early).
    #[arg(long)]
    escape_early: bool,
    /// Environment variable holding the hex key.
    #[arg(long, default_value = "HLS_EDGE_TOKEN_KEY")]
    key_env: String,
    /// File holding the hex key (instead of the environment).
    #[arg(long)]
    key_file: Option<String>,
    /// Print `BASE?hdnts=TOKEN` (e.g. http://127.0.0.1:8080/hls/secure/master.m3u8).
    #[arg(long)]
    url_base: Option<String>,
    /// Parameter name used with --url-base.
    #[arg(long, default_value = "hdnts")]
    name: String,
}

pub fn run(action: TokenAction) -> ExitCode {
    let TokenAction::Sign(args) = action;
    match sign(&args) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hls-edge token sign: {e}");
            ExitCode::from(2)
        }
    }
}

fn sign(args: &SignArgs) -> Result<String, String> {
    let hex = match &args.key_file {
        Some(file) => std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read key file {file}: {e}"))?,
        None => std::env::var(&args.key_env)
            .map_err(|_| format!("{} is not set (the hex key)", args.key_env))?,
    };
    let key = TokenKey::from_hex(hex.trim()).map_err(|e| e.to_string())?;
    let algorithm: Algorithm = args
        .algorithm
        .parse()
        .map_err(|e: hls_edge::auth::KeyError| e.to_string())?;
    let cfg = TokenConfig {
        algorithm,
        escape_early: args.escape_early,
        ..TokenConfig::default()
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let ttl = parse_duration(&args.ttl)
        .map_err(|e| format!("--ttl: {e}"))?
        .as_secs();
    let start = match &args.start {
        Some(s) => Some(
            now + parse_duration(s)
                .map_err(|e| format!("--start: {e}"))?
                .as_secs(),
        ),
        None => None,
    };
    let fields = TokenFields {
        start,
        exp: start.unwrap_or(now) + ttl,
        acl: args.acl.clone(),
        id: args.id.clone(),
        data: args.data.clone(),
        ip: args.ip.clone(),
    };
    let token = match &args.url {
        Some(url) => mint_url_token(&key, &cfg, url, fields),
        None => mint_acl_token(&key, &cfg, fields),
    }
    .map_err(|e| e.to_string())?;
    Ok(match &args.url_base {
        Some(base) => {
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}{}={}", args.name, query_value(&token))
        }
        None => token,
    })
}
