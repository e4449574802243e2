"""
Differentiable fused ops (CPU and CUDA)
"""
from __future__ import annotations
import collections.abc
import torch
import typing
__all__: list[str] = ['CompositeRaysOutput', 'HashGridLayout', 'HashGridLevel', 'HashGridOptions', 'MarchedSamples', 'ProjectedGaussians', 'RasterizeMeta', 'RasterizeResult', 'RasterizedPixels', 'TileIntersections', 'camera_centers', 'composite_rays', 'composite_rays_packed', 'hash_grid_encode', 'hash_grid_init', 'intersect_tiles', 'march_rays', 'project_gaussians', 'rasterize', 'rasterize_to_pixels', 'spherical_harmonics', 'trilinear_sample']
class CompositeRaysOutput:
    """
    The composited image quantities of R rays with S samples each.
    """
    @property
    def alpha(self) -> torch.Tensor:
        """
        [R] accumulated opacity, sum_i w_i (1 - final transmittance)
        """
    @property
    def depth(self) -> torch.Tensor:
        """
        [R] expected depth, sum_i w_i t_i (not normalised by alpha)
        """
    @property
    def rgb(self) -> torch.Tensor:
        """
        [R, 3] accumulated colour, sum_i w_i c_i
        """
    @property
    def weights(self) -> torch.Tensor:
        """
        [R, S] per-sample weights w_i ([N] for packed samples)
        """
class MarchedSamples:
    """
    Packed samples of R rays: ray r owns samples ray_offsets[r] .. ray_offsets[r + 1] - 1, near to
    far; sample i is the interval [t_starts[i], t_ends[i]] of ray ray_indices[i].
    """
    @property
    def ray_indices(self) -> torch.Tensor:
        """
        [N] int64
        """
    @property
    def ray_offsets(self) -> torch.Tensor:
        """
        [R + 1] int64, from 0 to N
        """
    @property
    def t_ends(self) -> torch.Tensor:
        """
        [N]
        """
    @property
    def t_starts(self) -> torch.Tensor:
        """
        [N]
        """
class HashGridOptions:
    """
    The encoding's settings, with tiny-cuda-nn's "HashGrid" JSON names and defaults.
    """
    def __init__(self, *, n_levels: typing.SupportsInt = 16, n_features_per_level: typing.SupportsInt = 2, log2_hashmap_size: typing.SupportsInt = 19, base_resolution: typing.SupportsInt = 16, per_level_scale: typing.SupportsFloat = 2.0) -> None:
        ...
    @property
    def base_resolution(self) -> int:
        """
        N0: vertices per axis of the coarsest level, >= 2
        """
    @base_resolution.setter
    def base_resolution(self, arg0: typing.SupportsInt) -> None:
        ...
    @property
    def log2_hashmap_size(self) -> int:
        """
        log2 T: entries of a hashed level, 4..24
        """
    @log2_hashmap_size.setter
    def log2_hashmap_size(self, arg0: typing.SupportsInt) -> None:
        ...
    @property
    def n_features_per_level(self) -> int:
        """
        F: features per level, 1, 2, 4 or 8
        """
    @n_features_per_level.setter
    def n_features_per_level(self, arg0: typing.SupportsInt) -> None:
        ...
    @property
    def n_levels(self) -> int:
        """
        L: grid levels, 1..32
        """
    @n_levels.setter
    def n_levels(self, arg0: typing.SupportsInt) -> None:
        ...
    @property
    def per_level_scale(self) -> float:
        """
        b: resolution growth from one level to the next, >= 1
        """
    @per_level_scale.setter
    def per_level_scale(self, arg0: typing.SupportsFloat) -> None:
        ...
class HashGridLevel:
    """
    One level of the grid, as tiny-cuda-nn lays it out.
    """
    @property
    def hashed(self) -> bool:
        """
        resolution^3 > size: vertices are hashed, else indexed densely
        """
    @property
    def offset(self) -> int:
        """
        first entry (row of the parameters) of the level
        """
    @property
    def resolution(self) -> int:
        """
        ceil(scale) + 1 vertices per axis
        """
    @property
    def scale(self) -> float:
        """
        2^(l log2 b) N0 - 1, computed in float32 as tiny-cuda-nn does
        """
    @property
    def size(self) -> int:
        """
        entries: min(next multiple of 8 of resolution^3, T)
        """
