#include <ATen/core/grad_mode.h>

#include "sds/train/trainer.h"

#include <torch/optim/adam.h>
#include <torch/serialize/archive.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "sds/core/checks.h"
#include "sds/core/device.h"
#include "sds/core/error.h"
#include "sds/core/io.h"
#include "sds/core/read_to_host.h"
#include "sds/core/rng.h"

namespace sds {

namespace {

// Every tensor a checkpoint holds besides the optimiser, under its archive name
// ("representation.<name>", "guidance.<name>").
std::vector<std::pair<std::string, at::Tensor>> checkpoint_tensors(Representation& representation,
                                                                   Guidance& guidance) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& [name, tensor] : representation.named_tensors()) {
    out.emplace_back("representation." + name, tensor);
  }
  for (auto& [name, tensor] : guidance.named_tensors())
    out.emplace_back("guidance." + name, tensor);
  return out;
}

TrainingGroups training_groups(const std::shared_ptr<Representation>& representation,
                               const std::shared_ptr<CameraSampler>& sampler,
                               const std::shared_ptr<Guidance>& guidance) {
  SDS_CHECK(representation && sampler && guidance,
            "trainer: expected a representation, a camera sampler and a guidance");
  return TrainingGroups(*representation, *guidance);
}

}  // namespace

TrainerOptions TrainerOptions::from_config(ConfigReader& c, TrainerOptions o) {
  o.checkpoint_every = c.get("checkpoint_every", o.checkpoint_every);
  if (c.has("device")) o.device = parse_device(c.get<std::string>("device", "cpu"));
  o.log_every = c.get("log_every", o.log_every);
  o.check_every = c.get("check_every", o.check_every);
  o.render.background = c.get("background", o.render.background);
  o.adam_beta1 = c.get("adam_beta1", o.adam_beta1);
  o.adam_beta2 = c.get("adam_beta2", o.adam_beta2);
  o.adam_eps = c.get("adam_eps", o.adam_eps);
  if (c.has("regularisers")) {
    ConfigReader r(c.raw("regularisers"), c.where() + ".regularisers");
    o.regularisers = RegulariserWeights::from_config(r);
  }
  o.lr_scale = read_schedule(c, "lr_scale", o.lr_scale);
  SDS_CHECK(o.lr_scale.min() > 0, "{}.lr_scale: expected a schedule > 0, got a minimum of {}",
            c.where(), o.lr_scale.min());
  for (double v : o.render.background) {
    SDS_CHECK(v >= 0 && v <= 1, "{}.background: expected values in [0, 1], got {}", c.where(), v);
  }
  return o;
}

// The NaN/Inf checks of a run. Each part's tensors reduce to one flag on the device, folded into
// the first bad step of that part, so recording costs no sync; reading is one copy.
class Trainer::NonFiniteWatch {
 public:
  enum Part { kRender, kGuidance, kBackward, kOptimizer, kParts };

  explicit NonFiniteWatch(const at::Device& device)
      : first_bad_(at::full({kParts}, -1, at::TensorOptions(at::kLong).device(device))) {}

  void record(Part part, const std::vector<at::Tensor>& tensors, int64_t step) {
    std::vector<at::Tensor> finite;
    for (const auto& t : tensors) {
      if (t.defined()) finite.push_back(at::isfinite(t.detach()).all());
    }
    if (finite.empty()) return;
    at::Tensor bad = at::logical_not(at::stack(finite).all());
    at::Tensor slot = first_bad_.select(0, part);
    slot.copy_(at::where(bad & (slot < 0), at::scalar_tensor(step, slot.options()), slot));
  }

  /// The first bad (step, part), read back in one copy; -1 steps when all were finite.
  at::Tensor state() const { return first_bad_; }

