"""
Differentiable fused ops (CPU and CUDA)
"""
from __future__ import annotations
import collections.abc
import torch
import typing
__all__: list[str] = ['CompositeRaysOutput', 'ProjectedGaussians', 'RasterizeMeta', 'RasterizeResult', 'RasterizedPixels', 'TileIntersections', 'camera_centers', 'composite_rays', 'intersect_tiles', 'project_gaussians', 'rasterize', 'rasterize_to_pixels', 'spherical_harmonics', 'trilinear_sample']
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
        [R, S] per-sample weights w_i
        """
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
def intersect_tiles(means2d: torch.Tensor, radii: torch.Tensor, depths: torch.Tensor, width: typing.SupportsInt, height: typing.SupportsInt, tile_size: typing.SupportsInt = 16) -> TileIntersections:
    """
    Bins projected Gaussians (means2d [C, N, 2] pixels, radii [C, N, 2] int32 with 0 = culled,
    depths [C, N]) into tiles of a width x height image. A Gaussian touches tiles
    floor((mean - r) / tile) .. ceil((mean + r) / tile) - 1 on each axis, clamped to the image.
    Ties in depth keep the order of the Gaussians. Not differentiable. Same device for all inputs;
    the result is identical on CPU and CUDA.
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
