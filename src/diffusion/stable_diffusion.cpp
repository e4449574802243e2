#include "sds/diffusion/stable_diffusion.h"

#include <ATen/ops/upsample_bilinear2d.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>
#include <map>
#include <mutex>

#include "sds/core/checks.h"
#include "sds/core/device.h"
#include "sds/core/error.h"
#include "sds/core/rng.h"
#include "sds/diffusion/particle_prior.h"
#include "sds/models/clip_text.h"
#include "sds/models/clip_tokenizer.h"
#include "sds/models/diffusers_folder.h"
#include "sds/models/unet.h"
#include "sds/models/vae.h"

namespace sds {

namespace fs = std::filesystem;

namespace {

at::ScalarType parse_dtype(const std::string& name, const at::Device& device, const char* key) {
  if (name == "auto") return device.is_cuda() ? at::kHalf : at::kFloat;
  if (name == "float32") return at::kFloat;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16") {
    SDS_CHECK(device.is_cuda(), "stable_diffusion prior: {} \"float16\" needs a CUDA device (the "
              "CPU's half-precision convolutions are not supported); use float32 or bfloat16",
              key);
    return at::kHalf;
  }
  fail("stable_diffusion prior: {} must be auto, float32, float16 or bfloat16, got \"{}\"", key,
       name);
}

void freeze(torch::nn::Module& module) {
  for (auto& p : module.parameters()) p.requires_grad_(false);
}

NoiseSchedule schedule_from_config(const Json& config, const std::string& where) {
  const auto steps = config.value("num_train_timesteps", int64_t{1000});
  const double beta_start = config.value("beta_start", 0.0001);
  const double beta_end = config.value("beta_end", 0.02);
  SDS_CHECK(steps >= 2, "{}: num_train_timesteps must be >= 2, got {}", where, steps);
  if (config.contains("trained_betas") && !config["trained_betas"].is_null()) {
    const auto betas = config["trained_betas"].get<std::vector<double>>();
    SDS_CHECK(static_cast<int64_t>(betas.size()) == steps, "{}: {} trained_betas for {} steps",
              where, betas.size(), steps);
    return NoiseSchedule::from_betas(at::tensor(betas, at::kDouble));
  }
  const std::string type = config.value("beta_schedule", std::string("linear"));
  if (type == "scaled_linear") return NoiseSchedule::scaled_linear(steps, beta_start, beta_end);
  SDS_CHECK(type == "linear",
            "{}: beta_schedule \"{}\" is not supported (supported: scaled_linear, linear, "
            "trained_betas)",
            where, type);
  return NoiseSchedule::from_betas(at::linspace(beta_start, beta_end, steps, at::kDouble));
}

// Enables one named adapter set (none for "") on the given layers for one call and restores
// every adapter's state after it: one UNet serves the frozen prior, VSD's particle model and
// BSD's personalised prior.
class ActiveAdapter {
 public:
  ActiveAdapter(const std::vector<std::shared_ptr<models::Linear>>& layers,
                const std::string& name)
      : layers_(layers) {
    for (const auto& layer : layers_) {
      for (auto& adapter : layer->adapters()) {
        saved_.push_back(adapter.enabled);
        adapter.enabled = adapter.name == name;
      }
    }
  }
  ~ActiveAdapter() {
    size_t k = 0;
    for (const auto& layer : layers_) {
      for (auto& adapter : layer->adapters()) adapter.enabled = saved_[k++];
    }
  }
  ActiveAdapter(const ActiveAdapter&) = delete;
  ActiveAdapter& operator=(const ActiveAdapter&) = delete;

 private:
  const std::vector<std::shared_ptr<models::Linear>>& layers_;
  std::vector<bool> saved_;
};

constexpr const char* kParticleAdapter = "particle";
constexpr const char* kPersonalAdapter = "personal";

}  // namespace

NoiseSchedule read_noise_schedule(const fs::path& file) {
  return schedule_from_config(models::read_model_config(file), file.string());
}

struct StableDiffusionPrior::Core {
  StableDiffusionOptions options;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat, vae_dtype = at::kFloat;
  std::string prediction_type;
  std::unique_ptr<NoiseSchedule> schedule;
  std::shared_ptr<models::UNet2DConditionModel> unet;
  std::shared_ptr<models::AutoencoderKL> vae;
  std::shared_ptr<models::CLIPTextModel> text_encoder;
  std::shared_ptr<models::CLIPTokenizer> tokenizer;
  std::vector<std::shared_ptr<models::Linear>> lora_layers;  // the layers that carry adapters
  std::mutex embeddings_mutex;
  std::map<std::string, at::Tensor> embeddings;

