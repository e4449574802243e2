#include "sds/core/allocator.h"

#include <unistd.h>

#include <cstdlib>

namespace sds {

void restart_keeping_freed_memory(char** argv) {
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) return;
  setenv("MALLOC_MMAP_THRESHOLD_", "1073741824", 1);
  setenv("MALLOC_TRIM_THRESHOLD_", "4294967296", 0);
  setenv("MALLOC_TOP_PAD_", "268435456", 0);
  execv("/proc/self/exe", argv);
}

}  // namespace sds
