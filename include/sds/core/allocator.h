#pragma once
// The C allocator's settings for CPU training, for a program's main().

namespace sds {

/// Restarts the process (execv of /proc/self/exe with the same arguments) once, with glibc's
/// allocator told to keep freed memory for reuse (MALLOC_MMAP_THRESHOLD_ 1 GiB,
/// MALLOC_TRIM_THRESHOLD_ 4 GiB, MALLOC_TOP_PAD_ 256 MiB; glibc reads them only at start-up, so
/// they cannot be set for a running process). A CPU training step allocates and frees hundreds
/// of megabytes of activations; unmapped and mapped again every step they cost a page fault per
/// 4 KiB, 40% of a NeRF run's wall time on 2 cores (docs/results.md). The price: the process
/// keeps its peak memory. Call it first thing in main(); it returns at once when
/// MALLOC_MMAP_THRESHOLD_ is already set (by the user or the restart), and returns when the
/// restart fails (the program then runs as before). The `sds` command line and the tests call
/// it; from Python, set the variables before starting the interpreter.
void restart_keeping_freed_memory(char** argv);

}  // namespace sds
