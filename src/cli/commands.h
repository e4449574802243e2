#pragma once
// Subcommands of the `sds` executable; each adds itself to the app with its callback.

#include <CLI/CLI.hpp>

namespace sds::cli {

void add_generate(CLI::App& app);
void add_eval(CLI::App& app);
void add_scenes(CLI::App& app);

}  // namespace sds::cli
