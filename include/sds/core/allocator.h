#pragma once
// Process-wide memory-allocator settings for CPU training.

namespace sds {

/// Makes the C allocator (glibc) keep freed memory for reuse instead of returning every large
/// block to the system at once. A CPU training step allocates and frees hundreds of megabytes of
/// activations; unmapped and mapped again each step, they cost a page fault per 4 KiB, which
/// measured 40% of the NeRF's wall time on 2 cores (docs/results.md). The price: the process
/// keeps its peak memory. The `sds` command line and the tests call it at start; a program of
/// its own may, as the first thing in main(). No-op with another C library; returns whether it
/// applied.
bool keep_freed_memory();

}  // namespace sds