  /// Throws for the earliest bad step (then the earliest part of it) in `host_state`.
  static void throw_if_bad(const at::Tensor& host_state, const std::string& kept) {
    static const char* const kWhat[kParts] = {
        "NaN or Inf in the render (representation)", "NaN or Inf in the guidance loss",
        "NaN or Inf in the gradients (backward)",
        "NaN or Inf in the parameters after the optimizer step"};
    int64_t part = -1, step = -1;
    for (int64_t p = 0; p < kParts; ++p) {
      const int64_t s = host_state[p].item<int64_t>();
      if (s >= 0 && (step < 0 || s < step)) step = s, part = p;
    }
    SDS_CHECK(step < 0, "step {}: {}; the last good checkpoint is kept at {}", step + 1,
              kWhat[part], kept);
  }

 private:
  at::Tensor first_bad_;  // [parts] long, on the run's device
};

// torch's Adam keeps its state in a map keyed by the parameter's TensorImpl.
class Trainer::AdamAccess : public OptimizerState {
 public:
  explicit AdamAccess(torch::optim::Adam& adam) : adam_(adam) {}

  AdamMoments moments(const at::Tensor& param) override {
    auto it = adam_.state().find(param.unsafeGetTensorImpl());
    if (it == adam_.state().end()) return {};
    auto& st = static_cast<torch::optim::AdamParamState&>(*it->second);
    return {st.exp_avg(), st.exp_avg_sq()};
  }

  void replace(const at::Tensor& old_param, const at::Tensor& new_param,
               const AdamMoments& m) override {
    at::Tensor* slot = nullptr;
    for (auto& group : adam_.param_groups()) {
      for (auto& p : group.params()) {
        if (p.unsafeGetTensorImpl() == old_param.unsafeGetTensorImpl()) slot = &p;
      }
    }
    SDS_CHECK(slot != nullptr, "optimizer: the parameter to replace is not optimised");
    SDS_CHECK(m.exp_avg.defined() == m.exp_avg_sq.defined() &&
                  (!m.exp_avg.defined() || (m.exp_avg.sizes() == new_param.sizes() &&
                                            m.exp_avg_sq.sizes() == new_param.sizes())),
              "optimizer: moments of shape {} for a parameter of shape {}",
              m.exp_avg.defined() ? shape_string(m.exp_avg.sizes()) : "(none)",
              shape_string(new_param.sizes()));
    auto& state = adam_.state();
    auto it = state.find(old_param.unsafeGetTensorImpl());
    std::unique_ptr<torch::optim::OptimizerParamState> next;
    if (it != state.end()) {
      auto& old_state = static_cast<torch::optim::AdamParamState&>(*it->second);
      if (m.exp_avg.defined()) {
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(old_state.step());
        fresh->exp_avg(m.exp_avg);
        fresh->exp_avg_sq(m.exp_avg_sq);
        next = std::move(fresh);
      }
      state.erase(it);
    }
    *slot = new_param;
    if (next) state[new_param.unsafeGetTensorImpl()] = std::move(next);
  }

 private:
  torch::optim::Adam& adam_;
};

Trainer::Trainer(std::shared_ptr<Representation> representation,
                 std::shared_ptr<CameraSampler> sampler, std::shared_ptr<Guidance> guidance,
                 TrainerOptions options)
    : representation_(std::move(representation)),
      sampler_(std::move(sampler)),
      guidance_(std::move(guidance)),
      options_(std::move(options)),
      groups_(training_groups(representation_, sampler_, guidance_)) {
  SDS_CHECK(options_.steps >= 1, "trainer.steps: expected >= 1, got {}", options_.steps);
  SDS_CHECK(options_.checkpoint_every >= 0, "trainer.checkpoint_every: expected >= 0, got {}",
            options_.checkpoint_every);
  SDS_CHECK(options_.log_every >= 1 && options_.check_every >= 1,
            "trainer: expected log_every >= 1 and check_every >= 1, got {} and {}",
            options_.log_every, options_.check_every);
  check_device_usable(options_.device, "trainer.device");
  options_.device = with_index(options_.device);
  // The representation follows the run; the guidance's own parameters were built for it.
  if (representation_->device() != options_.device) {
    representation_->to(options_.device);
    groups_ = TrainingGroups(*representation_, *guidance_);
  }
  for (const auto& g : groups_.groups()) {
    for (const auto& p : g.parameters) {
      SDS_CHECK(p.device() == options_.device,
                "trainer: parameter group \"{}\" lives on {}, the run on {} (build the guidance "
                "with BuildContext::device = the trainer's device)",
                g.name, p.device().str(), options_.device.str());
    }
  }
  watch_ = std::make_unique<NonFiniteWatch>(options_.device);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& g : groups_.groups()) {
    auto opts = std::make_unique<torch::optim::AdamOptions>(g.lr);
    opts->betas({options_.adam_beta1, options_.adam_beta2}).eps(options_.adam_eps);
    groups.emplace_back(g.parameters, std::move(opts));
  }
  optimizer_ = std::make_unique<torch::optim::Adam>(groups, torch::optim::AdamOptions(1e-2));
  adam_access_ = std::make_unique<AdamAccess>(*optimizer_);
}

