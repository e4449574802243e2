#!/usr/bin/env bash
# Installs the build into a fresh prefix, then configures, builds and runs tests/consumer
# against it: `find_package(sds)` from another project.
set -euo pipefail
build=$1 source=$2 torch_prefix=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" --component dev > /dev/null
cmake -S "$source/tests/consumer" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix;$torch_prefix" > "$work/configure.log" || {
  cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
"$work/build/consumer"
