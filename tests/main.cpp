// The tests' main: Catch's, in a process whose allocator keeps freed memory (as the command
// line's).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "sds/core/allocator.h"

int main(int argc, char** argv) {
  sds::restart_keeping_freed_memory(argv);
  return Catch::Session().run(argc, argv);
}