  at::Tensor text_embeddings(const std::vector<std::string>& prompts) {
    std::lock_guard<std::mutex> lock(embeddings_mutex);
    std::vector<std::string> missing;
    for (const auto& p : prompts) {
      if (!embeddings.count(p) && std::find(missing.begin(), missing.end(), p) == missing.end()) {
        missing.push_back(p);
      }
    }
    if (!missing.empty()) {
      torch::NoGradGuard no_grad;
      const at::Tensor ids = tokenizer->encode(missing).to(device);
      const at::Tensor hidden = text_encoder->forward(ids, options.clip_skip);
      for (size_t i = 0; i < missing.size(); ++i) embeddings.emplace(missing[i], hidden[i]);
    }
    std::vector<at::Tensor> rows;
    rows.reserve(prompts.size());
    for (const auto& p : prompts) rows.push_back(embeddings.at(p));
    return at::stack(rows);
  }

  at::Tensor prompts_embeddings(const Conditioning& conditioning, int64_t batch) {
    std::vector<std::string> prompts;
    prompts.reserve(batch);
    for (int64_t b = 0; b < batch; ++b) prompts.push_back(conditioning.prompt(b));
    return text_embeddings(prompts);
  }

  at::Tensor encode(const at::Tensor& rgb) const {
    const auto& config = vae->options();
    const bool latents = options.rgb_as_latents;
    const int64_t channels = latents ? config.latent_channels : config.in_channels;
    check_shape(rgb, "stable_diffusion encode: rgb", {-1, channels, -1, -1},
                latents ? "[B, latent_channels, H, W]" : "[B, 3, H, W]");
    check_floating(rgb, "stable_diffusion encode: rgb");
    check_device(rgb, "stable_diffusion encode: rgb", device);
    const int64_t size =
        latents ? options.resolution / vae->downscale_factor() : options.resolution;
    at::Tensor x = rgb;
    if (x.size(2) != size || x.size(3) != size) {
      x = at::upsample_bilinear2d(x, {size, size}, /*align_corners=*/false);
    }
    x = 2.0 * x - 1.0;
    if (latents) return x;
    const models::DiagonalGaussian posterior = vae->encode(x.to(vae_dtype));
    return ((posterior.mean - config.shift_factor) * config.scaling_factor).to(rgb.scalar_type());
  }

  at::Tensor decode(const at::Tensor& latents) const {
    const auto& config = vae->options();
    check_shape(latents, "stable_diffusion decode: latents", {-1, config.latent_channels, -1, -1},
                "[B, latent_channels, h, w]");
    if (options.rgb_as_latents) return ((latents + 1.0) / 2.0).clamp(0, 1).to(at::kFloat);
    const at::Tensor z = latents / config.scaling_factor + config.shift_factor;
    return ((vae->decode(z.to(vae_dtype)) + 1.0) / 2.0).clamp(0, 1).to(at::kFloat);
  }

  void check_inputs(const at::Tensor& x_t, const at::Tensor& t, const Conditioning& conditioning,
                    const char* what) const {
    check_shape(x_t, fmt::format("{} x_t", what), {-1, unet->options().in_channels, -1, -1},
                "[B, 4, h, w]");
    check_device(x_t, fmt::format("{} x_t", what), device);
    check_shape(t, fmt::format("{} t", what), {x_t.size(0)}, "[B]");
    SDS_CHECK(!conditioning.reference,
              "stable_diffusion prior: a reference view was given, but this text-to-image prior "
              "cannot condition on one (use a reference-image prior)");
  }

  // Adds the adapter set `name` to every attention projection of the UNet; a second set of the
  // same name is an error naming `what` it serves.
  void add_adapters(const std::string& name, const char* what, int64_t rank, double alpha,
                    at::Generator& generator) {
    SDS_CHECK(lora_layers.empty() || !lora_layers.front()->has_lora(name),
              "stable_diffusion prior: it already has a {} (its UNet carries one set of {} "
              "adapters)",
              what, name);
    const auto layers = models::find_linear_layers(*unet, {"to_q", "to_k", "to_v", "to_out.0"});
    SDS_CHECK(!layers.empty(), "stable_diffusion prior: the UNet has no attention projections");
    const bool first = lora_layers.empty();
    for (const auto& [layer_name, layer] : layers) {
      layer->add_lora(name, rank, alpha, generator);
      if (first) lora_layers.push_back(layer);
    }
  }

