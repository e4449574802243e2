"""
sds: score-distillation losses, diffusion priors and 3D representations (C++ core)
"""
from __future__ import annotations
import collections.abc
import os
import torch
import typing
from . import ops
from . import models
__all__: list[str] = ['Bsd', 'Camera', 'CameraBatch', 'CameraSampler', 'Conditioning', 'Csd', 'DistillationGuidance', 'Error', 'ExactPrior', 'Gaussians', 'Guidance', 'GuidanceInput', 'GuidanceOutput', 'Ism', 'Magic123', 'Mesh', 'Nerf', 'Nfsd', 'NoiseSchedule', 'OccupancyGrid', 'OrbitSampler', 'ParameterGroup', 'PersonalisablePrior', 'Prior', 'ReferenceView', 'RegulariserWeights', 'RenderOptions', 'RenderOutput', 'Representation', 'Sds', 'StableDiffusionPrior', 'TimestepSchedule', 'Trainer', 'TrainingGroups', 'ViewSectorThresholds', 'VoxelGrid', 'Vsd', 'Weighting', 'built_with_cuda', 'concept_occupancy', 'debug_checks', 'geometry_iou', 'grid_views', 'guidance_step', 'held_out_views', 'make_camera_sampler', 'make_guidance', 'make_prior', 'make_representation', 'make_timestep_schedule', 'make_weighting', 'models', 'ops', 'parse_config', 'psnr', 'read_config', 'register_prior', 'regularisation', 'score_family', 'score_views', 'set_debug_checks', 'sphere_views', 'step_device_generator', 'step_generator', 'turntable_views', 'variant_coverage', 'view_sector']
class Error(RuntimeError):
    pass
class Camera:
    """
    A pinhole camera: pose (camera-to-world, OpenGL axes), intrinsics in pixels and image size.
    """
    @staticmethod
    def orbit(elevation_deg: typing.SupportsFloat, azimuth_deg: typing.SupportsFloat, radius: typing.SupportsFloat = 3.0, fovy_deg: typing.SupportsFloat = 40.0, height: typing.SupportsInt = 64, width: typing.SupportsInt = 64) -> Camera:
        """
        An orbit camera looking at the origin from elevation / azimuth (degrees) at `radius`, with
        vertical field of view `fovy_deg`, square pixels and the principal point at the centre.
        """
    def K(self) -> torch.Tensor:
        """
        Pinhole intrinsics `[3, 3]` float64: the splatting ops' K.
        """
    def __init__(self, c2w: torch.Tensor, fx: typing.SupportsFloat, fy: typing.SupportsFloat, cx: typing.SupportsFloat, cy: typing.SupportsFloat, width: typing.SupportsInt, height: typing.SupportsInt) -> None:
        """
        A camera from a camera-to-world `[4, 4]` tensor (any float dtype and device; read once to
        the host) and intrinsics. Checks the shape, a rigid rotation and positive sizes.
        """
    def __repr__(self) -> str:
        ...
    def c2w(self) -> torch.Tensor:
        """
        Camera-to-world `[4, 4]` (float64).
        """
    def resized(self, height: typing.SupportsInt, width: typing.SupportsInt) -> Camera:
        """
        The same pose rendering `height` x `width` pixels: the intrinsics scale with the image.
        """
    def viewmat(self) -> torch.Tensor:
        """
        World-to-camera with OpenCV axes (+x right, +y down, +z forward) `[4, 4]` float64: the
        splatting ops' viewmat.
        """
    @property
    def azimuth_deg(self) -> float:
        """
        Azimuth of the centre around +Z from +X, degrees in (-180, 180].
        """
    @property
    def cx(self) -> float:
        """
        principal point in pixels (image coordinates, see above)
        """
    @property
    def cy(self) -> float:
        """
        principal point in pixels (image coordinates, see above)
        """
    @property
    def direction(self) -> torch.Tensor:
        """
        Unit vector from the origin towards the camera centre, `[3]` float64.
        """
    @property
    def elevation_deg(self) -> float:
        """
        Elevation of the centre above the XY plane, degrees in [-90, 90]; the angles read from the
        pose are rounded to 1e-9 degrees, so an orbit camera gives back the angles it was made from.
        """
    @property
    def fovy_deg(self) -> float:
        """
        Vertical field of view, 2 atan(height / (2 fy)), in degrees.
        """
    @property
    def fx(self) -> float:
        """
        focal lengths in pixels
        """
    @property
    def fy(self) -> float:
        """
        focal lengths in pixels
        """
    @property
    def height(self) -> int:
        ...
    @property
    def position(self) -> typing.Annotated[list[float], "FixedSize(3)"]:
        """
        The camera centre in world coordinates.
        """
    @property
    def radius(self) -> float:
        """
        Distance of the centre from the origin.
        """
    @property
    def width(self) -> int:
        ...
class CameraBatch:
    """
    A batch of cameras with one image size.
    """
    @staticmethod
    def from_tensors(c2w: torch.Tensor, K: torch.Tensor, width: typing.SupportsInt, height: typing.SupportsInt) -> CameraBatch:
        """
        Cameras from a user's own camera-to-world matrices `[B, 4, 4]` (OpenGL axes) and
        intrinsics `[B, 3, 3]` (or `[3, 3]` shared), read once to the host.
        """
    def Ks(self) -> torch.Tensor:
        """
        Intrinsics `[B, 3, 3]` float32 (the splatting ops' Ks).
        """
    def __getitem__(self, index: typing.SupportsInt) -> Camera:
        ...
    def __init__(self, cameras: collections.abc.Sequence[Camera]) -> None:
        """
        All cameras must share height and width (sds::Error otherwise); the list may not be empty.
        """
    def __iter__(self) -> collections.abc.Iterator:
        ...
    def __len__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    def azimuth_deg(self) -> torch.Tensor:
        """
        Elevation and azimuth in degrees, `[B]` float32 each.
        """
    def c2w(self) -> torch.Tensor:
        """
        Camera-to-world matrices `[B, 4, 4]` float32.
        """
    def elevation_deg(self) -> torch.Tensor:
        """
        Elevation and azimuth in degrees, `[B]` float32 each.
        """
    def rays(self, supersample: typing.SupportsInt = 1, dtype: torch.dtype | None = None, device: typing.Any = None) -> tuple:
        """
        (origins, directions), `[B, H, W, 3]` each.
        
        Rays through the pixels (the volume renderer's input). With `supersample` s > 1 the grid is
        `[B, s H, s W, 3]` with rays through the centres of the s x s sub-pixels (for anti-aliased
        ground truth).
        The rays are built on `device` from one host copy of the cameras (no host sync).
        """
    def resized(self, height: typing.SupportsInt, width: typing.SupportsInt) -> CameraBatch:
        """
        The cameras with a different image size (same poses, see Camera::resized).
        """
    def viewmats(self) -> torch.Tensor:
        """
        World-to-camera matrices with OpenCV axes `[B, 4, 4]` float32 (the splatting ops' viewmats).
        """
    @property
    def cameras(self) -> list[Camera]:
        ...
    @property
    def height(self) -> int:
        ...
    @property
    def width(self) -> int:
        ...
