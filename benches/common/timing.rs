//! The timing loop the micro-benchmarks share (included by path: not a bench of its own).

use std::hint::black_box;
use std::time::Instant;

/// Runs `op` `iters` times per run, `runs` runs; prints the median and best ns per call.
/// `op` returns whether it did its work (a bench that stops working fails loudly).
pub fn report(name: &str, runs: usize, iters: u32, mut op: impl FnMut() -> bool) {
    let mut ns: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                assert!(black_box(op()), "{name}: the operation failed");
            }
            start.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .collect();
    ns.sort_by(f64::total_cmp);
    println!(
        "{name:<48} {:>7.0} ns/op median of {runs} (best {:.0})",
        ns[runs / 2],
        ns[0]
    );
}
