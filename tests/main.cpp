// The tests' main: Catch's, after the allocator setting the command line uses too.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "sds/core/allocator.h"

int main(int argc, char** argv) {
  sds::keep_freed_memory();
  return Catch::Session().run(argc, argv);
}
