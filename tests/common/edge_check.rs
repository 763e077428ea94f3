//! One-shot runs of the edge binary that exit by themselves, such as the
//! config check `hls-edge -t -c FILE`. Bounded: a binary that ignores `-t`
//! and starts serving is killed after `READY_TIMEOUT`.

use std::fs::File;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use super::edge::{TempDir, EDGE_BIN, POLL, READY_TIMEOUT};

/// Runs `hls-edge -t -c FILE` (config check) and returns its output. The
/// child is killed after 30 s (a binary ignoring `-t` would serve forever).
/// Blocking: call it outside an async runtime or accept a short block.
pub fn run_edge_check(yaml: &str) -> Output {
    run_edge_with_config(&["-t"], yaml)
}

/// Runs `hls-edge ARGS -c FILE` to completion (bounded to 30 s) with `yaml`
/// in FILE; stdout and stderr are kept apart.
pub fn run_edge_with_config(args: &[&str], yaml: &str) -> Output {
    run_edge_with_config_env(args, yaml, &[])
}

/// `run_edge_check` with environment variables for the child only.
pub fn run_edge_check_with_env(yaml: &str, env: &[(&str, &str)]) -> Output {
    run_edge_with_config_env(&["-t"], yaml, env)
}

fn run_edge_with_config_env(args: &[&str], yaml: &str, env: &[(&str, &str)]) -> Output {
    let dir = TempDir::new("hls-edge-check").expect("create a temp dir");
    let config = dir.path().join("edge.yaml");
    std::fs::write(&config, yaml).expect("write the config");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(EDGE_BIN)
        .args(args)
        .envs(env.iter().copied())
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create stdout file"))
        .stderr(File::create(&err_path).expect("create stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {EDGE_BIN}: {e}"));
    let deadline = Instant::now() + READY_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait().expect("reap the killed child");
        }
        std::thread::sleep(POLL);
    };
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    }
}
