// The `sds` command line: generate (the main job), eval, scenes.

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <cstdio>

#include "commands.h"
#include "sds/core/allocator.h"
#include "sds/core/error.h"

int main(int argc, char** argv) {
  sds::restart_keeping_freed_memory(argv);
  CLI::App app{"sds: score distillation on the exact prior"};
  app.require_subcommand(1);
  sds::cli::add_generate(app);
  sds::cli::add_eval(app);
  sds::cli::add_scenes(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const sds::Error& e) {
    fmt::print(stderr, "\nerror: {}\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    fmt::print(stderr, "\nerror (torch): {}\n", e.what_without_backtrace());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "\nerror: {}\n", e.what());
    return 2;
  }
  return 0;
}