Trainer::~Trainer() = default;

StepInfo Trainer::step() {
  using Watch = NonFiniteWatch;
  const int64_t i = steps_done_;
  const std::string kept = checkpoint_path().string();
  // On the CPU a check costs no sync, so each part is checked as soon as it exists.
  const bool immediate = options_.device.is_cpu();
  auto record = [&](Watch::Part part, const std::vector<at::Tensor>& tensors) {
    watch_->record(part, tensors, i);
    if (immediate) Watch::throw_if_bad(watch_->state(), kept);
  };
  at::Generator generator = step_generator(options_.seed, i);
  at::Generator device_generator =
      step_device_generator(options_.seed, i, options_.device, generator);
  CameraBatch cameras = sampler_->sample(i, generator);

  optimizer_->zero_grad();
  RenderOptions render_options = options_.render;
  render_options.step = i;
  render_options.generator = generator;
  RenderFunction render = [&](const CameraBatch& c) {
    return representation_->render(c, render_options);
  };
  RenderOutput rendered = render(cameras);
  record(Watch::kRender, {rendered.rgb, rendered.alpha});

  GuidanceOutput out = guidance_step(
      *guidance_, {rendered.rgb, cameras, i, options_.steps, generator, device_generator}, render);
  if (options_.regularisers.any()) {
    GuidanceOutput reg = regularisation(options_.regularisers, rendered, i, options_.steps);
    out.loss = out.loss + reg.loss;
    out.metrics.insert(reg.metrics.begin(), reg.metrics.end());
  }
  record(Watch::kGuidance, {out.loss});

  const std::vector<double> lrs =
      groups_.learning_rates(i, out.lr_scale * options_.lr_scale(i, options_.steps));
  for (size_t k = 0; k < lrs.size(); ++k) {
    static_cast<torch::optim::AdamOptions&>(optimizer_->param_groups()[k].options()).lr(lrs[k]);
  }
  out.loss.backward();
  std::vector<at::Tensor> grads, params;
  for (auto& group : optimizer_->param_groups()) {
    for (auto& p : group.params()) {
      grads.push_back(p.grad());
      params.push_back(p);
    }
  }
  record(Watch::kBackward, grads);
  optimizer_->step();
  record(Watch::kOptimizer, params);

  const int64_t done = i + 1;
  const bool last = done == options_.steps;
  const bool checkpoint = !options_.run_dir.empty() && options_.checkpoint_every > 0 &&
                          (done % options_.checkpoint_every == 0 || last);
  const bool logged = done % options_.log_every == 0 || last;
  StepInfo info;
  info.step = done;
  info.total_steps = options_.steps;
  info.logged = logged;
  info.loss = std::numeric_limits<double>::quiet_NaN();
  if (logged || checkpoint || done % options_.check_every == 0) {
    // One copy back: the checks' state, then (when logged) the loss and the metrics.
    std::vector<at::Tensor> values{watch_->state()};
    if (logged) {
      values.push_back(out.loss);
      for (auto& [name, value] : out.metrics) {
        SDS_CHECK(value.defined() && value.numel() == 1,
                  "step {}: metric \"{}\" must be a one-element tensor", done, name);
        values.push_back(value);
      }
    }
    const at::Tensor host = read_to_host(values);
    Watch::throw_if_bad(host.narrow(0, 0, Watch::kParts).to(at::kLong), kept);
    if (logged) {
      info.loss = host[Watch::kParts].item<double>();
      int64_t k = Watch::kParts + 1;
      for (auto& [name, value] : out.metrics) info.metrics[name] = host[k++].item<double>();
    }
  }
  representation_->after_step(i, *adam_access_);
  steps_done_ = done;
  if (checkpoint) save_checkpoint(checkpoint_path());
  return info;
}

