#include "sds/geometry/cavities.h"

#include <cstdint>
#include <vector>

#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds {

at::Tensor fill_enclosed_cavities(const at::Tensor& solid) {
  check_defined(solid, "fill_enclosed_cavities: solid");
  check_dtype(solid, "fill_enclosed_cavities: solid", at::kBool);
  SDS_CHECK(solid.dim() == 3 && solid.numel() > 0,
            "fill_enclosed_cavities: expected a non-empty [X, Y, Z] lattice, got {}",
            shape_string(solid.sizes()));
  const at::Tensor host = solid.to(at::kCPU).contiguous();
  const int64_t nx = host.size(0), ny = host.size(1), nz = host.size(2);
  const bool* in = host.const_data_ptr<bool>();
  // Cells known to be outside: empty and reached from the boundary.
  std::vector<uint8_t> outside(static_cast<size_t>(host.numel()), 0);
  std::vector<int64_t> queue;
  auto visit = [&](int64_t x, int64_t y, int64_t z) {
    const int64_t i = (x * ny + y) * nz + z;
    if (in[i] || outside[i]) return;
    outside[i] = 1;
    queue.push_back(i);
  };
  for (int64_t x = 0; x < nx; ++x) {
    for (int64_t y = 0; y < ny; ++y) {
      for (int64_t z = 0; z < nz; ++z) {
        if (x == 0 || y == 0 || z == 0 || x == nx - 1 || y == ny - 1 || z == nz - 1) {
          visit(x, y, z);
        }
      }
    }
  }
  for (size_t head = 0; head < queue.size(); ++head) {
    const int64_t i = queue[head];
    const int64_t z = i % nz, y = (i / nz) % ny, x = i / (ny * nz);
    if (x > 0) visit(x - 1, y, z);
    if (x + 1 < nx) visit(x + 1, y, z);
    if (y > 0) visit(x, y - 1, z);
    if (y + 1 < ny) visit(x, y + 1, z);
    if (z > 0) visit(x, y, z - 1);
    if (z + 1 < nz) visit(x, y, z + 1);
  }
  at::Tensor filled = at::empty_like(host);
  bool* out = filled.mutable_data_ptr<bool>();
  for (size_t i = 0; i < outside.size(); ++i) out[i] = !outside[i];
  return filled.to(solid.device());
}

}  // namespace sds
