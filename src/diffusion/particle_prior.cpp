#include "sds/diffusion/particle_prior.h"

#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <ATen/core/grad_mode.h>

#include <cmath>

#include "sds/core/checks.h"
#include "sds/core/device.h"
#include "sds/core/error.h"
#include "sds/core/rng.h"

namespace sds {

namespace {

constexpr int64_t kTimeFrequencies = 16;

// Sinusoidal timestep features `[B, 2 F]`.
at::Tensor timestep_features(const at::Tensor& t) {
  at::Tensor k = at::arange(kTimeFrequencies, at::TensorOptions(at::kFloat).device(t.device()));
  at::Tensor freq = at::exp(-std::log(10000.0) * k / kTimeFrequencies);
  at::Tensor angle = t.to(at::kFloat).unsqueeze(1) * freq.unsqueeze(0);
  return at::cat({angle.sin(), angle.cos()}, 1);
}

}  // namespace

struct ParticlePrior::Network {
  torch::nn::Linear embed1{nullptr}, embed2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};

  Network(const ParticlePriorOptions& o) {
    const int64_t features = 2 * kTimeFrequencies + 16;
    embed1 = torch::nn::Linear(features, o.embedding);
    embed2 = torch::nn::Linear(o.embedding, 2 * o.hidden);
    auto conv = [](int64_t in, int64_t out) {
      return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1));
    };
    conv1 = conv(3, o.hidden);
    conv2 = conv(o.hidden, o.hidden);
    conv3 = conv(o.hidden, 3);
    // Our own seeded initialisation (uniform in +-1/sqrt(fan_in)); the output layer is zero so
    // that the particle model starts as the base prior.
    at::Generator gen = make_generator(derive_seed(o.seed, 0x5041525449ULL, 0));
    at::NoGradGuard no_grad;
    for (auto* p : parameters()) {
      const int64_t fan_in = p->dim() > 1 ? p->numel() / p->size(0) : p->numel();
      p->uniform_(-1.0 / std::sqrt(static_cast<double>(fan_in)),
                  1.0 / std::sqrt(static_cast<double>(fan_in)), gen);
    }
    conv3->weight.zero_();
    conv3->bias.zero_();
    for (torch::nn::Module* m : std::initializer_list<torch::nn::Module*>{
             embed1.get(), embed2.get(), conv1.get(), conv2.get(), conv3.get()}) {
      m->to(o.device);  // in place: the parameters keep their identity
    }
  }

  std::vector<at::Tensor*> parameters() {
    return {&embed1->weight, &embed1->bias, &embed2->weight, &embed2->bias, &conv1->weight,
            &conv1->bias,    &conv2->weight, &conv2->bias,   &conv3->weight, &conv3->bias};
  }

  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& camera) {
    at::Tensor e = embed2(at::silu(embed1(at::cat({timestep_features(t), camera}, 1))));
    auto film = e.chunk(2, 1);
    at::Tensor h = conv1(x);
    h = h * (1 + film[0].unsqueeze(2).unsqueeze(3)) + film[1].unsqueeze(2).unsqueeze(3);
    h = at::silu(conv2(at::silu(h)));
    return conv3(h);
  }
};

ParticlePrior::ParticlePrior(std::shared_ptr<Prior> base, ParticlePriorOptions options)
    : base_(std::move(base)), options_(options) {
  SDS_CHECK(base_ != nullptr, "particle prior: expected a base prior, got none");
  SDS_CHECK(options_.hidden >= 1 && options_.embedding >= 1,
            "particle prior: expected hidden >= 1 and embedding >= 1, got {} and {}",
            options_.hidden, options_.embedding);
  check_device_usable(options_.device, "particle prior");
  net_ = std::make_unique<Network>(options_);
}

ParticlePrior::~ParticlePrior() = default;

std::vector<at::Tensor> ParticlePrior::trainable_parameters() {
  std::vector<at::Tensor> out;
  for (auto* p : net_->parameters()) out.push_back(*p);
  return out;
}

at::Tensor camera_condition(const Conditioning& cond, int64_t batch, const at::Device& device) {
  if (!cond.cameras) return at::zeros({batch, 16}, at::TensorOptions(at::kFloat).device(device));
  SDS_CHECK(cond.cameras->size() == batch,
            "particle prior: expected {} cameras (one per image), got {}", batch,
            cond.cameras->size());
  at::Tensor camera = to_device(cond.cameras->c2w().reshape({batch, 16}), device).to(at::kFloat);
  if (cond.drop_camera.defined()) {
    check_shape(cond.drop_camera, "particle prior drop_camera", {batch}, "[B]");
    camera = camera * (1 - to_device(cond.drop_camera, device).to(at::kFloat)).unsqueeze(1);
  }
  return camera;
}

at::Tensor ParticlePrior::correction(const at::Tensor& x_t, const at::Tensor& t,
                                     const Conditioning& cond) {
  check_shape(x_t, "particle prior x_t", {-1, 3, -1, -1}, "[B, 3, H, W]");
  check_shape(t, "particle prior t", {x_t.size(0)}, "[B]");
  const at::Device device = options_.device;
  const at::Tensor camera = camera_condition(cond, x_t.size(0), device);
  at::Tensor out = net_->forward(x_t.to(device, at::kFloat), to_device(t, device), camera);
  return out.to(x_t.device(), x_t.scalar_type());
}

at::Tensor ParticlePrior::predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                                        const Conditioning& cond) {
  at::Tensor base;
  {
    at::NoGradGuard no_grad;
    base = base_->predict_noise(x_t.detach(), t, cond);
  }
  return base + correction(x_t, t, cond);
}

}  // namespace sds
