//! `hls-edge`: check a config (`-t -c FILE`), run the edge (`-c FILE`), or
//! sign a playback token for an operator or a test (`token sign ...`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hls_edge::config::Config;

mod token_cli;

/// mimalloc rather than the system allocator: fewer instructions per
/// allocation on the hit path (docs/performance.md).
#[global_allocator]
static ALLOCATOR: hls_edge::allocator::EdgeAllocator = hls_edge::allocator::EdgeAllocator;

/// Edge HLS caching proxy on Pingora.
#[derive(Debug, Parser)]
#[command(name = "hls-edge", version, about)]
struct Cli {
    /// The config file (YAML).
    #[arg(short = 'c', long = "conf", default_value = "conf/edge.yaml")]
    conf: PathBuf,
    /// Check the config file and exit (non-zero with every problem named).
    #[arg(short = 't', long = "test")]
    test: bool,
    /// Run in the background.
    #[arg(short = 'd', long)]
    daemon: bool,
    /// Take over the listening sockets of a running edge (graceful upgrade:
    /// start the new binary with -u, then send SIGQUIT to the old one).
    #[arg(short = 'u', long)]
    upgrade: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Playback tokens (Akamai EdgeAuth 2.0 format).
    Token {
        #[command(subcommand)]
        action: token_cli::TokenAction,
    },
}

/// Exit code for a config that cannot be used (EX_DATAERR: the config is data).
const BAD_CONFIG: u8 = 65;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Token { action }) = cli.command {
        return token_cli::run(action);
    }
    let config = match Config::load(&cli.conf) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(BAD_CONFIG);
        }
    };
    if cli.test {
        println!("{}: ok", cli.conf.display());
        return ExitCode::SUCCESS;
    }
    hls_edge::logging::init(&config.log);
    let opt = pingora::server::configuration::Opt {
        upgrade: cli.upgrade,
        daemon: cli.daemon,
        ..Default::default()
    };
    match hls_edge::server::build(&config, opt) {
        Ok(server) => {
            let listen: Vec<String> = config.edge.listen.iter().map(|l| l.to_string()).collect();
            tracing::info!(edge = %config.edge.id, ?listen, admin = %config.admin.listen, "hls-edge starting");
            server.run_forever()
        }
        Err(e) => {
            eprintln!("hls-edge: {e}");
            ExitCode::from(BAD_CONFIG)
        }
    }
}
