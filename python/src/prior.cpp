// Diffusion priors: the interface (subclassable in Python), the noise schedule, the exact prior.
#include <mutex>

#include "bindings.h"

namespace sds::python {

namespace {

// A prior written in Python. Every call into Python takes the GIL (the C++ objectives call it
// with the GIL released); a Python exception propagates to the caller as itself.
class PyPrior : public Prior, public py::trampoline_self_life_support {
 public:
  const NoiseSchedule& schedule() const override {
    // Read once: the C++ side keeps references to the schedule.
    std::call_once(schedule_once_, [this] {
      py::gil_scoped_acquire gil;
      py::function override = py::get_override(static_cast<const Prior*>(this), "schedule");
      if (!override) {
        schedule_ = NoiseSchedule::scaled_linear();
        return;
      }
      // Cast from an lvalue: an rvalue cast would move the schedule out of the object Python
      // returned (often another prior's own schedule).
      py::object returned = override();
      schedule_ = returned.cast<NoiseSchedule>();
    });
    return *schedule_;
  }
  at::Tensor encode(const at::Tensor& rgb) const override {
    PYBIND11_OVERRIDE(at::Tensor, Prior, encode, rgb);
  }
  at::Tensor decode(const at::Tensor& x) const override {
    PYBIND11_OVERRIDE(at::Tensor, Prior, decode, x);
  }
  at::Tensor predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                           const Conditioning& conditioning) override {
    PYBIND11_OVERRIDE_PURE(at::Tensor, Prior, predict_noise, x_t, t, conditioning);
  }
  std::vector<at::Tensor> trainable_parameters() override {
    PYBIND11_OVERRIDE(std::vector<at::Tensor>, Prior, trainable_parameters);
  }

 private:
  mutable std::once_flag schedule_once_;
  mutable std::optional<NoiseSchedule> schedule_;
};

// A registered Python prior: the registry hands out unique_ptrs, Python owns the object.
class SharedPrior : public Prior {
 public:
  explicit SharedPrior(std::shared_ptr<Prior> prior) : prior_(std::move(prior)) {}
  const NoiseSchedule& schedule() const override { return prior_->schedule(); }
  at::Tensor encode(const at::Tensor& rgb) const override { return prior_->encode(rgb); }
  at::Tensor decode(const at::Tensor& x) const override { return prior_->decode(x); }
  at::Tensor predict_noise(const at::Tensor& x_t, const at::Tensor& t,
                           const Conditioning& conditioning) override {
    return prior_->predict_noise(x_t, t, conditioning);
  }
  std::vector<at::Tensor> trainable_parameters() override { return prior_->trainable_parameters(); }
  std::shared_ptr<Prior> make_particle_model(const ParticlePriorOptions& options) override {
    return prior_->make_particle_model(options);
  }
  std::shared_ptr<PersonalisablePrior> make_personalised(
      const PersonalisationOptions& options) override {
    return prior_->make_personalised(options);
  }
  bool conditions_on_reference() const override { return prior_->conditions_on_reference(); }
  std::optional<GroundTruthImages> known_views(const std::string& prompt,
                                               const CameraBatch& cameras) const override {
    return prior_->known_views(prompt, cameras);
  }

 private:
  std::shared_ptr<Prior> prior_;
};

py::dict images(const GroundTruthImages& g) {
  py::dict out;
  out["rgb"] = g.rgb;
  out["alpha"] = g.alpha;
  out["depth"] = g.depth;
  return out;
}

}  // namespace

