//! Runs a trace's independent per-asset runs on several threads (results in run order, so a trace's result
//! is the same on any number of threads).
//!
//! A trace has one run per `(chain, asset)` the starts moved; without conversions between them the runs share
//! nothing but the read-only graph, so they can go to different cores. Each worker takes the next run not yet
//! taken (the first runs in asset order are often the large ones, so there is no static split to get wrong).
//! The calling thread is one of the workers; the others are scoped threads that end with the call.

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Most threads one trace uses.
const MAX_THREADS: usize = 4;

thread_local! {
    /// Tests: run everything on the calling thread (to compare with the threaded result).
    static SEQUENTIAL: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every trace on this thread kept to one thread (tests compare results both ways).
#[cfg(test)]
pub(crate) fn sequential<T>(f: impl FnOnce() -> T) -> T {
    SEQUENTIAL.with(|s| s.set(true));
    let out = f();
    SEQUENTIAL.with(|s| s.set(false));
    out
}

/// `(0..n).map(f)`, with the calls spread over up to [`MAX_THREADS`] threads (no more than the machine's
/// cores); the results come back in index order.
pub(crate) fn map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let threads = n.min(cores).min(MAX_THREADS);
    if threads <= 1 || SEQUENTIAL.with(Cell::get) {
        return (0..n).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            let out = f(i);
            *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(out);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            // A thread that cannot be started leaves its share to the others.
            let _ = std::thread::Builder::new().spawn_scoped(s, work);
        }
        work();
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every index below n is taken by exactly one worker, which stores its result")
        })
        .collect()
}
