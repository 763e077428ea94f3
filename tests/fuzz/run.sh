#!/usr/bin/env bash
# Runs each fuzz target for a bounded time, one after the other.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     (default: 60 seconds, every target)
#
# Needs cargo-fuzz (installed with `cargo install cargo-fuzz --locked` if missing) and a
# nightly compiler: `cargo +nightly` if rustup has a nightly toolchain, else the default
# toolchain with RUSTC_BOOTSTRAP=1 (which lets a stable rustc take the -Z flags cargo-fuzz
# passes; both ways build and run).
#
# New corpus entries go to $FUZZ_CORPUS (default tests/fuzz/target/corpus/<target>), so the
# seeds in tests/fuzz/corpus/<target> stay as committed; a crash is written to
# tests/fuzz/artifacts/<target>/ and stops the script with cargo-fuzz's exit code.
# CARGO_TARGET_DIR, if set, is used as the build directory (default tests/fuzz/target).
set -euo pipefail

secs="${1:-60}"
shift || true
fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$fuzz_dir/../.." && pwd)"
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(token_parse playlist_rewrite)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo=(cargo)
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cargo=(cargo +nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

build_args=(--fuzz-dir "$fuzz_dir" --debug-assertions)
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    build_args+=(--target-dir "$CARGO_TARGET_DIR")
fi
corpus_root="${FUZZ_CORPUS:-$fuzz_dir/target/corpus}"

cd "$root"
for target in "${targets[@]}"; do
    # token_parse: a little past MAX_TOKEN_LEN (4096), so "token too long" is reached
    max_len=4096
    [ "$target" = token_parse ] && max_len=4608
    mkdir -p "$corpus_root/$target"
    echo "== $target: $secs s"
    "${cargo[@]}" fuzz run "${build_args[@]}" "$target" \
        "$corpus_root/$target" "$fuzz_dir/corpus/$target" -- \
        -max_total_time="$secs" -max_len="$max_len" -print_final_stats=1
done
