// sds.models: the native model ports (UNet, VAE, CLIP text encoder) and their file readers.
#include "bindings.h"

namespace sds::python {

namespace {

std::map<std::string, at::Tensor> named_parameters(const torch::nn::Module& module) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : module.named_parameters()) out.emplace(item.key(), item.value());
  return out;
}

// The torch::nn::Module methods of every model class (torch's own bindings already register
// torch::nn::Module with pybind11, so it cannot be a base class here).
template <class M>
void module_methods(py::classh<M>& c) {
  c.def("named_parameters", [](const M& self) { return named_parameters(self); },
           "The parameters by their checkpoint names (the tensors themselves, not copies).")
      .def(
          "to",
          [](const std::shared_ptr<M>& self, const py::object& device,
             std::optional<at::ScalarType> dtype) {
            const at::Device target = device.is_none()
                                          ? self->parameters().front().device()
                                          : device_arg(device);
            if (dtype) {
              self->to(target, *dtype);
            } else {
              self->to(target);
            }
            return self;
          },
          py::arg("device") = py::none(), py::arg("dtype") = py::none(),
          "Moves (and casts) the parameters in place; returns the module.")
      .def(
          "requires_grad_",
          [](const std::shared_ptr<M>& self, bool on) {
            for (auto& p : self->parameters()) p.requires_grad_(on);
            return self;
          },
          py::arg("requires_grad") = true, "Sets requires_grad of every parameter.")
      .def(
          "num_parameters",
          [](const M& self) {
            int64_t n = 0;
            for (const auto& p : self.parameters()) n += p.numel();
            return n;
          },
          "The number of parameter values.")
      .def(
          "randomize_parameters",
          [](const std::shared_ptr<M>& self, uint64_t seed, double std) {
            randomize_parameters(*self, seed, std);
            return self;
          },
          py::arg("seed"), py::arg("std") = 0.02, DOC_models_randomize_parameters);
}

}  // namespace

void bind_models(py::module_& m) {
  using namespace sds::models;
  m.def("read_safetensors", &read_safetensors, py::arg("path"), DOC_models_read_safetensors);
  m.def("write_safetensors", &write_safetensors, py::arg("path"), py::arg("tensors"),
        py::arg("metadata") = std::map<std::string, std::string>{},
        DOC_models_write_safetensors);

  auto unet2dconditionmodel = py::classh<UNet2DConditionModel>(m, "UNet2DConditionModel",
                                           DOC_models_UNet2DConditionModel)
      .def_static("load", &load_unet, py::arg("folder"), py::arg("variant") = "",
                  DOC_models_load_unet)
      .def_static(
          "from_config",
          [](const py::dict& config) {
            return std::make_shared<UNet2DConditionModel>(
                UNet2DConditionOptions::from_config(model_config(to_json(config, "unet config"))));
          },
          py::arg("config"), DOC_models_UNet2DConditionOptions_from_config)
      .def(
          "__call__",
          [](const UNet2DConditionModel& self, const at::Tensor& sample,
             const at::Tensor& timesteps, const at::Tensor& encoder_hidden_states,
             const std::optional<at::Tensor>& class_labels) {
            return self.forward(sample, timesteps, encoder_hidden_states,
                                class_labels.value_or(at::Tensor()));
          },
          py::arg("sample"), py::arg("timesteps"), py::arg("encoder_hidden_states"),
          py::arg("class_labels") = py::none(), py::call_guard<py::gil_scoped_release>(),
          DOC_models_UNet2DConditionModel_forward)
      .def(
          "add_class_embedding",
          [](UNet2DConditionModel& self, int64_t input_dim,
             const std::optional<at::Generator>& generator) {
            self.add_class_embedding(input_dim, generator_or_default(generator));
          },
          py::arg("input_dim"), py::arg("generator") = py::none(),
          DOC_models_UNet2DConditionModel_add_class_embedding);
  module_methods(unet2dconditionmodel);

  auto autoencoderkl = py::classh<AutoencoderKL>(m, "AutoencoderKL", DOC_models_AutoencoderKL)
      .def_static("load", &load_vae, py::arg("folder"), py::arg("variant") = "",
                  DOC_models_load_vae)
      .def(
          "encode",
          [](const AutoencoderKL& self, const at::Tensor& x) {
            const DiagonalGaussian posterior = self.encode(x);
            return py::make_tuple(posterior.mean, posterior.logvar);
          },
          py::arg("x"), "x [B, C, H, W] in [-1, 1] -> (mean, logvar) of the unscaled latents.")
      .def("decode", &AutoencoderKL::decode, py::arg("z"),
           py::call_guard<py::gil_scoped_release>(), DOC_models_AutoencoderKL_decode)
      .def_property_readonly(
          "scaling_factor", [](const AutoencoderKL& self) { return self.options().scaling_factor; },
          DOC_models_AutoencoderKLOptions_scaling_factor);
  module_methods(autoencoderkl);

  auto cliptextmodel = py::classh<CLIPTextModel>(m, "CLIPTextModel", DOC_models_CLIPTextModel)
      .def_static("load", &load_clip_text_model, py::arg("folder"), py::arg("variant") = "",
                  DOC_models_load_clip_text_model)
      .def("__call__", &CLIPTextModel::forward, py::arg("ids"), py::arg("skip_layers") = 0,
           py::call_guard<py::gil_scoped_release>(), DOC_models_CLIPTextModel_forward);
  module_methods(cliptextmodel);

  py::classh<CLIPTokenizerOptions>(m, "CLIPTokenizerOptions", DOC_models_CLIPTokenizerOptions)
      .def(py::init<>())
      .def_readwrite("bos_token", &CLIPTokenizerOptions::bos_token)
      .def_readwrite("eos_token", &CLIPTokenizerOptions::eos_token)
      .def_readwrite("pad_token", &CLIPTokenizerOptions::pad_token)
      .def_readwrite("unk_token", &CLIPTokenizerOptions::unk_token)
      .def_readwrite("model_max_length", &CLIPTokenizerOptions::model_max_length);
  py::classh<CLIPTokenizer>(m, "CLIPTokenizer", DOC_models_CLIPTokenizer)
      .def(py::init<std::unordered_map<std::string, int64_t>,
                    std::vector<std::pair<std::string, std::string>>, CLIPTokenizerOptions,
                    std::vector<std::string>>(),
           py::arg("vocab"), py::arg("merges"), py::arg_v("options", CLIPTokenizerOptions{}, "CLIPTokenizerOptions()"),
           py::arg("added_tokens") = std::vector<std::string>{},
           DOC_models_CLIPTokenizer_CLIPTokenizer)
      .def_static("load", &CLIPTokenizer::load, py::arg("folder"),
                  py::arg("fallback_max_length") = 77, DOC_models_CLIPTokenizer_load)
      .def("tokenize", &CLIPTokenizer::tokenize, py::arg("text"), DOC_models_CLIPTokenizer_tokenize)
      .def("encode", &CLIPTokenizer::encode, py::arg("prompts"),
           py::call_guard<py::gil_scoped_release>(), DOC_models_CLIPTokenizer_encode)
      .def_property_readonly("bos_id", &CLIPTokenizer::bos_id)
      .def_property_readonly("eos_id", &CLIPTokenizer::eos_id)
      .def_property_readonly("pad_id", &CLIPTokenizer::pad_id)
      .def_property_readonly("model_max_length", &CLIPTokenizer::model_max_length)
      .def_property_readonly("vocab_size", &CLIPTokenizer::vocab_size);
}

}  // namespace sds::python
