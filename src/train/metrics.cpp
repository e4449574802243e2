#include <ATen/core/grad_mode.h>

#include "sds/train/metrics.h"

#include "sds/core/checks.h"
#include "sds/core/error.h"

namespace sds {

at::Tensor psnr(const at::Tensor& prediction, const at::Tensor& target) {
  check_shape(prediction, "psnr prediction", {-1, -1, -1, -1}, "[B, C, H, W]");
  SDS_CHECK(prediction.sizes() == target.sizes(),
            "psnr: expected prediction and target of one shape, got {} and {}",
            shape_string(prediction.sizes()), shape_string(target.sizes()));
  at::Tensor mse = (prediction.detach().to(at::kCPU, at::kDouble) -
                    target.detach().to(at::kCPU, at::kDouble))
                       .pow(2)
                       .mean({1, 2, 3});
  return -10.0 * at::log10(mse);
}

at::Tensor render_views(Representation& representation, const CameraBatch& cameras,
                        const RenderOptions& options, int64_t chunk) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  const auto& all = cameras.cameras();
  for (size_t i = 0; i < all.size(); i += static_cast<size_t>(chunk)) {
    std::vector<Camera> part(all.begin() + static_cast<std::ptrdiff_t>(i),
                             all.begin() + static_cast<std::ptrdiff_t>(
                                               std::min(all.size(), i + static_cast<size_t>(chunk))));
    parts.push_back(representation.render(CameraBatch(part), options).rgb.detach());
  }
  return at::cat(parts);
}

ViewScores score_views(Representation& representation, const CameraBatch& cameras,
                       const at::Tensor& target, const RenderOptions& options, int64_t chunk) {
  return score_views(render_views(representation, cameras, options, chunk), target);
}

ViewScores score_views(const at::Tensor& prediction, const at::Tensor& target) {
  at::Tensor p = psnr(prediction, target);
  ViewScores s;
  s.psnr_per_view.assign(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
  s.mean = p.mean().item<double>();
  s.min = p.min().item<double>();
  return s;
}

}  // namespace sds
