#include "sds/core/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace sds {

bool keep_freed_memory() {
#if defined(__GLIBC__)
  // Blocks below 1 GiB come from the heap rather than their own mmap; the heap is trimmed only
  // past 1 GiB of free space at its top and grows 256 MiB at a time.
  return mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 &&
         mallopt(M_TOP_PAD, 256 << 20) == 1;
#else
  return false;
#endif
}

}  // namespace sds