class ViewSectorThresholds:
    """
    Thresholds of the view sectors, in degrees (threestudio's defaults; ProlificDreamer and
    MVDream configs use 30 / 30).
    """
    def __init__(self, front_deg: typing.SupportsFloat = 45.0, back_deg: typing.SupportsFloat = 45.0, overhead_deg: typing.SupportsFloat = 60.0) -> None:
        ...
class CameraSampler:
    """
    Draws the cameras of one training step.
    """
    def __init__(self) -> None:
        ...
    def sample(self, step: typing.SupportsInt, generator: torch.Generator | None = None) -> CameraBatch:
        """
        The cameras for `step`, drawn with `generator` only (so a seed fixes them).
        """
    @property
    def height(self) -> int:
        """
        Image size of the sampled cameras (with a progressive resolution, the final one).
        """
    @property
    def width(self) -> int:
        """
        Image size of the sampled cameras (with a progressive resolution, the final one).
        """
class OrbitSampler(CameraSampler):
    """
    Cameras on a sphere around the origin with elevation, azimuth, radius and fov drawn uniformly
    from their ranges.
    """
    def __init__(self, config: typing.Any = None, **kwargs) -> None:
        """
        Built from the keys of a config's "camera_sampler" (a dict and/or keyword arguments).
        
        Options of the orbit sampler (threestudio's random-camera data module, simplified).
        """
