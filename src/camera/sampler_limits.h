#pragma once
// The image-size and batch checks every sampler applies (SamplerLimits), in one place.

#include <cstdint>

namespace sds {

/// sds::Error unless `batch_size` views of `height` x `width` are within SamplerLimits.
void check_sampler_sizes(int64_t batch_size, int64_t height, int64_t width);

}  // namespace sds