class HashGridLayout:
    """
    The levels of a hash grid and the size of its parameters.
    """
    def __init__(self, options: HashGridOptions) -> None:
        """
        Validates `options` (an sds::Error names the bad field) and lays the levels out.
        """
    @property
    def levels(self) -> list[HashGridLevel]:
        ...
    @property
    def n_entries(self) -> int:
        """
        rows of the parameter tensor [n_entries, F]
        """
    @property
    def n_output_dims(self) -> int:
        """
        Width of the encoding: L F.
        """
    @property
    def n_params(self) -> int:
        """
        Parameters in all: n_entries F.
        """
    @property
    def options(self) -> HashGridOptions:
        ...
class ProjectedGaussians:
    """
    The screen-space Gaussians of C cameras x N Gaussians. A culled pair has radii 0 and zeros
    elsewhere.
    """
    @property
    def compensations(self) -> torch.Tensor:
        """
        [C, N] opacity factor (1 unless anti-aliased)
        """
    @property
    def conics(self) -> torch.Tensor:
        """
        [C, N, 3] inverse 2D covariance (a, b, c) = (P00, P01, P11)
        """
    @property
    def depths(self) -> torch.Tensor:
        """
        [C, N] camera-space z of the mean
        """
    @property
    def means2d(self) -> torch.Tensor:
        """
        [C, N, 2] pixel position of the projected mean
        """
    @property
    def radii(self) -> torch.Tensor:
        """
        [C, N, 2] int32 half-extent of the screen box in pixels
        """
class TileIntersections:
    """
    The (tile, Gaussian) intersections of C images, sorted by image, then tile, then depth.
    """
    @property
    def flatten_ids(self) -> torch.Tensor:
        """
        [M] int32 index c * N + i of the pair behind each intersection
        """
    @property
    def isect_ids(self) -> torch.Tensor:
        """
        [M] int64 sort keys: image << (32 + tile_bits) | tile << 32 | float bits of the depth
        (a positive float's bits order like the float), ascending.
        """
    @property
    def offsets(self) -> torch.Tensor:
        """
        [C, tiles_y, tiles_x] int32 start of each tile's run in the sorted list; a run ends where
        the next tile's starts (the last at M).
        """
    @property
    def tile_size(self) -> int:
        ...
    @property
    def tiles_x(self) -> int:
        """
        ceil(width / tile_size)
        """
    @property
    def tiles_y(self) -> int:
        """
        ceil(height / tile_size)
        """
class RasterizedPixels:
    """
    Composited images of C cameras.
    """
    @property
    def alphas(self) -> torch.Tensor:
        """
        [C, H, W, 1] 1 - T_final
        """
    @property
    def colors(self) -> torch.Tensor:
        """
        [C, H, W, D] sum_i c_i alpha_i T_i + T_final background
        """
class RasterizeMeta:
    """
    The intermediates a densification strategy consumes.
    """
    @property
    def compensations(self) -> torch.Tensor:
        """
        [C, N]
        """
    @property
    def conics(self) -> torch.Tensor:
        """
        [C, N, 3]
        """
    @property
    def depths(self) -> torch.Tensor:
        """
        [C, N] camera-space z
        """
    @property
    def height(self) -> int:
        ...
    @property
    def means2d(self) -> torch.Tensor:
        """
        [C, N, 2] pixel means; call retain_grad() before backward for the screen-space gradients
        """
    @property
    def radii(self) -> torch.Tensor:
        """
        [C, N, 2] int32 screen half-extents, 0 = not visible
        """
    @property
    def tiles(self) -> TileIntersections:
        ...
    @property
    def width(self) -> int:
        ...
