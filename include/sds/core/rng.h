#pragma once
// Seeded randomness. Every random draw in a run comes from a generator derived from the run's
// seed and the step, so a resumed run draws exactly what an uninterrupted one would.

#include <ATen/core/Generator.h>

#include <cstdint>

namespace sds {

/// Mixes a seed with a stream id and a counter (splitmix64); distinct inputs give unrelated seeds.
uint64_t derive_seed(uint64_t seed, uint64_t stream, uint64_t counter = 0);

/// A CPU generator seeded with `seed`.
at::Generator make_generator(uint64_t seed);

}  // namespace sds
