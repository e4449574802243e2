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
  m.def("composite_rays_packed", &composite_rays_packed, py::arg("sigmas"), py::arg("rgbs"),
        py::arg("deltas"), py::arg("ts"), py::arg("ray_offsets"),
        py::call_guard<py::gil_scoped_release>(), DOC_ops_composite_rays_packed);
  py::classh<MarchedSamples>(m, "MarchedSamples", DOC_ops_MarchedSamples)
      .def_readonly("ray_offsets", &MarchedSamples::ray_offsets, DOC_ops_MarchedSamples_ray_offsets)
      .def_readonly("ray_indices", &MarchedSamples::ray_indices, DOC_ops_MarchedSamples_ray_indices)
      .def_readonly("t_starts", &MarchedSamples::t_starts, DOC_ops_MarchedSamples_t_starts)
      .def_readonly("t_ends", &MarchedSamples::t_ends, DOC_ops_MarchedSamples_t_ends);
  m.def(
      "march_rays",
      [](const at::Tensor& origins, const at::Tensor& directions, const at::Tensor& near,
         const at::Tensor& far, const at::Tensor& occupancy, double bound, double step_size,
         const std::optional<at::Tensor>& jitter) {
        return march_rays(origins, directions, near, far, occupancy, bound, step_size,
                          or_undefined(jitter));
      },
      py::arg("origins"), py::arg("directions"), py::arg("near"), py::arg("far"),
      py::arg("occupancy"), py::arg("bound"), py::arg("step_size"), py::arg("jitter") = py::none(),
      py::call_guard<py::gil_scoped_release>(), DOC_ops_march_rays);

  py::classh<HashGridOptions>(m, "HashGridOptions", DOC_ops_HashGridOptions)
      .def(py::init([](int64_t n_levels, int64_t n_features_per_level, int64_t log2_hashmap_size,
                       int64_t base_resolution, double per_level_scale) {
             return HashGridOptions{n_levels, n_features_per_level, log2_hashmap_size,
                                    base_resolution, per_level_scale};
           }),
           py::kw_only(), py::arg("n_levels") = 16, py::arg("n_features_per_level") = 2,
           py::arg("log2_hashmap_size") = 19, py::arg("base_resolution") = 16,
           py::arg("per_level_scale") = 2.0)
      .def_readwrite("n_levels", &HashGridOptions::n_levels, DOC_ops_HashGridOptions_n_levels)
      .def_readwrite("n_features_per_level", &HashGridOptions::n_features_per_level,
                     DOC_ops_HashGridOptions_n_features_per_level)
      .def_readwrite("log2_hashmap_size", &HashGridOptions::log2_hashmap_size,
                     DOC_ops_HashGridOptions_log2_hashmap_size)
      .def_readwrite("base_resolution", &HashGridOptions::base_resolution,
                     DOC_ops_HashGridOptions_base_resolution)
      .def_readwrite("per_level_scale", &HashGridOptions::per_level_scale,
                     DOC_ops_HashGridOptions_per_level_scale);
  py::classh<HashGridLevel>(m, "HashGridLevel", DOC_ops_HashGridLevel)
      .def_readonly("scale", &HashGridLevel::scale, DOC_ops_HashGridLevel_scale)
      .def_readonly("resolution", &HashGridLevel::resolution, DOC_ops_HashGridLevel_resolution)
      .def_readonly("offset", &HashGridLevel::offset, DOC_ops_HashGridLevel_offset)
      .def_readonly("size", &HashGridLevel::size, DOC_ops_HashGridLevel_size)
      .def_readonly("hashed", &HashGridLevel::hashed, DOC_ops_HashGridLevel_hashed);
  py::classh<HashGridLayout>(m, "HashGridLayout", DOC_ops_HashGridLayout)
      .def(py::init(&HashGridLayout::make), py::arg("options"), DOC_ops_HashGridLayout_make)
      .def_readonly("options", &HashGridLayout::options)
      .def_readonly("levels", &HashGridLayout::levels)
      .def_readonly("n_entries", &HashGridLayout::n_entries, DOC_ops_HashGridLayout_n_entries)
      .def_property_readonly("n_params", &HashGridLayout::n_params, DOC_ops_HashGridLayout_n_params)
      .def_property_readonly("n_output_dims", &HashGridLayout::n_output_dims,
                             DOC_ops_HashGridLayout_n_output_dims);
  m.def(
      "hash_grid_init",
      [](const HashGridLayout& layout, const py::handle& device,
         const std::optional<at::Generator>& generator) {
        return hash_grid_init(layout, device_arg(device), generator);
      },
      py::arg("layout"), py::arg("device") = py::none(), py::arg("generator") = py::none(),
      DOC_ops_hash_grid_init);
  m.def("hash_grid_encode", &hash_grid_encode, py::arg("params"), py::arg("points"),
        py::arg("layout"), py::call_guard<py::gil_scoped_release>(), DOC_ops_hash_grid_encode);
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
