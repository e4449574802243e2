#pragma once
// Seeded randomness. Every random draw in a run comes from a generator derived from the run's
// seed and the step, so a resumed run draws exactly what an uninterrupted one would.

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>

namespace sds {

/// Mixes a seed with a stream id and a counter (splitmix64); distinct inputs give unrelated seeds.
uint64_t derive_seed(uint64_t seed, uint64_t stream, uint64_t counter = 0);

/// A generator on `device` (CPU or CUDA) seeded with `seed`; the same seed gives the same
/// numbers on the same kind of device.
at::Generator make_generator(uint64_t seed, const at::Device& device = at::kCPU);

/// N(0, 1) samples of shape `sizes` drawn with `generator` on the generator's device, returned
/// on `like`'s device in its dtype.
at::Tensor draw_normal(at::IntArrayRef sizes, at::Generator& generator, const at::Tensor& like);

}  // namespace sds
