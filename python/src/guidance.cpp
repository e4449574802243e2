// Objectives, timestep schedules and weightings.
#include "bindings.h"

namespace sds::python {

namespace {

// An objective written in Python.
class PyGuidance : public Guidance, public py::trampoline_self_life_support {
 public:
  GuidanceOutput compute(const GuidanceInput& input) override {
    PYBIND11_OVERRIDE_PURE(GuidanceOutput, Guidance, compute, input);
  }
  std::vector<ParameterGroup> parameter_groups() override {
    PYBIND11_OVERRIDE(std::vector<ParameterGroup>, Guidance, parameter_groups);
  }
};

GuidanceOutput call_guidance(Guidance& g, const at::Tensor& rgb, const CameraBatch& cameras,
                             int64_t step, int64_t total_steps,
                             const std::optional<at::Generator>& generator,
                             const std::optional<at::Generator>& device_generator) {
  GuidanceInput input{rgb, cameras, step, total_steps, generator_or_default(generator),
                      device_generator.value_or(at::Generator())};
  py::gil_scoped_release release;
  return g.compute(input);
}

}  // namespace

void bind_guidance(py::module_& m) {
  py::classh<ParameterGroup>(m, "ParameterGroup", DOC_ParameterGroup)
      .def(py::init([](std::string name, std::vector<at::Tensor> parameters, double lr) {
             return ParameterGroup(std::move(name), std::move(parameters), lr);
           }),
           py::arg("name"), py::arg("parameters"), py::arg("lr"))
      .def_readonly("name", &ParameterGroup::name)
      .def_readonly("parameters", &ParameterGroup::parameters)
      .def_readonly("lr", &ParameterGroup::lr)
      .def(
          "lr_at",
          [](const ParameterGroup& g, int64_t step) { return g.lr_at ? g.lr_at(step) : g.lr; },
          py::arg("step"), DOC_ParameterGroup_lr_at)
      .def("__repr__", [](const ParameterGroup& g) {
        return fmt::format("ParameterGroup(\"{}\", {} tensors, lr={})", g.name, g.parameters.size(),
                           g.lr);
      });

  py::classh<GuidanceOutput>(m, "GuidanceOutput", DOC_GuidanceOutput)
      .def(py::init([](const at::Tensor& loss, const py::object& metrics, double lr_scale) {
             return GuidanceOutput{loss, metrics_arg(metrics), lr_scale};
           }),
           py::arg("loss"), py::arg("metrics") = py::none(), py::arg("lr_scale") = 1.0,
           "`metrics`: a dict of floats or one-element tensors (kept on their device).")
      .def_readwrite("loss", &GuidanceOutput::loss, DOC_GuidanceOutput_loss)
      .def_property(
          "metrics", [](const GuidanceOutput& o) { return o.metrics; },
          [](GuidanceOutput& o, const py::object& metrics) { o.metrics = metrics_arg(metrics); },
          DOC_Metrics)
      .def("logged_metrics", [](const GuidanceOutput& o) { return log_metrics(o.metrics); },
           DOC_log_metrics)
      .def_readwrite("lr_scale", &GuidanceOutput::lr_scale, DOC_GuidanceOutput_lr_scale);

  py::classh<GuidanceInput>(m, "GuidanceInput", DOC_GuidanceInput)
      .def_readonly("rgb", &GuidanceInput::rgb, DOC_GuidanceInput_rgb)
      .def_readonly("cameras", &GuidanceInput::cameras, DOC_GuidanceInput_cameras)
      .def_readonly("step", &GuidanceInput::step, DOC_GuidanceInput_step)
      .def_readonly("total_steps", &GuidanceInput::total_steps, DOC_GuidanceInput_total_steps)
      .def_readonly("generator", &GuidanceInput::generator, DOC_GuidanceInput_generator)
      .def_property_readonly(
          "device_generator",
          [](const GuidanceInput& in) -> std::optional<at::Generator> {
            if (!in.device_generator.defined()) return std::nullopt;
            return in.device_generator;
          },
          DOC_GuidanceInput_device_generator);

  py::classh<Guidance, PyGuidance>(m, "Guidance", DOC_Guidance)
      .def(py::init<>())
      .def("__call__", &call_guidance, py::arg("rgb"), py::arg("cameras"), py::arg("step") = 0,
           py::arg("total_steps") = 1, py::arg("generator") = py::none(),
           py::arg("device_generator") = py::none(),
           ("The loss for rendered views rgb `[B, 3, H, W]` of `cameras` at `step` of "
            "`total_steps`; timesteps from `generator` (torch's default CPU generator when "
            "None), noise from `device_generator` (`generator` when None).\n\n" +
            std::string(DOC_Guidance_compute))
               .c_str())
      .def("compute", &Guidance::compute, py::arg("input"),
           py::call_guard<py::gil_scoped_release>(), DOC_Guidance_compute)
      .def("parameter_groups", &Guidance::parameter_groups, DOC_Guidance_parameter_groups)
      .def(
          "named_tensors",
          [](Guidance& g) {
            py::dict out;
            for (auto& [k, v] : g.named_tensors()) out[py::str(k)] = v;
            return out;
          },
          DOC_Guidance_named_tensors)
      .def("reference_camera", &Guidance::reference_camera, py::arg("height"), py::arg("width"),
           DOC_Guidance_reference_camera)
      .def("reference_loss", &Guidance::reference_loss, py::arg("rgb"), py::arg("alpha"),
           py::arg("depth"), py::arg("step"), py::arg("total_steps"),
           py::call_guard<py::gil_scoped_release>(), DOC_Guidance_reference_loss);

  py::classh<DistillationGuidance, Guidance>(m, "DistillationGuidance", DOC_DistillationGuidance)
      .def(
          "gradient",
          [](DistillationGuidance& g, const at::Tensor& z, const at::Tensor& t,
             const at::Tensor& noise,
             const CameraBatch& cameras) { return g.gradient(z, t, noise, cameras); },
          py::arg("z"), py::arg("t"), py::arg("noise"), py::arg("cameras"),
          py::call_guard<py::gil_scoped_release>(), DOC_DistillationGuidance_gradient)
      .def_property_readonly("prompt", &DistillationGuidance::prompt)
      .def_property_readonly(
          "prior", [](DistillationGuidance& g) { return &g.prior(); },
          py::return_value_policy::reference_internal);
  py::classh<Sds, DistillationGuidance>(m, "Sds", DOC_Sds);
  py::classh<Csd, DistillationGuidance>(m, "Csd", DOC_Csd);
  py::classh<Nfsd, DistillationGuidance>(m, "Nfsd", DOC_Nfsd);
  py::classh<Ism, DistillationGuidance>(m, "Ism", DOC_Ism)
      .def_static("ddim_step", &Ism::ddim_step, py::arg("schedule"), py::arg("x"), py::arg("eps"),
                  py::arg("from_t"), py::arg("to_t"), DOC_Ism_ddim_step);
  py::classh<Vsd, DistillationGuidance>(m, "Vsd", DOC_Vsd);
  py::classh<Bsd, Vsd>(m, "Bsd", DOC_Bsd)
      .def("cached_images", &Bsd::cached_images, DOC_Bsd_cached_images);
  py::classh<Magic123, Guidance>(m, "Magic123", DOC_Magic123);

  m.def(
      "make_guidance",
      [](const py::object& config, std::shared_ptr<Prior> prior, std::string prompt,
         const py::object& device, const py::kwargs& kwargs) -> std::shared_ptr<Guidance> {
        SDS_CHECK(prior != nullptr, "make_guidance: expected a prior, got None");
        return make<Guidance>(
            part_config(config, kwargs, "guidance"), "guidance",
            Guidance::BuildContext{std::move(prior), std::move(prompt), device_arg(device)});
      },
      py::arg("config"), py::kw_only(), py::arg("prior"), py::arg("prompt"),
      py::arg("device") = py::none(),
      "An objective from its config (the keys of a config's \"guidance\"; \"type\" names it: "
      "sds, csd, nfsd, ism, vsd, bsd, magic123), on `prior` for `prompt`. docs/guidance.md lists "
      "every key.");

  py::classh<TimestepSchedule>(m, "TimestepSchedule", DOC_TimestepSchedule)
      .def(
          "sample",
          [](const TimestepSchedule& s, int64_t step, int64_t total_steps, int64_t batch,
             const std::optional<at::Generator>& generator) {
            at::Generator g = generator_or_default(generator);
            return s.sample(step, total_steps, batch, g);
          },
          py::arg("step"), py::arg("total_steps"), py::arg("batch"),
          py::arg("generator") = py::none(), DOC_TimestepSchedule_sample)
      .def("range", &TimestepSchedule::range, py::arg("step"), py::arg("total_steps"),
           DOC_TimestepSchedule_range);
  m.def(
      "make_timestep_schedule",
      [](const py::object& config, const py::kwargs& kwargs) -> std::shared_ptr<TimestepSchedule> {
        return make<TimestepSchedule>(part_config(config, kwargs, "timesteps"), "timesteps");
      },
      py::arg("config") = py::none(),
      "A timestep schedule from its config (\"type\": uniform, annealed, dreamtime, "
      "sqrt_anneal, linear_anneal, warmup).");

  py::classh<Weighting>(m, "Weighting", DOC_Weighting)
      .def("__call__", &Weighting::operator(), py::arg("alpha_bar"), DOC_Weighting_call);
  m.def(
      "make_weighting",
      [](const py::object& config, const py::kwargs& kwargs) -> std::shared_ptr<Weighting> {
        return make<Weighting>(part_config(config, kwargs, "weighting"), "weighting");
      },
      py::arg("config") = py::none(),
      "A weighting w(t) from its config (\"type\": sds, uniform, fantasia3d, noise_to_signal).");
}

}  // namespace sds::python
