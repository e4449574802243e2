#include "sds/core/checks.h"

#include <atomic>
#include <cstdlib>

#include "sds/core/error.h"

#include <fmt/ranges.h>

namespace sds {

std::string shape_string(at::IntArrayRef sizes) {
  return fmt::format("[{}]", fmt::join(sizes, ", "));
}

void check_defined(const at::Tensor& t, std::string_view name) {
  SDS_CHECK(t.defined(), "{}: expected a tensor, got an undefined tensor", name);
}

void check_shape(const at::Tensor& t, std::string_view name, std::initializer_list<int64_t> dims,
                 std::string_view layout) {
  check_defined(t, name);
  bool ok = t.dim() == static_cast<int64_t>(dims.size());
  if (ok) {
    int64_t i = 0;
    for (int64_t d : dims) {
      if (d >= 0 && t.size(i) != d) ok = false;
      ++i;
    }
  }
  SDS_CHECK(ok, "{}: expected shape {}, got {}", name, layout, shape_string(t.sizes()));
}

void check_dtype(const at::Tensor& t, std::string_view name, at::ScalarType dtype) {
  check_defined(t, name);
  SDS_CHECK(t.scalar_type() == dtype, "{}: expected dtype {}, got {}", name,
            c10::toString(dtype), c10::toString(t.scalar_type()));
}

void check_floating(const at::Tensor& t, std::string_view name) {
  check_defined(t, name);
  SDS_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
            "{}: expected dtype Float or Double, got {}", name, c10::toString(t.scalar_type()));
}

void check_device(const at::Tensor& t, std::string_view name, const at::Device& device) {
  check_defined(t, name);
  SDS_CHECK(t.device() == device, "{}: expected a tensor on {}, got one on {}", name,
            device.str(), t.device().str());
}

bool built_with_cuda() {
#ifdef SDS_WITH_CUDA
  return true;
#else
  return false;
#endif
}

void check_device_supported(const at::Tensor& t, std::string_view name) {
  check_defined(t, name);
  if (t.is_cuda()) {
    SDS_CHECK(built_with_cuda(),
              "{}: got a CUDA tensor, but this build of sds has no CUDA kernels; rebuild with "
              "nvcc on PATH and -DSDS_CUDA=ON",
              name);
    return;
  }
  SDS_CHECK(t.is_cpu(), "{}: expected a CPU or CUDA tensor, got one on {}", name,
            t.device().str());
}

namespace {
std::atomic<bool>& debug_flag() {
  static std::atomic<bool> flag = [] {
    const char* env = std::getenv("SDS_DEBUG_CHECKS");
    return env != nullptr && std::string_view(env) == "1";
  }();
  return flag;
}
}  // namespace

bool value_checks_enabled(const at::Tensor& t) { return t.is_cpu() || debug_checks(); }
void set_debug_checks(bool on) { debug_flag().store(on); }
bool debug_checks() { return debug_flag().load(); }

void check_finite(const at::Tensor& t, std::string_view what) {
  check_defined(t, what);
  if (!t.is_floating_point() || !value_checks_enabled(t)) return;
  SDS_CHECK(at::isfinite(t).all().item<bool>(), "{}: expected finite values, found NaN or Inf",
            what);
}

}  // namespace sds
