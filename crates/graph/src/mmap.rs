//! One of the two modules of the graph crate using `unsafe` (and `prefetch`): mapping a snapshot read-only.
//!
//! Why this is sound in practice: the mapping is read-only and everything built on it reads bytes through
//! safe, bounds-checked slice accesses (`from_le_bytes`, no pointer casts), so any *content* the file holds —
//! corrupt, truncated at write time, hostile — yields an error or wrong numbers, never undefined behaviour.
//! The one thing `Mmap::map` cannot rule out is another process truncating or rewriting the file while it is
//! mapped. chaintrace never does that: snapshots are written to a temporary file and atomically renamed over
//! the old one, so a mapped file is never modified in place. Editing snapshot files by hand while a trace runs
//! is outside the contract (the same contract every mmap-based database documents).
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::Mmap;

/// Maps the whole file read-only.
pub(crate) fn map_readonly(file: &File) -> io::Result<Mmap> {
    // SAFETY: see the module docs; the mapping is read-only, accessed only through bounds-checked safe
    // reads, and chaintrace never modifies a snapshot file in place (write-to-temp + rename).
    unsafe { Mmap::map(file) }
}
