#include "helpers.h"

#include <ATen/Context.h>
#include <ftw.h>
#include <stdio.h>

#include <cstdlib>

#include "sds/core/checks.h"

namespace sds::test {

at::Tensor finite_difference(const std::function<at::Tensor(const at::Tensor&)>& f,
                             const at::Tensor& x, double h) {
  at::Tensor base = x.detach().to(at::kDouble).contiguous().clone();
  at::Tensor grad = at::zeros_like(base);
  auto flat = base.view({-1});
  auto g = grad.view({-1});
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double v = flat[i].item<double>();
    flat[i] = v + h;
    const double fp = f(base).item<double>();
    flat[i] = v - h;
    const double fm = f(base).item<double>();
    flat[i] = v;
    g[i] = (fp - fm) / (2 * h);
  }
  return grad;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble).cpu() - b.to(at::kDouble).cpu()).abs().max().item<double>();
}

std::filesystem::path fresh_temp_dir(const std::string& name) {
  auto path = std::filesystem::temp_directory_path() / ("sds_test_" + name);
  ::nftw(
      path.c_str(),
      [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
      FTW_DEPTH | FTW_PHYS);
  std::filesystem::create_directories(path);
  return path;
}

bool cuda_available() { return built_with_cuda() && at::hasCUDA(); }

bool require_cuda_or_skip() {
  if (cuda_available()) return true;
  std::fprintf(stderr, "SKIPPED: %s\n",
               built_with_cuda() ? "no usable CUDA device"
                                 : "the library was built without CUDA (SDS_CUDA=OFF)");
  const char* code = std::getenv("SDS_TEST_SKIP_EXIT_CODE");
  if (code == nullptr || *code == '\0') return false;
  std::fflush(stdout);
  std::fflush(stderr);
  // _Exit, not exit: nothing of the test ran, and the static destructors of torch's libraries
  // (and, in the sanitizer build, LeakSanitizer's exit-time check) have nothing to add here.
  std::_Exit(std::atoi(code));
}

}  // namespace sds::test