class RasterizeResult:
    """
    Rendered images of C cameras, channels last.
    """
    def __iter__(self) -> collections.abc.Iterator:
        ...
    @property
    def alpha(self) -> torch.Tensor:
        """
        [C, H, W, 1] accumulated opacity
        """
    @property
    def depth(self) -> torch.Tensor:
        """
        [C, H, W, 1] expected camera-space z: sum w_i z_i / alpha (0 if empty)
        """
    @property
    def meta(self) -> RasterizeMeta:
        ...
    @property
    def rgb(self) -> torch.Tensor:
        """
        [C, H, W, D] colour over the background
        """
def camera_centers(viewmats: torch.Tensor) -> torch.Tensor:
    """
    Camera centres [C, 3] of world-to-camera matrices [C, 4, 4]: -R^T t.
    """
def composite_rays(sigmas: torch.Tensor, rgbs: torch.Tensor, deltas: torch.Tensor, ts: torch.Tensor) -> CompositeRaysOutput:
    """
    Composites dense samples front to back along each ray.
    
    sigmas [R, S] densities (>= 0, not checked), rgbs [R, S, 3] sample colours, deltas [R, S]
    interval lengths, ts [R, S] sample distances along the ray; samples ordered near to far.
    tau_i = sigma_i delta_i,  alpha_i = 1 - exp(-tau_i),  T_i = exp(-sum_{j<i} tau_j),
    w_i = T_i alpha_i,  rgb = sum_i w_i c_i,  alpha = sum_i w_i,  depth = sum_i w_i t_i.
    Exact: no early ray termination. Differentiable w.r.t. sigmas and rgbs (every output may
    carry a gradient; first order only); deltas and ts are treated as constants. All inputs share
    one floating dtype (float32 or float64) and one device (CPU, or CUDA in a build with CUDA);
    anything else is an sds::Error.
    """
def composite_rays_packed(sigmas: torch.Tensor, rgbs: torch.Tensor, deltas: torch.Tensor, ts: torch.Tensor, ray_offsets: torch.Tensor) -> CompositeRaysOutput:
    """
    composite_rays over packed (ragged) samples: ray r owns samples ray_offsets[r] ..
    ray_offsets[r + 1] - 1 of the flat arrays sigmas [N], rgbs [N, 3], deltas [N], ts [N], in
    near-to-far order; ray_offsets [R + 1] int64, non-decreasing from 0 to N (a ray may own none:
    alpha 0). The same formulas, kernels and gradients as composite_rays; weights are [N], and
    their gradient is passed on (so other per-sample quantities, normals for example, can be
    composited with them by index_add and still train the densities). Offsets are checked on the
    CPU, and on a device with debug checks on.
    """
def hash_grid_encode(params: torch.Tensor, points: torch.Tensor, layout: HashGridLayout) -> torch.Tensor:
    """
    Encodes points `[N, 3]` of the unit cube [0, 1]^3: `[N, L F]`, level-major (channel l F + f).
    
    At level l a coordinate u maps to p = u scale_l + 0.5; the vertex g = floor(p) and its 7
    neighbours are looked up (dense levels: g_x + g_y res + g_z res^2; hashed levels:
    g_x XOR 2654435761 g_y XOR 805459861 g_z in uint32; both modulo the level's size) and
    interpolated trilinearly. Parameter row offset_l + index holds the level's F features
    (tiny-cuda-nn's param[(offset_l + index) F + f]), so a tiny-cuda-nn grid's parameters load
    unchanged. Points outside the cube wrap around like tiny-cuda-nn's and stay memory-safe for
    any value; they are not checked, for speed.
    
    Differentiable w.r.t. both params and points, to second order: the gradient w.r.t. points
    (analytic normals) is itself differentiable w.r.t. params, points and the incoming gradient
    (the mixed second derivatives of the trilinear weights; the pure ones are zero). params
    `[n_entries, F]` float32 or float64, points of the same dtype and device (CPU, or CUDA in a
    build with CUDA); anything else is an sds::Error. Deterministic on the CPU for any thread
    count; CUDA accumulates gradients with atomics.
    """
