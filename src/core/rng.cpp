#include "sds/core/rng.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include "sds/core/device.h"

namespace sds {

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

uint64_t derive_seed(uint64_t seed, uint64_t stream, uint64_t counter) {
  return splitmix64(splitmix64(splitmix64(seed) ^ stream) ^ counter);
}

at::Generator make_generator(uint64_t seed, const at::Device& device) {
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  check_device_usable(device, "generator");
  at::Generator g = at::detail::getCUDAHooks().getNewGenerator(device.has_index() ? device.index()
                                                                                  : -1);
  g.set_current_seed(seed);
  return g;
}

at::Tensor draw_normal(at::IntArrayRef sizes, at::Generator& generator, const at::Tensor& like) {
  const auto options = at::TensorOptions(like.scalar_type()).device(generator.device());
  return to_device(at::randn(sizes, generator, options), like.device());
}

}  // namespace sds
