// Cameras, camera batches and samplers.
#include "bindings.h"

namespace sds::python {

namespace {

// A Python sampler written by subclassing sds.CameraSampler.
class PyCameraSampler : public CameraSampler, public py::trampoline_self_life_support {
 public:
  CameraBatch sample(int64_t step, at::Generator& generator) const override {
    PYBIND11_OVERRIDE_PURE(CameraBatch, CameraSampler, sample, step, generator);
  }
  int64_t height() const override { PYBIND11_OVERRIDE_PURE(int64_t, CameraSampler, height); }
  int64_t width() const override { PYBIND11_OVERRIDE_PURE(int64_t, CameraSampler, width); }
};

std::string camera_repr(const Camera& c) {
  return fmt::format(
      "Camera(elevation_deg={:.6g}, azimuth_deg={:.6g}, radius={:.6g}, fx={:.6g}, fy={:.6g}, "
      "cx={:.6g}, cy={:.6g}, width={}, height={})",
      c.elevation_deg(), c.azimuth_deg(), c.radius(), c.fx, c.fy, c.cx, c.cy, c.width, c.height);
}

}  // namespace

void bind_camera(py::module_& m) {
  py::classh<Camera>(m, "Camera", DOC_Camera)
      .def(py::init(
               [](const at::Tensor& c2w, double fx, double fy, double cx, double cy, int64_t width,
                  int64_t height) { return Camera::from_c2w(c2w, fx, fy, cx, cy, width, height); }),
           py::arg("c2w"), py::arg("fx"), py::arg("fy"), py::arg("cx"), py::arg("cy"),
           py::arg("width"), py::arg("height"), DOC_Camera_from_c2w)
      .def_static("orbit", &Camera::orbit, py::arg("elevation_deg"), py::arg("azimuth_deg"),
                  py::arg("radius") = 3.0, py::arg("fovy_deg") = 40.0, py::arg("height") = 64,
                  py::arg("width") = 64, DOC_Camera_orbit)
      .def_readonly("fx", &Camera::fx, DOC_Camera_fx)
      .def_readonly("fy", &Camera::fy, DOC_Camera_fx)
      .def_readonly("cx", &Camera::cx, DOC_Camera_cx)
      .def_readonly("cy", &Camera::cy, DOC_Camera_cx)
      .def_readonly("width", &Camera::width)
      .def_readonly("height", &Camera::height)
      .def("c2w", &Camera::c2w, DOC_Camera_c2w)
      .def("viewmat", &Camera::viewmat, DOC_Camera_viewmat)
      .def("K", &Camera::K, DOC_Camera_K)
      .def_property_readonly("position", &Camera::position, DOC_Camera_position)
      .def_property_readonly("direction", &Camera::direction, DOC_Camera_direction)
      .def_property_readonly("radius", &Camera::radius, DOC_Camera_radius)
      .def_property_readonly("elevation_deg", &Camera::elevation_deg, DOC_Camera_elevation_deg)
      .def_property_readonly("azimuth_deg", &Camera::azimuth_deg, DOC_Camera_azimuth_deg)
      .def_property_readonly("fovy_deg", &Camera::fovy_deg, DOC_Camera_fovy_deg)
      .def("resized", &Camera::resized, py::arg("height"), py::arg("width"), DOC_Camera_resized)
      .def("__repr__", &camera_repr);

  py::classh<CameraBatch>(m, "CameraBatch", DOC_CameraBatch)
      .def(py::init<std::vector<Camera>>(), py::arg("cameras"), DOC_CameraBatch_CameraBatch)
      .def_static("from_tensors", &CameraBatch::from_tensors, py::arg("c2w"), py::arg("K"),
                  py::arg("width"), py::arg("height"), DOC_CameraBatch_from_tensors)
      .def("__len__", &CameraBatch::size)
      .def(
          "__getitem__",
          [](const CameraBatch& b, int64_t i) {
            if (i < 0) i += b.size();
            if (i < 0 || i >= b.size()) throw py::index_error("camera index out of range");
            return b[i];
          },
          py::arg("index"))
      .def("__iter__", [](const CameraBatch& b) { return py::iter(py::cast(b.cameras())); })
      .def_property_readonly("height", &CameraBatch::height)
      .def_property_readonly("width", &CameraBatch::width)
      .def_property_readonly("cameras", &CameraBatch::cameras)
      .def("c2w", &CameraBatch::c2w, DOC_CameraBatch_c2w)
      .def("viewmats", &CameraBatch::viewmats, DOC_CameraBatch_viewmats)
      .def("Ks", &CameraBatch::Ks, DOC_CameraBatch_Ks)
      .def("elevation_deg", &CameraBatch::elevation_deg, DOC_CameraBatch_elevation_deg)
      .def("azimuth_deg", &CameraBatch::azimuth_deg, DOC_CameraBatch_elevation_deg)
      .def(
          "rays",
          [](const CameraBatch& b, int64_t supersample, std::optional<at::ScalarType> dtype,
             const py::object& device) {
            Rays r = b.rays(supersample, dtype.value_or(at::kFloat), device_arg(device));
            return py::make_tuple(r.origins, r.directions);
          },
          py::arg("supersample") = 1, py::arg("dtype") = py::none(),
          py::arg("device") = py::none(),
          ("(origins, directions), `[B, H, W, 3]` each.\n\n" + std::string(DOC_CameraBatch_rays))
              .c_str())
      .def("resized", &CameraBatch::resized, py::arg("height"), py::arg("width"),
           DOC_CameraBatch_resized)
      .def("__repr__", [](const CameraBatch& b) {
        return fmt::format("CameraBatch({} cameras, {} x {})", b.size(), b.height(), b.width());
      });
  py::implicitly_convertible<py::list, CameraBatch>();

  py::classh<ViewSectorThresholds>(m, "ViewSectorThresholds", DOC_ViewSectorThresholds)
      .def(py::init([](double front, double back, double overhead) {
             return ViewSectorThresholds{front, back, overhead};
           }),
           py::arg("front_deg") = 45.0, py::arg("back_deg") = 45.0, py::arg("overhead_deg") = 60.0);
  m.def("view_sector", &view_sector, py::arg("azimuth_deg"), py::arg("elevation_deg"),
        py::arg_v("thresholds", ViewSectorThresholds{}, "ViewSectorThresholds()"), DOC_view_sector);

  py::classh<CameraSampler, PyCameraSampler>(m, "CameraSampler", DOC_CameraSampler)
      .def(py::init<>())
      .def(
          "sample",
          [](const CameraSampler& s, int64_t step, std::optional<at::Generator> generator) {
            at::Generator g = generator_or_default(generator);
            py::gil_scoped_release release;
            return s.sample(step, g);
          },
          py::arg("step"), py::arg("generator") = py::none(), DOC_CameraSampler_sample)
      .def_property_readonly("height", &CameraSampler::height, DOC_CameraSampler_height)
      .def_property_readonly("width", &CameraSampler::width, DOC_CameraSampler_height);
  py::classh<OrbitSampler, CameraSampler>(m, "OrbitSampler", DOC_OrbitSampler)
      .def(py::init([](const py::object& config, const py::kwargs& kwargs) {
             return make_as<OrbitSampler, CameraSampler>(
                 part_config(config, kwargs, "camera_sampler", "orbit"), "camera_sampler");
           }),
           py::arg("config") = py::none(),
           ("Built from the keys of a config's \"camera_sampler\" (a dict and/or keyword "
            "arguments).\n\n" +
            std::string(DOC_OrbitSamplerOptions))
               .c_str());
  m.def(
      "make_camera_sampler",
      [](const py::object& config, const py::kwargs& kwargs) -> std::shared_ptr<CameraSampler> {
        return make<CameraSampler>(part_config(config, kwargs, "camera_sampler"), "camera_sampler");
      },
      py::arg("config") = py::none(), "A camera sampler from its config (\"type\" names it).");

  m.def("held_out_views", &held_out_views, py::arg("radius") = 3.0, py::arg("fovy_deg") = 40.0,
        py::arg("height") = 64, py::arg("width") = 64, DOC_held_out_views);
  m.def("grid_views", &grid_views, py::arg("elevations_deg"), py::arg("azimuth_step_deg"),
        py::arg("radius") = 3.0, py::arg("fovy_deg") = 40.0, py::arg("height") = 64,
        py::arg("width") = 64, DOC_grid_views);
  m.def("sphere_views", &sphere_views, py::arg("count"), py::arg("radius") = 3.0,
        py::arg("fovy_deg") = 40.0, py::arg("height") = 64, py::arg("width") = 64,
        DOC_sphere_views);
  m.def("turntable_views", &turntable_views, py::arg("frames"), py::arg("elevation_deg") = 15.0,
        py::arg("radius") = 3.0, py::arg("fovy_deg") = 40.0, py::arg("height") = 64,
        py::arg("width") = 64, DOC_turntable_views);
}

}  // namespace sds::python
