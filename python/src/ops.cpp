// sds.ops: the fused differentiable ops. Tensors cross without copies (torch's own casters).
#include "bindings.h"

namespace sds::python {

namespace {

ops::ProjectionOptions projection(double eps2d, double near_plane, double far_plane,
                                  bool antialiased) {
  ops::ProjectionOptions o;
  o.eps2d = eps2d;
  o.near_plane = near_plane;
  o.far_plane = far_plane;
  o.antialiased = antialiased;
  return o;
}

at::Tensor or_undefined(const std::optional<at::Tensor>& t) { return t ? *t : at::Tensor(); }

}  // namespace

void bind_ops(py::module_& m) {
  using namespace sds::ops;
  py::classh<CompositeRaysOutput>(m, "CompositeRaysOutput", DOC_ops_CompositeRaysOutput)
      .def_readonly("rgb", &CompositeRaysOutput::rgb, DOC_ops_CompositeRaysOutput_rgb)
      .def_readonly("alpha", &CompositeRaysOutput::alpha, DOC_ops_CompositeRaysOutput_alpha)
      .def_readonly("depth", &CompositeRaysOutput::depth, DOC_ops_CompositeRaysOutput_depth)
      .def_readonly("weights", &CompositeRaysOutput::weights, DOC_ops_CompositeRaysOutput_weights);
  m.def("composite_rays", &composite_rays, py::arg("sigmas"), py::arg("rgbs"), py::arg("deltas"),
        py::arg("ts"), py::call_guard<py::gil_scoped_release>(), DOC_ops_composite_rays);
  m.def("trilinear_sample", &trilinear_sample, py::arg("grid"), py::arg("points"),
        py::call_guard<py::gil_scoped_release>(), DOC_ops_trilinear_sample);
  m.def("spherical_harmonics", &spherical_harmonics, py::arg("degree"), py::arg("dirs"),
        py::arg("coeffs"), py::call_guard<py::gil_scoped_release>(), DOC_ops_spherical_harmonics);

  py::classh<ProjectedGaussians>(m, "ProjectedGaussians", DOC_ops_ProjectedGaussians)
      .def_readonly("radii", &ProjectedGaussians::radii, DOC_ops_ProjectedGaussians_radii)
      .def_readonly("means2d", &ProjectedGaussians::means2d, DOC_ops_ProjectedGaussians_means2d)
      .def_readonly("depths", &ProjectedGaussians::depths, DOC_ops_ProjectedGaussians_depths)
      .def_readonly("conics", &ProjectedGaussians::conics, DOC_ops_ProjectedGaussians_conics)
      .def_readonly("compensations", &ProjectedGaussians::compensations,
                    DOC_ops_ProjectedGaussians_compensations);
  m.def(
      "project_gaussians",
      [](const at::Tensor& means, const at::Tensor& quats, const at::Tensor& scales,
         const std::optional<at::Tensor>& opacities, const at::Tensor& viewmats,
         const at::Tensor& Ks, int64_t width, int64_t height, double eps2d, double near_plane,
         double far_plane, bool antialiased) {
        return project_gaussians(means, quats, scales, or_undefined(opacities), viewmats, Ks, width,
                                 height, projection(eps2d, near_plane, far_plane, antialiased));
      },
      py::arg("means"), py::arg("quats"), py::arg("scales"), py::arg("opacities"),
      py::arg("viewmats"), py::arg("Ks"), py::arg("width"), py::arg("height"), py::kw_only(),
      py::arg("eps2d") = 0.3, py::arg("near_plane") = 0.01, py::arg("far_plane") = 1e10,
      py::arg("antialiased") = false, py::call_guard<py::gil_scoped_release>(),
      DOC_ops_project_gaussians);

  py::classh<TileIntersections>(m, "TileIntersections", DOC_ops_TileIntersections)
      .def_readonly("isect_ids", &TileIntersections::isect_ids, DOC_ops_TileIntersections_isect_ids)
      .def_readonly("flatten_ids", &TileIntersections::flatten_ids,
                    DOC_ops_TileIntersections_flatten_ids)
      .def_readonly("offsets", &TileIntersections::offsets, DOC_ops_TileIntersections_offsets)
      .def_readonly("tile_size", &TileIntersections::tile_size)
      .def_readonly("tiles_x", &TileIntersections::tiles_x, DOC_ops_TileIntersections_tiles_x)
      .def_readonly("tiles_y", &TileIntersections::tiles_y, DOC_ops_TileIntersections_tiles_y);
  m.def("intersect_tiles", &intersect_tiles, py::arg("means2d"), py::arg("radii"),
        py::arg("depths"), py::arg("width"), py::arg("height"), py::arg("tile_size") = 16,
        py::call_guard<py::gil_scoped_release>(), DOC_ops_intersect_tiles);
  py::classh<RasterizedPixels>(m, "RasterizedPixels", DOC_ops_RasterizedPixels)
      .def_readonly("colors", &RasterizedPixels::colors, DOC_ops_RasterizedPixels_colors)
      .def_readonly("alphas", &RasterizedPixels::alphas, DOC_ops_RasterizedPixels_alphas);
  m.def(
      "rasterize_to_pixels",
      [](const at::Tensor& means2d, const at::Tensor& conics, const at::Tensor& colors,
         const at::Tensor& opacities, const std::optional<at::Tensor>& backgrounds, int64_t width,
         int64_t height, const TileIntersections& tiles) {
        return rasterize_to_pixels(means2d, conics, colors, opacities, or_undefined(backgrounds),
                                   width, height, tiles);
      },
      py::arg("means2d"), py::arg("conics"), py::arg("colors"), py::arg("opacities"),
      py::arg("backgrounds"), py::arg("width"), py::arg("height"), py::arg("tiles"),
      py::call_guard<py::gil_scoped_release>(), DOC_ops_rasterize_to_pixels);

  py::classh<RasterizeMeta>(m, "RasterizeMeta", DOC_ops_RasterizeMeta)
      .def_readonly("radii", &RasterizeMeta::radii, DOC_ops_RasterizeMeta_radii)
      .def_readonly("means2d", &RasterizeMeta::means2d, DOC_ops_RasterizeMeta_means2d)
      .def_readonly("depths", &RasterizeMeta::depths, DOC_ops_RasterizeMeta_depths)
      .def_readonly("conics", &RasterizeMeta::conics, DOC_ops_RasterizeMeta_conics)
      .def_readonly("compensations", &RasterizeMeta::compensations,
                    DOC_ops_RasterizeMeta_compensations)
      .def_readonly("tiles", &RasterizeMeta::tiles)
      .def_readonly("width", &RasterizeMeta::width)
      .def_readonly("height", &RasterizeMeta::height);
  py::classh<RasterizeResult>(m, "RasterizeResult", DOC_ops_RasterizeResult)
      .def_readonly("rgb", &RasterizeResult::rgb, DOC_ops_RasterizeResult_rgb)
      .def_readonly("alpha", &RasterizeResult::alpha, DOC_ops_RasterizeResult_alpha)
      .def_readonly("depth", &RasterizeResult::depth, DOC_ops_RasterizeResult_depth)
      .def_readonly("meta", &RasterizeResult::meta)
      .def("__iter__", [](const RasterizeResult& r) {
        // rgb, alpha, depth, meta = sds.ops.rasterize(...)
        return py::iter(py::make_tuple(r.rgb, r.alpha, r.depth, py::cast(r.meta)));
      });
  m.def(
      "rasterize",
      [](const at::Tensor& means, const at::Tensor& quats, const at::Tensor& scales,
         const at::Tensor& opacities, const at::Tensor& colors, const at::Tensor& viewmats,
         const at::Tensor& Ks, int64_t width, int64_t height,
         const std::optional<at::Tensor>& backgrounds, int64_t sh_degree, double eps2d,
         double near_plane, double far_plane, bool antialiased, int64_t tile_size) {
        RasterizeOptions o;
        o.sh_degree = sh_degree;
        o.projection = projection(eps2d, near_plane, far_plane, antialiased);
        o.tile_size = tile_size;
        return rasterize(means, quats, scales, opacities, colors, viewmats, Ks, width, height,
                         or_undefined(backgrounds), o);
      },
      py::arg("means"), py::arg("quats"), py::arg("scales"), py::arg("opacities"),
      py::arg("colors"), py::arg("viewmats"), py::arg("Ks"), py::arg("width"), py::arg("height"),
      py::arg("backgrounds") = py::none(), py::kw_only(), py::arg("sh_degree") = 0,
      py::arg("eps2d") = 0.3, py::arg("near_plane") = 0.01, py::arg("far_plane") = 1e10,
      py::arg("antialiased") = false, py::arg("tile_size") = 16,
      py::call_guard<py::gil_scoped_release>(), DOC_ops_rasterize);
  m.def("camera_centers", &camera_centers, py::arg("viewmats"), DOC_ops_camera_centers);
}

}  // namespace sds::python