void Trainer::train(const std::function<void(const StepInfo&)>& on_step) {
  while (steps_done_ < options_.steps) {
    StepInfo info = step();
    if (on_step) on_step(info);
  }
}

std::filesystem::path Trainer::checkpoint_path() const {
  return options_.run_dir / "checkpoint" / "latest.pt";
}

void Trainer::save_checkpoint(const std::filesystem::path& path) const {
  torch::serialize::OutputArchive archive;
  for (auto& [key, tensor] : checkpoint_tensors(*representation_, *guidance_)) {
    archive.write(key, tensor.detach().cpu());  // readable on a machine without the device
  }
  torch::serialize::OutputArchive optimizer_archive;
  optimizer_->save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("steps_done", at::tensor(steps_done_, at::kLong));
  archive.write("seed", at::tensor(static_cast<int64_t>(options_.seed), at::kLong));
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, bytes.str());
}

void Trainer::load_checkpoint(const std::filesystem::path& path) {
  SDS_CHECK(std::filesystem::exists(path), "{}: checkpoint not found", path.string());
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string(), options_.device);
  } catch (const c10::Error& e) {
    fail("{}: not a readable sds checkpoint: {}", path.string(), e.what_without_backtrace());
  }
  at::NoGradGuard no_grad;
  // The representation restores itself (its sizes may have changed, e.g. by densification)
  // before the optimiser state that refers to its parameters.
  std::map<std::string, at::Tensor> stored_repr;
  for (auto& [name, tensor] : representation_->named_tensors()) {
    at::Tensor stored;
    SDS_CHECK(archive.try_read("representation." + name, stored),
              "{}: checkpoint has no tensor \"representation.{}\" (written for another "
              "representation?)",
              path.string(), name);
    stored_repr.emplace(name, stored);
  }
  try {
    representation_->restore_tensors(stored_repr, *adam_access_);
  } catch (const Error& e) {
    fail("{}: {}", path.string(), e.what());
  }
  for (auto& [name, tensor] : guidance_->named_tensors()) {
    const std::string key = "guidance." + name;
    at::Tensor stored;
    SDS_CHECK(archive.try_read(key, stored),
              "{}: checkpoint has no tensor \"{}\" (written for another {}?)", path.string(), key,
              key.substr(0, key.find('.')));
    SDS_CHECK(stored.sizes() == tensor.sizes(),
              "{}: tensor \"{}\" has shape {} in the checkpoint, expected {}", path.string(), key,
              shape_string(stored.sizes()), shape_string(tensor.sizes()));
    tensor.copy_(stored);
  }
  torch::serialize::InputArchive optimizer_archive;  // on the run's device (load_from above)
  archive.read("optimizer", optimizer_archive);
  optimizer_->load(optimizer_archive);
  at::Tensor steps, seed;
  archive.read("steps_done", steps);
  archive.read("seed", seed);
  SDS_CHECK(static_cast<uint64_t>(seed.item<int64_t>()) == options_.seed,
            "{}: checkpoint was written with seed {}, this run has seed {}", path.string(),
            seed.item<int64_t>(), options_.seed);
  steps_done_ = steps.item<int64_t>();
}

}  // namespace sds