class NoiseSchedule:
    """
    A discrete DDPM noise schedule with T training timesteps, t = 0 .. T-1.
    """
    @staticmethod
    def scaled_linear(steps: typing.SupportsInt = 1000, beta_start: typing.SupportsFloat = 0.00085, beta_end: typing.SupportsFloat = 0.012) -> NoiseSchedule:
        """
        Stable Diffusion's "scaled_linear": beta_i = (sqrt(b0) + (sqrt(b1) - sqrt(b0)) i / (T-1))^2.
        """
    def add_noise(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """
        x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps, with t `[B]` and x0, eps `[B, ...]`.
        """
    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        """
        alpha_bar at one timestep.
        
        alpha_bar at integer timesteps `t` `[B]`, as float64 `[B]` on t's device; t outside [0, T)
        is an sds::Error (a value check: see value_checks_enabled).
        """
    def x0_from_eps(self, x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """
        x0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar).
        """
    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """
        alpha_bar_t = prod_{i <= t} (1 - beta_i), `[T]` float64.
        """
    @property
    def num_steps(self) -> int:
        """
        T, the number of training timesteps.
        """
class ReferenceView:
    """
    A known view of the object: Zero123 / Magic123 condition on it and on each camera relative
    to its camera.
    """
    camera: Camera
    def __init__(self, rgb: torch.Tensor, camera: Camera) -> None:
        ...
    @property
    def rgb(self) -> torch.Tensor:
        """
        `[3, H, W]` in [0, 1], composited over the background
        """
    @rgb.setter
    def rgb(self, arg0: torch.Tensor) -> None:
        ...
class Conditioning:
    """
    Everything a prior may condition on, for a batch of B noisy images. A prior that cannot use a
    field that is set says so with sds::Error.
    """
    def __init__(self, prompts: collections.abc.Sequence[str], cameras: CameraBatch | None = None, drop_camera: torch.Tensor | None = None, reference: ReferenceView | None = None) -> None:
        ...
    def prompt(self, b: typing.SupportsInt) -> str:
        """
        The prompt of batch element `b`.
        """
    def unconditional(self) -> Conditioning:
        """
        The same conditioning with every prompt replaced by the null prompt.
        """
    @property
    def cameras(self) -> CameraBatch | None:
        """
        The cameras the images were rendered from (camera-conditioned priors: MVDream, Zero123).
        """
    @cameras.setter
    def cameras(self, arg0: CameraBatch | None) -> None:
        ...
    @property
    def drop_camera(self) -> torch.Tensor:
        """
        `[B]` bool: elements whose camera embedding is replaced by the null camera (VSD's particle
        model is trained with camera dropout so that it can be evaluated without a camera). Undefined
        = none. Priors without a camera embedding ignore it.
        """
    @drop_camera.setter
    def drop_camera(self, arg0: torch.Tensor) -> None:
        ...
    @property
    def prompts(self) -> list[str]:
        """
        One prompt per batch element, or one for all. "" is the unconditional (null) prompt.
        A view-dependent suffix (", front view", ...) is part of the prompt.
        """
    @prompts.setter
    def prompts(self, arg0: collections.abc.Sequence[str]) -> None:
        ...
    @property
    def reference(self) -> ReferenceView | None:
        """
        The reference view (reference-image priors); priors without one ignore it.
        """
    @reference.setter
    def reference(self, arg0: ReferenceView | None) -> None:
        ...
class Prior:
    """
    A denoiser. Images cross the interface as rgb `[B, 3, H, W]` in [0, 1]; `encode` maps them to
    the prior's own space (pixels in [-1, 1] here; latents for a latent prior), differentiably.
    
    Subclass it in Python and implement predict_noise (and optionally schedule, read once, encode, decode and trainable_parameters); every C++ objective then calls it.
    """
    def __init__(self) -> None:
        ...
    def conditions_on_reference(self) -> bool:
        """
        Whether `predict_noise` conditions on `Conditioning::reference` (a reference-image prior,
        as Zero123 is to Magic123); false by default.
        """
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """
        The inverse of `encode`; the default is (x + 1) / 2.
        """
    def encode(self, rgb: torch.Tensor) -> torch.Tensor:
        """
        rgb `[B, 3, H, W]` in [0, 1] to the model space; the default is 2 rgb - 1.
        """
    def make_personalised(self, lora_rank: typing.SupportsInt = 4, lora_alpha: typing.SupportsFloat = 4.0, seed: typing.SupportsInt = 0) -> PersonalisablePrior:
        """
        BSD's personalised prior: a copy of this prior that can be fitted to images of one subject
        (DreamCraft3D's DreamBooth model). Null, the default, when this prior offers none.
        """
    def predict_noise(self, x_t: torch.Tensor, t: torch.Tensor, conditioning: Conditioning) -> torch.Tensor:
        """
        The noise prediction eps(x_t; y, t) for x_t `[B, C, h, w]` in model space and integer
        timesteps t `[B]`. Differentiable only w.r.t. `trainable_parameters()` (guidance treats it
        as a constant of the image).
        """
    def schedule(self) -> NoiseSchedule:
        """
        The forward process the denoiser was trained with.
        """
    def trainable_parameters(self) -> list[torch.Tensor]:
        """
        Parameters that an objective may train (VSD's LoRA / particle model, BSD's personalisation);
        none by default.
        """
class PersonalisablePrior(Prior):
    """
    A prior that can be fitted to images of one subject: BSD's personalised prior.
    """
    def set_images(self, rgb: torch.Tensor, cameras: CameraBatch, prompt: str) -> None:
        """
        The subject's images rgb `[N, 3, H, W]` in [0, 1] with their cameras and prompt, replacing
        the previous ones. A prior fitted in closed form re-fits here (the exact prior adds one
        component per image). A prior fitted by training (non-empty `trainable_parameters()`) is
        fitted by its caller with the diffusion loss on these images (BSD's DreamBooth steps); here
        it only checks them.
        """
class ExactPrior(PersonalisablePrior):
    """
    The closed-form mixture prior over the concepts of a scene. It is its own personalisable
    form: personalisation adds components in closed form.
    """
    def __init__(self, config: typing.Any = None, **kwargs) -> None:
        """
        Built from the keys of a config's "prior" (a dict and/or keyword arguments).
        
        Options of the exact prior; defaults follow docs/exact-prior.md.
        """
    def clear_personal_components(self) -> None:
        """
        Removes the personal components at every image size.
        """
    def ground_truth(self, prompt: str, cameras: CameraBatch, member: typing.SupportsInt = 0) -> dict:
        """
        A dict of rgb, alpha and depth.
        
        The exact renders of the concept named by `prompt` (a view suffix is ignored); for a family,
        of its member `member` (Concept::members()).
        """
    def log_density(self, x_t: torch.Tensor, t: torch.Tensor, conditioning: Conditioning) -> torch.Tensor:
        """
        log p_t(x_t) `[B]` by log-sum-exp over the components, differentiable in x_t (for tests of
        the score identity; the denoiser itself does not use it). Multi-view conditioning gives one
        joint value per group, `[B / N]`.
        """
    def parse_prompt(self, prompt: str) -> tuple[int, str]:
        """
        The concept index and view sector a prompt selects: -1 for the null prompt; the sector is
        "" when the prompt has no view suffix. An unknown prompt is an sds::Error listing the known.
        """
    def posterior_mean(self, x_t: torch.Tensor, t: torch.Tensor, conditioning: Conditioning) -> torch.Tensor:
        """
        E[x0 | x_t] `[B, 3, H, W]`.
        """
    def set_personal_components(self, rgb: torch.Tensor, cameras: CameraBatch, prompt: str) -> None:
        """
        Personalisation (DreamCraft3D's bootstrapping, the exact analogue of DreamBooth on the
        scene's renders): replaces the components added at the images' size by one component per
        image of `rgb` `[M, 3, H, W]` in [0, 1], a view of `prompt`'s concept from its camera, with
        the weight of a grid component. Not available with multi-view conditioning.
        """
    @property
    def prompts(self) -> list[str]:
        """
        The prompts in order.
        """
    @property
    def scene(self) -> typing.Any:
        """
        The scene in the file format (docs/exact-prior.md).
        """
class StableDiffusionPrior(Prior):
    """
    The Stable Diffusion prior. Its modules are frozen: no parameter requires grad, and the UNet
    and text encoder run without building a graph.
    """
    def make_particle_model(self, lora_rank: typing.SupportsInt = 4, lora_alpha: typing.SupportsFloat = 4.0, camera_condition: bool = True, seed: typing.SupportsInt = 0) -> Prior:
        """
        VSD's particle model on this prior (ProlificDreamer as threestudio runs it): float32 LoRA
        adapters of `options.lora_rank` on the attention projections (to_q, to_k, to_v, to_out.0)
        of this prior's own UNet, zero-initialised, and with `options.camera_condition` an MLP
        (16 -> time embedding width, SiLU, linear, nn.Linear's init from `options.seed`) from the
        flattened camera-to-world matrix, added to the time embedding. This prior's own predictions
        run with the adapters off, so one UNet serves both. One per prior; the particle model keeps
        the modules alive on its own.
        """
    def text_embeddings(self, prompts: collections.abc.Sequence[str]) -> torch.Tensor:
        """
        The text encoder's hidden states `[B, L, D]` for `prompts` in the UNet's dtype, computed
        once per prompt and cached on the device.
        """
    @property
    def device(self) -> torch.device:
        ...
    @property
    def dtype(self) -> torch.dtype:
        ...
    @property
    def prediction_type(self) -> str:
        ...
class ParameterGroup:
    """
    A set of parameters trained with one learning rate.
    """
    def __init__(self, name: str, parameters: collections.abc.Sequence[torch.Tensor], lr: typing.SupportsFloat) -> None:
        ...
    def __repr__(self) -> str:
        ...
    def lr_at(self, step: typing.SupportsInt) -> float:
        """
        The learning rate at a 0-based step (e.g. 3DGS's log-linear position decay); empty: `lr`
        throughout.
        """
    @property
    def lr(self) -> float:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def parameters(self) -> list[torch.Tensor]:
        ...
class GuidanceOutput:
    """
    A loss whose gradient w.r.t. `rgb` is the objective's update, and scalars to log.
    """
    def __init__(self, loss: torch.Tensor, metrics: typing.Any = None, lr_scale: typing.SupportsFloat = 1.0) -> None:
        """
        `metrics`: a dict of floats or one-element tensors (kept on their device).
        """
    def logged_metrics(self) -> dict[str, float]:
        """
        The metrics read back to the host in one copy.
        """
    @property
    def loss(self) -> torch.Tensor:
        """
        scalar; its value is not an objective (the target trick), its gradient is
        """
    @loss.setter
    def loss(self, arg0: torch.Tensor) -> None:
        ...
    @property
    def lr_scale(self) -> float:
        """
        Multiplies the representation's learning rates for this step (DreamTime's
        time-prioritised learning rate); 1 leaves them alone.
        """
    @lr_scale.setter
    def lr_scale(self, arg0: typing.SupportsFloat) -> None:
        ...
    @property
    def metrics(self) -> dict[str, torch.Tensor]:
        """
        Scalars to log: 0-dim tensors on the step's device, detached; read back only on the steps
        that log them (see log_metrics).
        """
    @metrics.setter
    def metrics(self, arg1: typing.Any) -> None:
        ...
class GuidanceInput:
    """
    What a guidance sees of one training step.
    """
    @property
    def cameras(self) -> CameraBatch:
        """
        the B cameras the images were rendered from
        """
    @property
    def device_generator(self) -> torch.Generator | None:
        """
        The randomness drawn on the images' device (the forward-process noise). Undefined: drawn
        from `generator` (on the CPU one generator does both).
        """
    @property
    def generator(self) -> torch.Generator:
        """
        The host's randomness (timesteps, which are few and steer host-side choices: an
        objective's inversion length, a prior's components); a handle that shares its state.
        """
    @property
    def rgb(self) -> torch.Tensor:
        """
        `[B, 3, H, W]` in [0, 1], carrying the gradient to the representation
        """
    @property
    def step(self) -> int:
        """
        current training step, 0-based
        """
    @property
    def total_steps(self) -> int:
        """
        length of the run (for schedules)
        """
class Guidance:
    """
    One score-distillation objective (SDS, CSD, VSD, ...). It never knows which representation
    made the image.
    """
    def __call__(self, rgb: torch.Tensor, cameras: CameraBatch, step: typing.SupportsInt = 0, total_steps: typing.SupportsInt = 1, generator: torch.Generator | None = None, device_generator: torch.Generator | None = None) -> GuidanceOutput:
        """
        The loss for rendered views rgb `[B, 3, H, W]` of `cameras` at `step` of `total_steps`; timesteps from `generator` (torch's default CPU generator when None), noise from `device_generator` (`generator` when None).
        
        The loss for the rendered images of one step.
        """
    def __init__(self) -> None:
        ...
    def compute(self, input: GuidanceInput) -> GuidanceOutput:
        """
        The loss for the rendered images of one step.
        """
    def named_tensors(self) -> dict:
        """
        The objective's own state by name (its trained parameters), for checkpoints.
        """
    def parameter_groups(self) -> list[ParameterGroup]:
        """
        Parameters the objective trains itself, with their learning rates (VSD's particle model);
        the trainer optimises them in the same step as the representation. None by default.
        """
    def reference_camera(self, height: typing.SupportsInt, width: typing.SupportsInt) -> Camera | None:
        """
        The known view that the objective supervises directly (Magic123's reference image), if any,
        at the size of the rendered views; guidance_step() renders it every step.
        """
    def reference_loss(self, rgb: torch.Tensor, alpha: torch.Tensor, depth: torch.Tensor, step: typing.SupportsInt, total_steps: typing.SupportsInt) -> GuidanceOutput:
        """
        The loss of the render of `reference_camera()`: rgb `[1, 3, H, W]`, alpha and depth
        `[1, 1, H, W]` (depth undefined when the representation renders none).
        """
class DistillationGuidance(Guidance):
    """
    Base of the objectives whose loss is `target_loss(z, g)`.
    """
    def gradient(self, z: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, cameras: CameraBatch) -> torch.Tensor:
        """
        The objective's gradient for a given step (no sampling), after clipping and normalisation:
        for tests, and for objectives built on others.
        
        The same with only z, t, noise and the cameras (step 0 of 1).
        """
    @property
    def prior(self) -> Prior:
        ...
    @property
    def prompt(self) -> str:
        ...
class Sds(DistillationGuidance):
    """
    SDS: g = w(t) (eps_cfg(z_t; y, t) - eps) with z_t = sqrt(a) z + sqrt(1 - a) eps (or MVDream's
    g = z - x0_hat with `recon_loss`), injected
    through `target_loss`, so d loss / d z = g / B, and d loss / d rgb = 2 g / B for a pixel
    prior (z = 2 rgb - 1).
    """
class Csd(DistillationGuidance):
    """
    CSD: g = w(t) [a eps(z_t; y) + b eps(z_t; y_neg) + c eps(z_t; "") + d eps]
    (+ w(t) p sum_i w_i perp(eps_i - eps(z_t; y_neg), eps_pos - eps(z_t; y_neg)) with
    Perp-Neg). SDS in the diffusers convention is (a, b, c, d) = (s, 1 - s, 0, -1) with
    y_neg = ""; the paper's classifier score is (1, 0, -1, 0).
    """
class Nfsd(DistillationGuidance):
    """
    NFSD: g = w(t) [delta_D + s delta_C] with delta_C = eps(z_t; y) - eps(z_t; ""), and
    delta_D = eps(z_t; "") for t < switch_step, eps(z_t; "") - eps(z_t; y_neg) otherwise. No
    forward-noise term: that is the point of the method.
    """
class Ism(DistillationGuidance):
    """
    ISM: g = w(t) [eps_cfg(x_t; y, t) - eps(x_s; "", s)] with s = t - delta_T, where x_s comes
    from deterministic DDIM inversion (eta = 0) of the unconditional prior from the barely noised
    render in strides of `inversion_stride`, and x_t from one more inversion step s -> t. The
    default w is sqrt((1 - a_t) / a_t) and t follows LucidDreamer's warm-up schedule.
    """
    @staticmethod
    def ddim_step(schedule: NoiseSchedule, x: torch.Tensor, eps: torch.Tensor, from_t: typing.SupportsInt, to_t: typing.SupportsInt) -> torch.Tensor:
        """
        One deterministic DDIM step of x from timestep `from` to `to` with prediction `eps`.
        """
class Vsd(DistillationGuidance):
    """
    VSD: g = w(t) (eps_cfg(z_t; y, t) - eps_phi(z_t; y, t, c)), with eps_phi trained in the same
    optimiser step (1:1 schedule) by the diffusion loss ||eps_phi(sg(z)_t'; y, t', c) - eps||^2,
    t' ~ U[0, 1000), on the current renders. The frozen pass uses the view-dependent prompt when
    that option is on; eps_phi always sees the plain prompt and the camera.
    """
class Bsd(Vsd):
    """
    BSD: g = w(t) (eps_cfg^personal(z_t; y, t) - eps_phi(z_t; y, t, c)). The personalised prior
    is the prior's `make_personalised` copy, fitted to a FIFO cache of augmented renders (SDEdit
    of the current render through the original prior, at its camera): on the exact prior one
    component per cached image, in closed form (the exact analogue of DreamBooth); on a trained
    prior (Stable Diffusion) DreamBooth-LoRA steps on the cache. eps_phi sits on the original
    prior, as in VSD. During the personalisation steps of a cycle the representation gets no
    gradient.
    """
    def cached_images(self) -> torch.Tensor:
        """
        The cached augmented renders `[N, 3, H, W]`, oldest first; undefined while empty.
        """
class Magic123(Guidance):
    """
    L = lambda_2d L_2d + lambda_3d L_3d on the sampled views, and rgb_weight L_rgb + mask_weight
    L_mask + depth_weight L_depth on the reference view. Each objective has its own prior: by
    default the exact prior with text conditioning (2D, SDS at scale 100, t in [200, 600]) and
    with reference conditioning (3D, SDS at scale 5, t in [200, 600]). The 3D prior must
    condition on a reference view (`Prior::conditions_on_reference`). The reference image is
    `reference_image`, or else the 3D prior's known view of the prompt at the reference camera.
    """
class TimestepSchedule:
    """
    Draws the integer timesteps of one training step.
    """
    def range(self, step: typing.SupportsInt, total_steps: typing.SupportsInt) -> typing.Annotated[list[int], "FixedSize(2)"]:
        """
        The inclusive range [min, max] that `sample` draws from at `step`.
        """
    def sample(self, step: typing.SupportsInt, total_steps: typing.SupportsInt, batch: typing.SupportsInt, generator: torch.Generator | None = None) -> torch.Tensor:
        """
        `batch` timesteps `[batch]` (long) for step `step` of `total_steps`, drawn with `generator`.
        """
class Weighting:
    """
    w as a function of alpha_bar_t.
    """
    def __call__(self, alpha_bar: torch.Tensor) -> torch.Tensor:
        """
        w for each alpha_bar `[B]` (any float dtype), same shape.
        """
class RenderOptions:
    """
    Per-render settings that do not belong to the representation.
    """
    def __init__(self, background: typing.Annotated[collections.abc.Sequence[typing.SupportsFloat], "FixedSize(3)"] = [1.0, 1.0, 1.0]) -> None:
        ...
    @property
    def background(self) -> typing.Annotated[list[float], "FixedSize(3)"]:
        """
        linear RGB behind the object
        """
    @background.setter
    def background(self, arg0: typing.Annotated[collections.abc.Sequence[typing.SupportsFloat], "FixedSize(3)"]) -> None:
        ...
    @property
    def generator(self) -> torch.Generator | None:
        """
        The draws of training-time augmentation (the NeRF's random light and shading mode); unset
        for the deterministic evaluation render.
        """
    @generator.setter
    def generator(self, arg0: torch.Generator | None) -> None:
        ...
    @property
    def step(self) -> int:
        """
        The 0-based training step of the render (schedules such as the NeRF's albedo-only warm-up);
        -1 outside training.
        """
    @step.setter
    def step(self, arg0: typing.SupportsInt) -> None:
        ...
class RenderOutput:
    """
    What a representation renders: rgb `[B, 3, H, W]` in [0, 1] (composited over the background),
    alpha `[B, 1, H, W]`, depth `[B, 1, H, W]` (expected distance along the ray, 0 where empty),
    normal `[B, 3, H, W]` (undefined when the representation has none). The regularisers'
    inputs are per pixel `[B, 1, H, W]` and undefined where they do not apply: z_variance, the
    variance of the sample depths under the normalised weights (HiFA; volumetric renderers), and
    orientation, sum_i stopgrad(w_i) max(0, <n_i, d>)^2 over the ray's samples (Ref-NeRF /
    DreamFusion; renderers with per-sample normals).
    """
    alpha: torch.Tensor
    depth: torch.Tensor
    normal: torch.Tensor
    orientation: torch.Tensor
    rgb: torch.Tensor
    z_variance: torch.Tensor
    def __init__(self, rgb: torch.Tensor, alpha: torch.Tensor, depth: torch.Tensor | None = None, normal: torch.Tensor | None = None) -> None:
        ...
class Mesh:
    """
    An indexed triangle mesh. Faces are counter-clockwise seen from outside (normals point out).
    """
    def write_obj(self, path: os.PathLike | str | bytes) -> None:
        """
        Writes Wavefront OBJ ("v x y z", or "v x y z r g b" with colours in [0, 1] when the mesh has
        them; 1-based "f a b c"), atomically.
        """
    def write_ply(self, path: os.PathLike | str | bytes) -> None:
        """
        Writes binary little-endian PLY, atomically: vertex float x, y, z (+ uchar red, green, blue,
        round(255 c), when the mesh has colours); face "list uchar int vertex_indices".
        """
    @property
    def colors(self) -> torch.Tensor:
        """
        [V, 3] float32 linear RGB in [0, 1], or undefined
        """
    @property
    def faces(self) -> torch.Tensor:
        """
        [F, 3] int64 vertex indices
        """
    @property
    def vertices(self) -> torch.Tensor:
        """
        [V, 3] float32 world positions
        """
class Representation:
    """
    A differentiable 3D representation (voxel grid, NeRF, DMTet, Gaussians). It never knows which
    guidance consumes its images.
    """
    def __init__(self) -> None:
        ...
    def export_file(self, path: os.PathLike | str | bytes, format: str) -> None:
        """
        Writes the representation to `path` in `format` (one of export_formats()), atomically.
        """
    def export_formats(self) -> list[str]:
        """
        File formats export_file() writes ("obj", "ply", ...); none by default.
        """
    def inside(self, points: torch.Tensor) -> torch.Tensor:
        """
        Whether world points `[N, 3]` (float64) lie inside the object as this representation's
        geometry defines it (the solid its mesh export bounds): `[N]` bool. Undefined (the default)
        for a representation without a notion of inside; then no geometry score is reported.
        """
    def named_tensors(self) -> dict:
        """
        Every tensor of the state (parameters and buffers), by name, for checkpoints.
        """
    def parameter_groups(self) -> list[ParameterGroup]:
        """
        The trainable parameters with their default learning rates.
        """
    def parameters(self) -> list[torch.Tensor]:
        """
        Every trainable tensor (of every parameter group), for a torch optimiser.
        """
    @typing.overload
    def render(self, cameras: CameraBatch, background: typing.Annotated[collections.abc.Sequence[typing.SupportsFloat], "FixedSize(3)"] = [1.0, 1.0, 1.0]) -> RenderOutput:
        """
        Renders the cameras on the representation's device; differentiable w.r.t. the parameters.
        """
    @typing.overload
    def render(self, cameras: CameraBatch, options: RenderOptions) -> RenderOutput:
        """
        With every render option (the training step and generator of augmentation).
        """
    def to(self, device: typing.Any) -> None:
        """
        Moves the whole state to `device`; call it before an optimiser holds the parameters,
        which are replaced by new leaves. The default throws unless the state is already there.
        """
    @property
    def device(self) -> torch.device:
        """
        The device of the state: the first named tensor's (CPU when there is none).
        """
class VoxelGrid(Representation):
    """
    Density `[1, 1, R, R, R]` (softplus) and rgb `[1, 3, R, R, R]` (sigmoid) grids, indexed
    [z, y, x] so that world x, y, z map to grid_sample's x, y, z.
    """
    def __init__(self, config: typing.Any = None, **kwargs) -> None:
        """
        Built from the keys of a config's "representation" (a dict and/or keyword arguments).
        
        Options of the voxel grid; JSON keys are the field names.
        """
    def query(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Density sigma and rgb at world points `[N, 3]` (on the grid's device): `[N]` and `[N, 3]`.
        """
class OccupancyGrid:
    """
    The grid over the cube [-bound, bound]^3, on one device. Occupancies start at 0 and every cell
    is marched until the first update (nerfacc updates before its first render).
    """
    def __init__(self, bound: typing.SupportsFloat = 1.0, *, resolution: typing.SupportsInt = 128, update_every: typing.SupportsInt = 16, warmup_steps: typing.SupportsInt = 256, ema_decay: typing.SupportsFloat = 0.95, occ_threshold: typing.SupportsFloat = 0.01, device: typing.Any = None) -> None:
        """
        Keywords as OccupancyGridOptions.
        
        sds::Error on a resolution outside 1..512, a bound or threshold that is not positive, a
        decay outside [0, 1] or an update interval below 1.
        """
    def cell_centres(self) -> torch.Tensor:
        """
        World centres of all cells `[R^3, 3]` in the order of occupancy().view(-1).
        """
    def march(self, origins: torch.Tensor, directions: torch.Tensor, step_size: typing.SupportsFloat, jitter: torch.Tensor | None = None) -> ops.MarchedSamples:
        """
        Marches rays (origins, unit directions [R, 3]) through the occupied cells in steps of
        `step_size` from their entry into the cube to their exit (ops::march_rays); `jitter` [R]
        in [0, 1) offsets each ray's first step (stratified sampling), undefined for none.
        """
    def reset(self, evaluate: collections.abc.Callable[[torch.Tensor], torch.Tensor]) -> None:
        """
        Refreshes every cell without decay (occ = evaluate at the cell centre), e.g. after loading
        a checkpoint or for a field set from outside.
        """
    def update(self, step: typing.SupportsInt, evaluate: collections.abc.Callable[[torch.Tensor], torch.Tensor], generator: torch.Generator) -> None:
        """
        nerfacc's update at `step`: before warmup_steps every cell, afterwards a quarter of the
        cells drawn uniformly plus as many of the occupied ones; each chosen cell is evaluated at a
        uniformly jittered point inside it and its occupancy becomes max(occ decay, new). Then the
        bit grid is refreshed. Draws from `generator` (on the grid's device). One host sync (the
        number of occupied cells) after the warm-up.
        """
    def updates_at(self, step: typing.SupportsInt) -> bool:
        """
        Whether `step` (0-based) updates the grid: every update_every steps.
        """
    @property
    def binary(self) -> torch.Tensor:
        """
        The bit grid `[R, R, R]` bool.
        """
    @property
    def occupancy(self) -> torch.Tensor:
        """
        The EMA occupancy `[R, R, R]` float32, indexed [x, y, z].
        """
    @property
    def threshold(self) -> torch.Tensor:
        """
        The current threshold min(mean occupancy, occ_threshold) (a device scalar).
        """
    @property
    def updated(self) -> bool:
        """
        Whether the grid has been updated, reset or set since it was made.
        """
class Nerf(Representation):
    """
    The NeRF. Exports "obj" and "mesh_ply" (marching cubes of sigma at isosurface_level(),
    vertex colours from the albedo). Renders rgb, alpha, depth (not divided by alpha), normal
    (sum of w_i n_i; undefined without normals), z_variance and orientation (with normals).
    """
    def __init__(self, config: typing.Any = None, seed: typing.SupportsInt = 0, **kwargs) -> None:
        """
        Built from the keys of a config's "representation" (a dict and/or keyword arguments) and a seed.
        
        Options of the NeRF; JSON keys are the field names ("grid" takes tiny-cuda-nn's HashGrid
        names, "occupancy_grid" OccupancyGridOptions'). Defaults are threestudio's text-to-3D ones
        (configs/dreamfusion-sd.yaml) unless a comment says otherwise.
        """
    def density(self, points: torch.Tensor) -> torch.Tensor:
        """
        Density alone (the occupancy grid's and the normals' queries).
        """
    def extract_mesh(self) -> Mesh:
        """
        The surface of the solid (inside()) by marching cubes of sigma at isosurface_level() on the
        mesh_resolution^3 lattice of the box, enclosed cavities raised above the level and lattice
        points outside the visual hull set to 0; coloured by the albedo.
        """
    def isosurface_level(self) -> float:
        """
        The density level of the solid: isosurface_threshold, or its "auto" or "occupancy" value.
        """
    def normals(self, points: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """
        Unit normals -grad sigma / |grad sigma| `[N, 3]` by options().normal_type ("none": an
        sds::Error), differentiable.
        """
    def query(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Density sigma `[N]` and albedo `[N, 3]` at world points `[N, 3]` (float32, on the NeRF's
        device); differentiable.
        """
    def silhouettes(self, cameras: CameraBatch, min_opacity: typing.SupportsFloat = 0.5) -> torch.Tensor:
        """
        Whether each pixel's ray reaches opacity `min_opacity` in (0, 1), 1 - exp(-sum sigma_i
        delta_i) over the deterministic samples of an evaluation render without visibility pruning
        (every step through the box while the occupancy grid has never been updated, which a
        render does first): `[B, H, W]` bool on the NeRF's device. From the density alone (no colour,
        no gradients), marched in chunks of rays and in rounds of samples that stop at the opacity, so
        that memory and work stay bounded. The silhouettes of the solid at 0.5.
        """
    @property
    def grid_layout(self) -> ops.HashGridLayout:
        """
        The hash grid's layout.
        """
    @property
    def occupancy_grid(self) -> OccupancyGrid:
        """
        The occupancy grid it marches.
        """
    @property
    def step_size(self) -> float:
        """
        The marching step sqrt(3) 2 radius / samples_per_ray.
        """
class Gaussians(Representation):
    """
    N Gaussians with SH colour, rendered by ops::rasterize. Exports "ply" (the 3DGS splat file),
    "obj" and "mesh_ply" (a mesh of the density, with vertex colours).
    """
    def __init__(self, config: typing.Any = None, seed: typing.SupportsInt = 0, **kwargs) -> None:
        """
        Built from the keys of a config's "representation" (a dict and/or keyword arguments) and a seed.
        
        Options of the Gaussians; JSON keys are the field names ("densify" is an object, see
        DensifyOptions). Defaults are DreamGaussian's (image.yaml; its spatial_lr_scale of 10 folded
        into the position learning rates).
        """
    def extract_mesh(self) -> Mesh:
        """
        A mesh of the opacity-weighted density sum_i o_i exp(-d^2 / 2) on a resolution^3 grid
        over the Gaussians' bounds, at options.mesh_iso, coloured by the kernel-weighted rgb.
        """
    def tensors(self) -> dict:
        """
        The raw tensors (detached), sh joined to [N, K, 3].
        """
    @property
    def active_sh_degree(self) -> int:
        ...
    @property
    def size(self) -> int:
        ...
class TrainingGroups:
    """
    The parameter groups an optimiser trains in a run: the representation's, then the guidance's
    own (VSD's particle model, ...), with each group's learning rate at a step.
    """
    @typing.overload
    def __init__(self, representation: collections.abc.Sequence[ParameterGroup], guidance: collections.abc.Sequence[ParameterGroup] = []) -> None:
        """
        sds::Error when a group has a learning rate that is not positive.
        
        The groups of a representation and a guidance.
        """
    @typing.overload
    def __init__(self, representation: Representation, guidance: Guidance) -> None:
        ...
    def learning_rates(self, step: typing.SupportsInt, lr_scale: typing.SupportsFloat = 1.0) -> list[float]:
        """
        The learning rate of every group at 0-based `step`: `lr_at(step)` (or `lr`), times
        `lr_scale` (GuidanceOutput::lr_scale, DreamTime's time-prioritised rate) for the
        representation's groups only.
        """
    @property
    def groups(self) -> list[ParameterGroup]:
        """
        Every group, the representation's first.
        """
    @property
    def representation_groups(self) -> int:
        """
        How many of groups() belong to the representation.
        """
class Trainer:
    """
    Runs the five-part loop with a seed, checkpoints and NaN/Inf detection. Each step is the
    protocol of train/step.h (step_generator, guidance_step, TrainingGroups) with LibTorch's Adam.
    """
    def __init__(self, representation: Representation, sampler: CameraSampler, guidance: Guidance, options: typing.Any = None, **kwargs) -> None:
        """
        `options` (a dict and/or keyword arguments): steps, seed, run_dir and the keys of a config's "trainer".
        
        Options of the loop; JSON keys (under "trainer") are the field names.
        """
    def load_checkpoint(self, path: os.PathLike | str | bytes) -> None:
        """
        Restores a checkpoint written by `save_checkpoint` on any device onto this run's device;
        the run then continues to the same numbers as an uninterrupted one on that device.
        Mismatched tensors are an sds::Error.
        """
    def save_checkpoint(self, path: os.PathLike | str | bytes) -> None:
        """
        Writes parameters, optimiser state and the step counter to `path`, atomically.
        """
    def step(self) -> dict:
        """
        A dict of step, total_steps, loss and metrics.
        
        Runs one step. A NaN or Inf stops the run with an sds::Error naming the first bad step and
        the part (render, guidance, backward, optimizer) when it is checked (see check_every); no
        checkpoint is written after it, so the last one on disk is good.
        """
    @property
    def representation(self) -> Representation:
        ...
    @property
    def seed(self) -> int:
        ...
    @property
    def steps_done(self) -> int:
        """
        Number of finished steps.
        """
    @property
    def total_steps(self) -> int:
        ...
class RegulariserWeights:
    """
    The regularisers' weights as schedules (0: off), threestudio's lambda_orient,
    lambda_sparsity, lambda_opaque and lambda_z_variance. JSON (under "trainer"):
    "regularisers": {"orientation": [0, 10, 1000, 5000], "sparsity": 1, ...}.
    """
    def __init__(self, weights: typing.Any = None, **kwargs) -> None:
        """
        From a dict and/or keyword arguments (numbers or schedules).
        
        Reads the object's keys ("orientation", "sparsity", "opacity", "z_variance"); a negative
        weight is an sds::Error.
        """
    def any(self) -> bool:
        """
        Whether any weight is ever non-zero.
        """
def _evaluate(configs: collections.abc.Sequence[os.PathLike | str | bytes], seeds: typing.SupportsInt, out: os.PathLike | str | bytes, concepts: collections.abc.Sequence[str], threshold_db: typing.SupportsFloat, coverage_db: typing.SupportsFloat, small: bool, log: typing.Any) -> dict:
    ...
def _generate(config: typing.Any, out_dir: os.PathLike | str | bytes, resume: bool, exports: collections.abc.Sequence[str], turntable: bool, on_step: typing.Any) -> dict:
    ...
def built_with_cuda() -> bool:
    """
    True when the library was built with its CUDA kernels.
    """
def concept_occupancy(prior: ExactPrior, prompt: str, points: torch.Tensor, cell: typing.SupportsFloat = 0.0, samples: typing.SupportsInt = 2, member: typing.SupportsInt = 0) -> torch.Tensor:
    """
    The ground-truth occupancy of the prior's concept `prompt` (a family's `member`).
    
    The fraction of `samples`^3 sub-points of each cell that lie inside the concept's object, for
    cells of side `cell` centred on `points` `[N, 3]` (float64, world units): `[N]` in [0, 1].
    With `cell` = 0 it is the exact inside test (0 or 1) at the points.
    """
def debug_checks() -> bool:
    """
    Whether the value checks of device tensors are on.
    """
def geometry_iou(representation: Representation, prior: ExactPrior, prompt: str, resolution: typing.SupportsInt = 64, member: typing.SupportsInt = 0) -> float | None:
    """
    Volumetric IoU of the representation's solid (Representation::inside) against the concept's
    exact object, |solid and object| / |solid or object| over the centres of a resolution^3 grid
    on [-1, 1]^3 (the exact prior's objects fit in it). nullopt for a representation without
    inside(). resolution in [4, 512].
    """
def grid_views(elevations_deg: collections.abc.Sequence[typing.SupportsFloat], azimuth_step_deg: typing.SupportsFloat, radius: typing.SupportsFloat = 3.0, fovy_deg: typing.SupportsFloat = 40.0, height: typing.SupportsInt = 64, width: typing.SupportsInt = 64) -> list[Camera]:
    """
    The grid of views every `azimuth_step_deg` degrees (from 0) at each elevation.
    """
def guidance_step(guidance: Guidance, rgb: torch.Tensor, cameras: CameraBatch, step: typing.SupportsInt, total_steps: typing.SupportsInt, generator: torch.Generator | None = None, render: typing.Any = None, device_generator: torch.Generator | None = None) -> GuidanceOutput:
    """
    `render(cameras)` returns an sds.RenderOutput or a dict with rgb, alpha (and depth).
    
    The guidance's loss for the rendered views of one step with everything the objective asks of
    the loop: when it supervises a reference view (Magic123), that view is rendered through
    `render` at the size of `input.rgb` and its loss and metrics are added. sds::Error when the
    objective asks for a learning-rate scale that is not finite and positive.
    """
def held_out_views(radius: typing.SupportsFloat = 3.0, fovy_deg: typing.SupportsFloat = 40.0, height: typing.SupportsInt = 64, width: typing.SupportsInt = 64) -> list[Camera]:
    """
    The exact prior's 24 held-out views: azimuth 5 + 30k degrees (k = 0..11) at elevations 7.5
    and 22.5 degrees; none lies on the component grid.
    """
def make_camera_sampler(config: typing.Any = None, **kwargs) -> CameraSampler:
    """
    A camera sampler from its config ("type" names it).
    """
def make_guidance(config: typing.Any, *, prior: Prior, prompt: str, device: typing.Any = None, **kwargs) -> Guidance:
    """
    An objective from its config (the keys of a config's "guidance"; "type" names it: sds, csd, nfsd, ism, vsd, bsd, magic123), on `prior` for `prompt`. docs/guidance.md lists every key.
    """
def make_prior(config: typing.Any = None, *, device: typing.Any = None, **kwargs) -> Prior:
    """
    A prior from its config ("type" names it), with its models on `device` ("cpu", "cuda", ...; None: the CPU).
    """
def make_representation(config: typing.Any = None, seed: typing.SupportsInt = 0, device: typing.Any = None, **kwargs) -> Representation:
    """
    A representation from its config ("type": voxel_grid, gaussians).
    """
def make_timestep_schedule(config: typing.Any = None, **kwargs) -> TimestepSchedule:
    """
    A timestep schedule from its config ("type": uniform, annealed, dreamtime, sqrt_anneal, linear_anneal, warmup).
    """
def make_weighting(config: typing.Any = None, **kwargs) -> Weighting:
    """
    A weighting w(t) from its config ("type": sds, uniform, fantasia3d, noise_to_signal).
    """
def parse_config(text: str, source: str = 'config') -> typing.Any:
    """
    Parses JSON text; a syntax error is an sds::Error naming `source`, line and column.
    """
def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """
    PSNR in dB of each image of `prediction` against `target` (`[B, C, H, W]`, values in [0, 1]):
    -10 log10(mean squared error), `[B]` float64. A perfect match gives +inf.
    """
def read_config(path: os.PathLike | str | bytes) -> typing.Any:
    """
    Reads and parses a JSON file; a missing file is an sds::Error.
    """
def register_prior(name: str, factory: collections.abc.Callable) -> None:
    """
    Registers a Python prior under `name` for configs ({"type": name, ...}): factory(config_dict) returns an sds.Prior.
    """
def regularisation(weights: RegulariserWeights, render: RenderOutput, step: typing.SupportsInt, total_steps: typing.SupportsInt) -> GuidanceOutput:
    """
    The weighted sum of the regularisers of `render` at 0-based `step` of `total_steps`, and each
    weighted term as a metric ("reg_orientation", ...). A term with a non-zero weight whose input
    the representation does not render (orientation and z_variance: RenderOutput's fields) is an
    sds::Error naming it. No host sync.
    """
def score_family(prediction: torch.Tensor, variants: collections.abc.Sequence[torch.Tensor]) -> dict:
    """
    A dict of variant_mean_db, nearest, nearest_scores and family_mean_db.
    
    Scores `prediction` `[B, 3, H, W]` against each variant's images `variants[v]` (all of its
    shape), as FamilyScores defines. `variants` must not be empty.
    """
def score_views(representation: Representation, cameras: CameraBatch, target: torch.Tensor, background: typing.Annotated[collections.abc.Sequence[typing.SupportsFloat], "FixedSize(3)"] = [1.0, 1.0, 1.0]) -> dict:
    """
    A dict of mean, min and per_view PSNR.
    
    Renders `cameras` (without gradients, in chunks of `chunk` views) and scores them against
    `target` `[B, 3, H, W]`.
    
    Scores rendered views `[B, 3, H, W]` against `target`.
    """
def set_debug_checks(on: bool) -> None:
    """
    Turns the value checks of device tensors on or off for the whole process (default: off,
    or on when the environment sets SDS_DEBUG_CHECKS=1).
    """
def sphere_views(count: typing.SupportsInt, radius: typing.SupportsFloat = 3.0, fovy_deg: typing.SupportsFloat = 40.0, height: typing.SupportsInt = 64, width: typing.SupportsInt = 64) -> list[Camera]:
    """
    `count` views spread evenly over the sphere around the origin (a Fibonacci lattice: the
    i-th at height 1 - (2 i + 1) / count along +Z and golden-angle azimuths), looking at the
    origin from `radius`; elevations cover (-90, 90) without reaching the poles.
    """
def step_device_generator(seed: typing.SupportsInt, step: typing.SupportsInt, device: typing.Any, host: torch.Generator | None = None) -> torch.Generator:
    """
    `host` defaults to step_generator(seed, step).
    
    The generator of a step's draws on `device` (GuidanceInput::device_generator): on the CPU the
    step_generator itself, on a CUDA device a CUDA generator seeded from (seed, step).
    """
def step_generator(seed: typing.SupportsInt, step: typing.SupportsInt) -> torch.Generator:
    """
    The generator of 0-based training step `step` of a run seeded with `seed` (CPU); the Trainer
    draws the step's cameras, then the guidance's timesteps (and on a CPU run its noise), from it.
    """
def turntable_views(frames: typing.SupportsInt, elevation_deg: typing.SupportsFloat = 15.0, radius: typing.SupportsFloat = 3.0, fovy_deg: typing.SupportsFloat = 40.0, height: typing.SupportsInt = 64, width: typing.SupportsInt = 64) -> list[Camera]:
    """
    A turntable of `frames` views at one elevation, starting at azimuth 0 (the front).
    """
def variant_coverage(nearest: collections.abc.Sequence[typing.SupportsInt], nearest_db: collections.abc.Sequence[typing.SupportsFloat], threshold_db: typing.SupportsFloat) -> int:
    """
    How many distinct variants a set of runs reaches: the number of distinct `nearest[i]` over
    the runs with `nearest_db[i]` (their mean PSNR against that variant) >= `threshold_db`.
    """
def view_sector(azimuth_deg: typing.SupportsFloat, elevation_deg: typing.SupportsFloat, thresholds: ViewSectorThresholds = ...) -> str:
    """
    The view sector of a camera direction, threestudio's rule (last match wins): "side" always;
    "front" if |azimuth| < front; "back" if |azimuth| > 180 - back; "overhead" if
    elevation > overhead. Azimuth is wrapped to (-180, 180] first.
    """