  std::vector<at::Tensor> adapter_parameters(const std::string& name) const {
    std::vector<at::Tensor> out;
    for (const auto& layer : lora_layers) {
      const models::LoraAdapter& a = layer->lora(name);
      out.push_back(a.A->weight);
      out.push_back(a.B->weight);
    }
    return out;
  }

  // epsilon in x_t's dtype from the UNet's raw output (epsilon, or v).
  at::Tensor epsilon(const at::Tensor& x_t, const at::Tensor& t, const at::Tensor& context,
                     const at::Tensor& added = {}) const {
    const at::Tensor steps = t.to(device);
    const at::Tensor out = unet->forward(x_t.to(dtype), steps, context, {}, added).to(at::kFloat);
    if (prediction_type == "epsilon") return out.to(x_t.scalar_type());
    const at::Tensor alpha_bar = schedule->broadcast_alpha_bar(steps, out);
    return (alpha_bar.sqrt() * out + (1.0 - alpha_bar).sqrt() * x_t.to(at::kFloat))
        .to(x_t.scalar_type());
  }
};

namespace {

// eps_phi on a Stable Diffusion prior: its UNet with the LoRA adapters on, plus the camera
// embedding; differentiable w.r.t. both. It shares the prior's core, not the prior.
class StableDiffusionParticle : public Prior {
 public:
  StableDiffusionParticle(std::shared_ptr<StableDiffusionPrior::Core> core,
                          std::shared_ptr<models::TimestepEmbedding> camera)
      : core_(std::move(core)), camera_(std::move(camera)) {}

  const NoiseSchedule& schedule() const override { return *core_->schedule; }
  at::Tensor encode(const at::Tensor& rgb) const override { return core_->encode(rgb); }
  at::Tensor decode(const at::Tensor& x) const override { return core_->decode(x); }

  at::Tensor predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                           const Conditioning& conditioning) override {
    const int64_t batch = x_t.size(0);
    core_->check_inputs(x_t, t, conditioning, "stable_diffusion particle predict_noise");
    const at::Tensor context = core_->prompts_embeddings(conditioning, batch);
    at::Tensor added;
    if (camera_) added = camera_->forward(camera_condition(conditioning, batch, core_->device));
    ActiveAdapter particle(core_->lora_layers, kParticleAdapter);
    return core_->epsilon(x_t, t, context, added);
  }

  std::vector<at::Tensor> trainable_parameters() override {
    std::vector<at::Tensor> out = core_->adapter_parameters(kParticleAdapter);
    if (camera_) {
      for (const auto& p : camera_->parameters()) out.push_back(p);
    }
    return out;
  }

 private:
  std::shared_ptr<StableDiffusionPrior::Core> core_;
  std::shared_ptr<models::TimestepEmbedding> camera_;
};

// BSD's personalised prior on a Stable Diffusion prior: its UNet with the "personal" adapters
// on (DreamBooth-LoRA), differentiable w.r.t. them; fitted by its caller.
class StableDiffusionPersonal : public PersonalisablePrior {
 public:
  explicit StableDiffusionPersonal(std::shared_ptr<StableDiffusionPrior::Core> core)
      : core_(std::move(core)) {}

  const NoiseSchedule& schedule() const override { return *core_->schedule; }
  at::Tensor encode(const at::Tensor& rgb) const override { return core_->encode(rgb); }
  at::Tensor decode(const at::Tensor& x) const override { return core_->decode(x); }

