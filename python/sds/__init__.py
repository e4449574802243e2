"""sds: score-distillation losses for text-to-3D and image-to-3D, on a C++/LibTorch core.

    import torch, sds
    prior = sds.ExactPrior(conditioning="camera")
    guidance = sds.make_guidance({"type": "sds"}, prior=prior, prompt="a red mug")
    sampler = sds.OrbitSampler(height=64, width=64, batch_size=4)
    cams = sampler.sample(0, generator=torch.Generator().manual_seed(0))
    out = guidance(my_render(cams), cams, step=0, total_steps=100)
    out.loss.backward()

Every part is built from a dict with the keys of the JSON configs (docs/python.md); bad input
raises sds.Error with the C++ message.
"""
import os as _os

import torch as _torch  # loads libtorch before the extension that links it

from . import _C
from ._C import *  # noqa: F401,F403
from ._C import Error
from . import ops  # noqa: F401
from ._progress import progress_bar as _progress_bar

__all__ = [name for name in dir(_C) if not name.startswith("_")] + [
    "ops", "generate", "evaluate", "Trainer"]


class Trainer(_C.Trainer):
    __doc__ = _C.Trainer.__doc__

    def train(self, on_step=None, progress=True):
        """Runs the remaining steps; `on_step(info)` gets each step's dict (step, total_steps,
        loss, metrics). Shows a progress bar (tqdm where installed) unless `progress` is False.
        Returns the last step's dict."""
        info = None
        with _progress_bar(self.total_steps, self.steps_done, enabled=progress) as bar:
            while self.steps_done < self.total_steps:
                info = self.step()
                bar.update(info)
                if on_step is not None:
                    on_step(info)
        return info


def generate(config, out_dir, *, resume=False, exports=(), turntable=True, on_step=None,
             progress=True):
    """Runs the main job of `sds generate` on a config (a dict with the keys of
    examples/configs/*.json, or a path to such a file) into the run folder `out_dir`.

    Returns a dict: run_dir, held_out (mean, min and per_view PSNR at the exact prior's 24
    held-out views; None without the exact prior, which alone has ground truth; for a concept
    family, against its nearest variant), family (None, or variant_mean_db, nearest and
    family_mean_db), geometry_iou, geometry_precision and geometry_recall (or None),
    held_out_rgb (or None), progress [(step, psnr)], steps, seconds and exported (the files written for `exports`: "ply", "obj", "mesh_ply")."""
    if isinstance(config, (str, _os.PathLike)):
        config = _C.read_config(_os.fspath(config))
    # The bar learns the run's length from the first step (the config's default lives in C++).
    with _progress_bar(None, 0, enabled=progress) as bar:
        def step(info):
            bar.update(info)
            if on_step is not None:
                on_step(info)
        return _C._generate(config, _os.fspath(out_dir), resume, list(exports), turntable, step)


def evaluate(configs, out, *, seeds=3, concepts=(), threshold_db=18.0, coverage_db=24.0,
             small=False, log=None, progress=True):
    """`sds eval`: every config (paths) on every concept and seed, scored against ground truth.
    Writes out/results.md and out/results.json and returns the table as a dict (runs, cells,
    options, markdown). A family's run reaches its nearest variant at `coverage_db`. `log(line)` gets one line per finished run; the progress bar counts
    runs (tqdm where installed)."""
    with _progress_bar(None, 0, enabled=progress, unit="run") as bar:
        def finished(line):
            bar.log(line)
            if log is not None:
                log(line)
        return _C._evaluate([_os.fspath(c) for c in configs], seeds, _os.fspath(out),
                            list(concepts), threshold_db, coverage_db, small, finished)