def hash_grid_init(layout: HashGridLayout, device: typing.Any = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """
    Fresh parameters `[n_entries, F]` uniform in [-1e-4, 1e-4] (tiny-cuda-nn's initialisation),
    float32 on `device`, drawn from `generator` (the default CPU generator when null).
    """
def intersect_tiles(means2d: torch.Tensor, radii: torch.Tensor, depths: torch.Tensor, width: typing.SupportsInt, height: typing.SupportsInt, tile_size: typing.SupportsInt = 16) -> TileIntersections:
    """
    Bins projected Gaussians (means2d [C, N, 2] pixels, radii [C, N, 2] int32 with 0 = culled,
    depths [C, N]) into tiles of a width x height image. A Gaussian touches tiles
    floor((mean - r) / tile) .. ceil((mean + r) / tile) - 1 on each axis, clamped to the image.
    Ties in depth keep the order of the Gaussians. Not differentiable. Same device for all inputs;
    the result is identical on CPU and CUDA.
    """
def march_rays(origins: torch.Tensor, directions: torch.Tensor, near: torch.Tensor, far: torch.Tensor, occupancy: torch.Tensor, bound: typing.SupportsFloat, step_size: typing.SupportsFloat, jitter: torch.Tensor | None = None) -> MarchedSamples:
    """
    Marches rays origins [R, 3], directions [R, 3] (unit length, not checked) from near [R] to
    far [R] in steps of `step_size` through the cube [-bound, bound]^3 divided into the cells of
    `occupancy` [X, Y, Z] (bool, indexed [x, y, z]). The candidate intervals of ray r are
    [t_k, t_k + step_size] with t_k = near_r + (k + jitter_r) step_size, k = 0, 1, ..., while the
    midpoint t_k + step_size / 2 is before far_r; exactly those whose midpoint lies in an occupied
    cell are kept. Empty cells are skipped in one jump (to the first midpoint past the cell), so
    the cost follows the occupied length, not the ray's. jitter [R] in [0, 1) (stratified
    sampling; undefined: 0) is not checked. Not differentiable (the intervals are constants of the
    render).
    
    Floating inputs share one dtype (float32 or float64) and device (CPU, or CUDA in a build with
    CUDA); bad shapes, dtypes, devices, a step or bound that is not positive, or more samples than
    fit in memory are an sds::Error. Deterministic; one host sync (the sample count).
    """
def project_gaussians(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor | None, viewmats: torch.Tensor, Ks: torch.Tensor, width: typing.SupportsInt, height: typing.SupportsInt, *, eps2d: typing.SupportsFloat = 0.3, near_plane: typing.SupportsFloat = 0.01, far_plane: typing.SupportsFloat = 10000000000.0, antialiased: bool = False) -> ProjectedGaussians:
    """
    Projects Gaussians (means [N, 3], quats [N, 4] as (w, x, y, z), not necessarily unit,
    scales [N, 3] standard deviations > 0) into cameras (viewmats [C, 4, 4] world-to-camera with
    OpenCV axes: +x right, +y down, +z forward; Ks [C, 3, 3] pinhole intrinsics) of
    width x height pixels. Pixel (row i, column j) has its centre at (j + 0.5, i + 0.5).
    t = R mean + t_w2c;  Sigma = R(q) diag(s)^2 R(q)^T;  Sigma' = J R Sigma R^T J^T + eps2d I
    with J the perspective Jacobian at t clamped to 1.3x the field of view. A pair is culled when
    t_z is outside [near, far], det Sigma' <= 0, its box (3.33 sigma; opacity-aware and culled
    below opacity 1/255 when `opacities` [N] is given) misses the image.
    Differentiable w.r.t. means, quats and scales through means2d, depths, conics and
    compensations (opacities only shape the boxes). All floating inputs share one dtype
    (float32 or float64) and one device; anything else is an sds::Error.
    """
def rasterize(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor, colors: torch.Tensor, viewmats: torch.Tensor, Ks: torch.Tensor, width: typing.SupportsInt, height: typing.SupportsInt, backgrounds: torch.Tensor | None = None, *, sh_degree: typing.SupportsInt = 0, eps2d: typing.SupportsFloat = 0.3, near_plane: typing.SupportsFloat = 0.01, far_plane: typing.SupportsFloat = 10000000000.0, antialiased: bool = False, tile_size: typing.SupportsInt = 16) -> RasterizeResult:
    """
    Renders Gaussians (means [N, 3], quats [N, 4] (w, x, y, z), scales [N, 3] standard
    deviations, opacities [N] in [0, 1]) with colours given either as SH coefficients
    [N, K, 3] (evaluated at options.sh_degree towards each camera) or as plain features [N, D]
    (D <= 3), into cameras (viewmats [C, 4, 4] world-to-camera with OpenCV axes, Ks [C, 3, 3]) of
    width x height pixels over backgrounds [C, D] (undefined = black). Differentiable w.r.t.
    every Gaussian tensor and the backgrounds. With options.projection.antialiased the opacities
    are multiplied by the Mip-Splatting compensation.
    """
def rasterize_to_pixels(means2d: torch.Tensor, conics: torch.Tensor, colors: torch.Tensor, opacities: torch.Tensor, backgrounds: torch.Tensor | None, width: typing.SupportsInt, height: typing.SupportsInt, tiles: TileIntersections) -> RasterizedPixels:
    """
    Composites 2D Gaussians (means2d [C, N, 2] pixels, conics [C, N, 3], colors [C, N, D] with
    D in 1..4, opacities [C, N] in [0, 1]) over backgrounds [C, D] (undefined = 0) into
    width x height images, walking each 16 x 16 tile's list from `tiles` front to back. Pixel
    (i, j) is evaluated at (j + 0.5, i + 0.5):
    alpha_i = min(0.99, o_i exp(-sigma_i)),  sigma_i = (a dx^2 + c dy^2) / 2 + b dx dy,
    skipping alpha < 1/255 and stopping before the Gaussian that would take T to 1e-4 or less.
    Differentiable w.r.t. means2d, conics, colors, opacities and backgrounds (backward in closed
    form, first order). One floating dtype and one device; anything else is an sds::Error.
    """
def spherical_harmonics(degree: typing.SupportsInt, dirs: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """
    rgb [M, 3] = max(0, sum_{k < (degree+1)^2} coeffs[m, k, :] Y_k(d_m) + 0.5), d_m = dirs[m] /
    |dirs[m]| (a zero direction evaluates the basis at 0), for degree in 0..3. The basis and its
    order are those of the 3DGS papers and files (Y_0 = 0.28209..., Y_1 = -0.48860 y, ...).
    dirs [M, 3] (world direction from the camera to the Gaussian), coeffs [M, K, 3] with
    K >= (degree + 1)^2 (coefficients beyond the degree are ignored: raising the degree during
    training needs no new tensors). Differentiable w.r.t. coeffs and dirs; a channel clamped at 0
    passes no gradient. One floating dtype and one device; anything else is an sds::Error.
    """
def trilinear_sample(grid: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """
    Samples the channels-last grid [D, H, W, C] at points [N, 3]; returns [N, C].
    
    A point (x, y, z) in [-1, 1]^3 maps to (W, H, D) with align_corners semantics: x = -1 is the
    centre of voxel 0 and x = 1 the centre of voxel W - 1 (likewise y over H, z over D). The value
    is the trilinear interpolation of the 8 surrounding voxels; corners outside the grid contribute
    zero (zero padding), so points beyond the cube fade out over half a voxel and are zero farther
    away. This is exactly
    at::grid_sampler(grid.permute({3, 0, 1, 2})[None], points.view({1, 1, 1, N, 3}),
    /*bilinear*/ 0, /*zeros*/ 0, /*align_corners*/ true)
    reshaped to [N, C], without the layout changes and with forward and backward parallel over the
    points (the CPU backward is deterministic for a fixed thread count).
    
    Points must be finite (not checked, for speed; it is the caller's job). D, H, W >= 1; N and C
    may be 0.
    Differentiable w.r.t. grid only (first order): points that require grad are an sds::Error,
    since their gradient is not computed. Both tensors share one floating dtype (float32 or
    float64) and one device (CPU, or CUDA in a build with CUDA); anything else is an sds::Error.
    """
