//! Cache prefetch hints: the other module of the graph crate that uses `unsafe`. A prefetch only asks the
//! CPU to start loading a cache line; it never faults, reads no value and changes no state, so a wrong hint
//! costs a little bandwidth, never a wrong answer. Memory-bound traversals (a hop level's arrivals land on
//! addresses scattered over the node and edge tables) use them to overlap the cache misses of the next
//! items with the work on the current one. A no-op off x86_64.

#![allow(unsafe_code)]

/// Hints that the cache lines of `items[i]` will be read soon (nothing when `i` is out of range).
#[inline(always)]
pub fn prefetch<T>(items: &[T], i: usize) {
    if let Some(x) = items.get(i) {
        // Every 64-byte line the item overlaps (it need not start on a line).
        let p = (x as *const T).cast::<u8>();
        let size = std::mem::size_of::<T>().max(1);
        let mut off = 0;
        while off < size {
            line(p.wrapping_add(off));
            off += 64;
        }
        line(p.wrapping_add(size - 1));
    }
}

/// Hints that the byte at `off` of `bytes` will be read soon (nothing when out of range).
#[inline(always)]
pub(crate) fn prefetch_byte(bytes: &[u8], off: usize) {
    if off < bytes.len() {
        line(bytes.as_ptr().wrapping_add(off));
    }
}

#[inline(always)]
fn line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is a hint: it does not dereference `p` in the language's sense and cannot
    // fault; callers pass pointers into live slices anyway. SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