  at::Tensor predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                           const Conditioning& conditioning) override {
    core_->check_inputs(x_t, t, conditioning, "stable_diffusion personalised predict_noise");
    const at::Tensor context = core_->prompts_embeddings(conditioning, x_t.size(0));
    ActiveAdapter personal(core_->lora_layers, kPersonalAdapter);
    return core_->epsilon(x_t, t, context);
  }

  std::vector<at::Tensor> trainable_parameters() override {
    return core_->adapter_parameters(kPersonalAdapter);
  }

  void set_images(const at::Tensor& rgb, const CameraBatch& cameras,
                  const std::string&) override {
    check_shape(rgb, "stable_diffusion personalised images", {-1, 3, -1, -1}, "[N, 3, H, W]");
    SDS_CHECK(cameras.size() == rgb.size(0),
              "stable_diffusion personalised prior: expected one camera per image ({}), got {}",
              rgb.size(0), cameras.size());
  }

 private:
  std::shared_ptr<StableDiffusionPrior::Core> core_;
};

}  // namespace

StableDiffusionPrior::StableDiffusionPrior(StableDiffusionOptions options, at::Device device)
    : core_(std::make_shared<Core>()) {
  Core& c = *core_;
  c.options = std::move(options);
  c.device = device;
  const StableDiffusionOptions& o = c.options;
  const fs::path root(o.path);
  SDS_CHECK(!o.path.empty(), "stable_diffusion prior: \"path\" must name a diffusers "
            "folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/)");
  SDS_CHECK(fs::is_directory(root), "stable_diffusion prior: {} is not a folder", root.string());
  for (const char* part : {"unet", "vae", "text_encoder", "tokenizer", "scheduler"}) {
    SDS_CHECK(fs::is_directory(root / part), "stable_diffusion prior: {} has no {}/ folder",
              root.string(), part);
  }
  if (fs::exists(root / "model_index.json")) {
    const Json index = read_json_file(root / "model_index.json");
    const std::string pipeline = index.value("_class_name", std::string());
    SDS_CHECK(pipeline.empty() || pipeline == "StableDiffusionPipeline",
              "stable_diffusion prior: {} is a {}; supported: StableDiffusionPipeline (SD 1.x / "
              "2.x)",
              root.string(), pipeline);
  }
  check_device_usable(c.device);
  c.dtype = parse_dtype(o.dtype, c.device, "dtype");
  c.vae_dtype = o.vae_dtype == "auto" ? c.dtype : parse_dtype(o.vae_dtype, c.device, "vae_dtype");
  SDS_CHECK(o.clip_skip >= 0, "stable_diffusion prior: clip_skip must be >= 0, got {}",
            o.clip_skip);

  const fs::path scheduler_file = root / "scheduler" / "scheduler_config.json";
  const Json scheduler = models::read_model_config(scheduler_file);
  c.schedule = std::make_unique<NoiseSchedule>(
      schedule_from_config(scheduler, scheduler_file.string()));
  c.prediction_type = o.prediction_type;
  if (c.prediction_type.empty()) {
    c.prediction_type = scheduler.value("prediction_type", std::string("epsilon"));
  }
  SDS_CHECK(c.prediction_type == "epsilon" || c.prediction_type == "v_prediction",
            "stable_diffusion prior: prediction_type must be epsilon or v_prediction, got \"{}\"",
            c.prediction_type);

  c.unet = models::load_unet(root / "unet", o.variant);
  c.vae = models::load_vae(root / "vae", o.variant);
  c.text_encoder = models::load_clip_text_model(root / "text_encoder", o.variant);
  const auto& text = c.text_encoder->options();
  c.tokenizer = models::CLIPTokenizer::load(root / "tokenizer", text.max_position_embeddings);
  SDS_CHECK(c.tokenizer->model_max_length() <= text.max_position_embeddings,
            "stable_diffusion prior: the tokenizer's length {} exceeds the text encoder's {} "
            "positions",
            c.tokenizer->model_max_length(), text.max_position_embeddings);
  SDS_CHECK(text.hidden_size == c.unet->options().cross_attention_dim.front(),
            "stable_diffusion prior: the text encoder's width {} is not the UNet's "
            "cross_attention_dim {}",
            text.hidden_size, c.unet->options().cross_attention_dim.front());
  SDS_CHECK(o.clip_skip < text.num_hidden_layers,
            "stable_diffusion prior: clip_skip {} leaves no text-encoder layer (it has {})",
            o.clip_skip, text.num_hidden_layers);
  const int64_t factor = c.vae->downscale_factor();
  SDS_CHECK(o.resolution >= factor && o.resolution % factor == 0 && o.resolution <= 4096,
            "stable_diffusion prior: resolution must be a multiple of the VAE's factor {} in "
            "[{}, 4096], got {}",
            factor, factor, o.resolution);
  SDS_CHECK(c.unet->options().in_channels == c.vae->options().latent_channels,
            "stable_diffusion prior: the UNet takes {} channels but the VAE makes {}",
            c.unet->options().in_channels, c.vae->options().latent_channels);
  freeze(*c.unet);
  freeze(*c.vae);
  freeze(*c.text_encoder);
  c.unet->to(c.device, c.dtype);
  c.text_encoder->to(c.device, c.dtype);
  c.vae->to(c.device, c.vae_dtype);
}