void bind_prior(py::module_& m) {
  py::classh<NoiseSchedule>(m, "NoiseSchedule", DOC_NoiseSchedule)
      .def_static("scaled_linear", &NoiseSchedule::scaled_linear, py::arg("steps") = 1000,
                  py::arg("beta_start") = 0.00085, py::arg("beta_end") = 0.012,
                  DOC_NoiseSchedule_scaled_linear)
      .def_property_readonly("num_steps", &NoiseSchedule::num_steps, DOC_NoiseSchedule_num_steps)
      .def_property_readonly("alphas_cumprod", &NoiseSchedule::alphas_cumprod,
                             DOC_NoiseSchedule_alphas_cumprod)
      .def("alpha_bar", py::overload_cast<const at::Tensor&>(&NoiseSchedule::alpha_bar, py::const_),
           py::arg("t"), DOC_NoiseSchedule_alpha_bar)
      .def("add_noise", &NoiseSchedule::add_noise, py::arg("x0"), py::arg("eps"), py::arg("t"),
           DOC_NoiseSchedule_add_noise)
      .def("x0_from_eps", &NoiseSchedule::x0_from_eps, py::arg("x_t"), py::arg("eps"), py::arg("t"),
           DOC_NoiseSchedule_x0_from_eps);

  py::classh<ReferenceView>(m, "ReferenceView", DOC_ReferenceView)
      .def(py::init([](const at::Tensor& rgb, const Camera& camera) {
             return ReferenceView{rgb, camera};
           }),
           py::arg("rgb"), py::arg("camera"))
      .def_readwrite("rgb", &ReferenceView::rgb, DOC_ReferenceView_rgb)
      .def_readwrite("camera", &ReferenceView::camera);

  py::classh<Conditioning>(m, "Conditioning", DOC_Conditioning)
      .def(py::init([](std::vector<std::string> prompts, std::optional<CameraBatch> cameras,
                       std::optional<at::Tensor> drop_camera,
                       std::optional<ReferenceView> reference) {
             Conditioning c;
             c.prompts = std::move(prompts);
             c.cameras = std::move(cameras);
             if (drop_camera) c.drop_camera = *drop_camera;
             c.reference = std::move(reference);
             return c;
           }),
           py::arg("prompts"), py::arg("cameras") = py::none(), py::arg("drop_camera") = py::none(),
           py::arg("reference") = py::none())
      .def_readwrite("prompts", &Conditioning::prompts, DOC_Conditioning_prompts)
      .def_readwrite("cameras", &Conditioning::cameras, DOC_Conditioning_cameras)
      .def_readwrite("drop_camera", &Conditioning::drop_camera, DOC_Conditioning_drop_camera)
      .def_readwrite("reference", &Conditioning::reference, DOC_Conditioning_reference)
      .def("prompt", &Conditioning::prompt, py::arg("b"), DOC_Conditioning_prompt)
      .def("unconditional", &Conditioning::unconditional, DOC_Conditioning_unconditional);

  py::classh<Prior, PyPrior> prior(
      m, "Prior",
      (std::string(DOC_Prior) + "\n\nSubclass it in Python and implement predict_noise (and "
                                "optionally schedule, read once, encode, decode and "
                                "trainable_parameters); every C++ objective then calls it.")
          .c_str());
  // Registered before the methods that return it, so that their signatures name it.
  py::classh<PersonalisablePrior, Prior> personalisable(m, "PersonalisablePrior",
                                                        DOC_PersonalisablePrior);
  prior.def(py::init<>())
      .def("schedule", &Prior::schedule, py::return_value_policy::reference_internal,
           DOC_Prior_schedule)
      .def("encode", &Prior::encode, py::arg("rgb"), DOC_Prior_encode)
      .def("decode", &Prior::decode, py::arg("x"), DOC_Prior_decode)
      .def("predict_noise", &Prior::predict_noise, py::arg("x_t"), py::arg("t"),
           py::arg("conditioning"), py::call_guard<py::gil_scoped_release>(),
           DOC_Prior_predict_noise)
      .def("trainable_parameters", &Prior::trainable_parameters, DOC_Prior_trainable_parameters)
      .def(
          "make_personalised",
          [](Prior& self, int64_t lora_rank, double lora_alpha, uint64_t seed) {
            PersonalisationOptions o;
            o.lora_rank = lora_rank;
            o.lora_alpha = lora_alpha;
            o.seed = seed;
            return self.make_personalised(o);
          },
          py::arg("lora_rank") = 4, py::arg("lora_alpha") = 4.0, py::arg("seed") = 0,
          DOC_Prior_make_personalised)
      .def("conditions_on_reference", &Prior::conditions_on_reference,
           DOC_Prior_conditions_on_reference);

  personalisable.def("set_images", &PersonalisablePrior::set_images, py::arg("rgb"),
                     py::arg("cameras"), py::arg("prompt"),
                     py::call_guard<py::gil_scoped_release>(), DOC_PersonalisablePrior_set_images);

  py::classh<ExactPrior, PersonalisablePrior>(m, "ExactPrior", DOC_ExactPrior)
      .def(py::init([](const py::object& config, const py::kwargs& kwargs) {
             return make_as<ExactPrior, Prior>(part_config(config, kwargs, "prior", "exact"),
                                               "prior");
           }),
           py::arg("config") = py::none(),
           ("Built from the keys of a config's \"prior\" (a dict and/or keyword arguments).\n\n" +
            std::string(DOC_ExactPriorOptions))
               .c_str())
      .def("posterior_mean", &ExactPrior::posterior_mean, py::arg("x_t"), py::arg("t"),
           py::arg("conditioning"), py::call_guard<py::gil_scoped_release>(),
           DOC_ExactPrior_posterior_mean)
      .def("log_density", &ExactPrior::log_density, py::arg("x_t"), py::arg("t"),
           py::arg("conditioning"), py::call_guard<py::gil_scoped_release>(),
           DOC_ExactPrior_log_density)
      .def(
          "ground_truth",
          [](const ExactPrior& p, const std::string& prompt, const CameraBatch& cameras,
             int64_t member) {
            GroundTruthImages g;
            {
              py::gil_scoped_release release;
              g = p.ground_truth(prompt, cameras, member);
            }
            return images(g);
          },
          py::arg("prompt"), py::arg("cameras"), py::arg("member") = 0,
          ("A dict of rgb, alpha and depth.\n\n" + std::string(DOC_ExactPrior_ground_truth))
              .c_str())
      .def("parse_prompt", &ExactPrior::parse_prompt, py::arg("prompt"),
           DOC_ExactPrior_parse_prompt)
      .def_property_readonly(
          "prompts", [](const ExactPrior& p) { return p.scene().prompts(); }, DOC_Scene_prompts)
      .def_property_readonly(
          "scene", [](const ExactPrior& p) { return from_json(p.scene().to_json()); },
          "The scene in the file format (docs/exact-prior.md).")
      .def("set_personal_components", &ExactPrior::set_personal_components, py::arg("rgb"),
           py::arg("cameras"), py::arg("prompt"), py::call_guard<py::gil_scoped_release>(),
           DOC_ExactPrior_set_personal_components)
      .def("clear_personal_components", &ExactPrior::clear_personal_components,
           DOC_ExactPrior_clear_personal_components);

  py::classh<StableDiffusionPrior, Prior>(m, "StableDiffusionPrior", DOC_StableDiffusionPrior)
      .def("text_embeddings", &StableDiffusionPrior::text_embeddings, py::arg("prompts"),
           py::call_guard<py::gil_scoped_release>(), DOC_StableDiffusionPrior_text_embeddings)
      .def(
          "make_particle_model",
          [](StableDiffusionPrior& self, int64_t lora_rank, double lora_alpha,
             bool camera_condition, uint64_t seed) {
            ParticlePriorOptions o;
            o.lora_rank = lora_rank;
            o.lora_alpha = lora_alpha;
            o.camera_condition = camera_condition;
            o.seed = seed;
            return self.make_particle_model(o);
          },
          py::arg("lora_rank") = 4, py::arg("lora_alpha") = 4.0, py::arg("camera_condition") = true,
          py::arg("seed") = 0, DOC_StableDiffusionPrior_make_particle_model)
      .def_property_readonly("prediction_type", &StableDiffusionPrior::prediction_type)
      .def_property_readonly("device", &StableDiffusionPrior::device)
      .def_property_readonly("dtype", &StableDiffusionPrior::dtype);

  m.def(
      "make_prior",
      [](const py::object& config, const py::object& device,
         const py::kwargs& kwargs) -> std::shared_ptr<Prior> {
        return make<Prior>(part_config(config, kwargs, "prior"), "prior",
                           Prior::BuildContext{device_arg(device)});
      },
      py::arg("config") = py::none(), py::kw_only(), py::arg("device") = py::none(),
      "A prior from its config (\"type\" names it), with its models on `device` (\"cpu\", "
      "\"cuda\", ...; None: the CPU).");
  // The registry is a C++ static that outlives the interpreter: the Python factories it holds
  // are dropped at interpreter exit (atexit), while Python can still release them.
  static auto* factories = new std::vector<std::shared_ptr<py::object>>();
  py::module_::import("atexit").attr("register")(py::cpp_function([] {
    for (auto& f : *factories) *f = py::object();
  }));
  m.def(
      "register_prior",
      [](const std::string& name, py::function factory) {
        auto held = std::make_shared<py::object>(std::move(factory));
        factories->push_back(held);
        // The factory gets the config dict (without "type") and returns an sds.Prior.
        Registry<Prior>::instance().add(
            name, [held, name](ConfigReader& c, const Prior::BuildContext&) {
              py::gil_scoped_acquire gil;
              SDS_CHECK(static_cast<bool>(*held),
                        "prior \"{}\": registered by a Python interpreter that has exited", name);
              py::dict config;
              for (const auto& key : c.keys()) {
                if (key != "type") config[py::str(key)] = from_json(c.raw(key));
              }
              py::object made = (*held)(config);
              auto prior = made.cast<std::shared_ptr<Prior>>();
              SDS_CHECK(prior != nullptr, "prior \"{}\": the factory returned None", name);
              return std::unique_ptr<Prior>(new SharedPrior(prior));
            });
      },
      py::arg("name"), py::arg("factory"),
      "Registers a Python prior under `name` for configs ({\"type\": name, ...}): "
      "factory(config_dict) returns an sds.Prior.");
}

}  // namespace sds::python