StableDiffusionPrior::~StableDiffusionPrior() = default;

std::unique_ptr<Prior> StableDiffusionPrior::from_config(ConfigReader& c,
                                                         const BuildContext& context) {
  StableDiffusionOptions o;
  o.path = c.require<std::string>("path");
  o.variant = c.get("variant", o.variant);
  o.dtype = c.get("dtype", o.dtype);
  o.vae_dtype = c.get("vae_dtype", o.vae_dtype);
  o.resolution = c.get("resolution", o.resolution);
  o.rgb_as_latents = c.get("rgb_as_latents", o.rgb_as_latents);
  o.clip_skip = c.get("clip_skip", o.clip_skip);
  o.prediction_type = c.get("prediction_type", o.prediction_type);
  return std::make_unique<StableDiffusionPrior>(std::move(o), context.device);
}

const NoiseSchedule& StableDiffusionPrior::schedule() const { return *core_->schedule; }
const StableDiffusionOptions& StableDiffusionPrior::options() const { return core_->options; }
const std::string& StableDiffusionPrior::prediction_type() const { return core_->prediction_type; }
at::Device StableDiffusionPrior::device() const { return core_->device; }
at::ScalarType StableDiffusionPrior::dtype() const { return core_->dtype; }
models::UNet2DConditionModel& StableDiffusionPrior::unet() { return *core_->unet; }
models::AutoencoderKL& StableDiffusionPrior::vae() { return *core_->vae; }
models::CLIPTextModel& StableDiffusionPrior::text_encoder() { return *core_->text_encoder; }
const models::CLIPTokenizer& StableDiffusionPrior::tokenizer() const { return *core_->tokenizer; }

at::Tensor StableDiffusionPrior::encode(const at::Tensor& rgb) const { return core_->encode(rgb); }

at::Tensor StableDiffusionPrior::decode(const at::Tensor& latents) const {
  return core_->decode(latents);
}

at::Tensor StableDiffusionPrior::text_embeddings(const std::vector<std::string>& prompts) {
  return core_->text_embeddings(prompts);
}

at::Tensor StableDiffusionPrior::predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                                               const Conditioning& conditioning) {
  Core& c = *core_;
  c.check_inputs(x_t, t, conditioning, "stable_diffusion predict_noise:");
  const at::Tensor context = c.prompts_embeddings(conditioning, x_t.size(0));
  torch::NoGradGuard no_grad;
  ActiveAdapter frozen(c.lora_layers, "");
  return c.epsilon(x_t, t, context);
}

std::shared_ptr<Prior> StableDiffusionPrior::make_particle_model(
    const ParticlePriorOptions& options) {
  Core& c = *core_;
  at::Generator generator = make_generator(options.seed, at::kCPU);
  c.add_adapters(kParticleAdapter, "particle model", options.lora_rank, options.lora_alpha,
                 generator);
  std::shared_ptr<models::TimestepEmbedding> camera;
  if (options.camera_condition) {
    camera = std::make_shared<models::TimestepEmbedding>(16, c.unet->options().time_embed_dim());
    models::reset_linear(*camera->linear_1, generator);
    models::reset_linear(*camera->linear_2, generator);
    camera->to(c.device, at::kFloat);
  }
  return std::make_shared<StableDiffusionParticle>(core_, std::move(camera));
}

std::shared_ptr<PersonalisablePrior> StableDiffusionPrior::make_personalised(
    const PersonalisationOptions& options) {
  at::Generator generator = make_generator(options.seed, at::kCPU);
  core_->add_adapters(kPersonalAdapter, "personalised copy", options.lora_rank,
                      options.lora_alpha, generator);
  return std::make_shared<StableDiffusionPersonal>(core_);
}

}  // namespace sds
