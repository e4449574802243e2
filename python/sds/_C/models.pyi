"""
Native ports of diffusers / transformers models, loaded from their folders
"""
from __future__ import annotations
import collections.abc
import os
import torch
import typing
__all__: list[str] = ['AutoencoderKL', 'CLIPTextModel', 'CLIPTokenizer', 'CLIPTokenizerOptions', 'UNet2DConditionModel', 'read_safetensors', 'write_safetensors']
class UNet2DConditionModel:
    """
    The conditional UNet: eps (or v) = unet(x_t, t, text embeddings[, class labels]).
    """
    @staticmethod
    def from_config(config: dict) -> UNet2DConditionModel:
        """
        From a config.json object (after `read_model_config`). Unsupported block types and options
        (SDXL's added embeddings, dual cross-attention, ...) are an sds::Error that names them.
        """
    @staticmethod
    def load(folder: os.PathLike | str | bytes, variant: str = '') -> UNet2DConditionModel:
        """
        Loads `folder` (a diffusers `unet/` folder: config.json and safetensors weights, `variant`
        "" or "fp16") into a UNet on the CPU in float32.
        """
    def __call__(self, sample: torch.Tensor, timesteps: torch.Tensor, encoder_hidden_states: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """
        sample `[B, in_channels, h, w]`; timesteps `[B]` or a 0-dim tensor (any numeric dtype, on
        any device); encoder_hidden_states `[B, S, cross_attention_dim]`; class_labels required
        exactly when the model has a class embedding (`[B, input_dim]` for "projection", `[B]` for
        "timestep" and ids). `added_embedding` `[B, time_embed_dim]`, when defined, is added to the
        time embedding as a class embedding's output would be (a condition computed outside, such
        as VSD's camera embedding). Returns `[B, out_channels, h, w]`.
        """
    def add_class_embedding(self, input_dim: typing.SupportsInt, generator: torch.Generator | None = None) -> None:
        """
        Adds a "projection" class embedding (TimestepEmbedding from `input_dim` to the time
        embedding width, default nn.Linear-style init from `generator`) whose output is added to
        the time embedding: the hook for ProlificDreamer's camera condition. An existing class
        embedding is an sds::Error.
        """
    def named_parameters(self) -> dict[str, torch.Tensor]:
        """
        The parameters by their checkpoint names (the tensors themselves, not copies).
        """
    def num_parameters(self) -> int:
        """
        The number of parameter values.
        """
    def randomize_parameters(self, seed: typing.SupportsInt, std: typing.SupportsFloat = 0.02) -> UNet2DConditionModel:
        """
        Fills every floating parameter of `module` with N(0, std^2) (norm scales with 1 + N(0, std^2))
        from a generator seeded with `seed`, in a fixed order: a stand-in for trained weights in
        tests and benchmarks.
        """
    def requires_grad_(self, requires_grad: bool = True) -> UNet2DConditionModel:
        """
        Sets requires_grad of every parameter.
        """
    def to(self, device: typing.Any = None, dtype: torch.dtype | None = None) -> UNet2DConditionModel:
        """
        Moves (and casts) the parameters in place; returns the module.
        """
class AutoencoderKL:
    """
    The KL autoencoder: images in [-1, 1] to latents (the UNet's input is the latent times
    `scaling_factor`) and back.
    """
    @staticmethod
    def load(folder: os.PathLike | str | bytes, variant: str = '') -> AutoencoderKL:
        """
        Loads `folder` (a diffusers `vae/` folder) into an AutoencoderKL on the CPU in float32,
        renaming the old attention keys (`query`, `key`, `value`, `proj_attn`, stored as 1x1
        convolutions or linear weights) as diffusers does.
        """
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """
        Unscaled latents `[B, latent_channels, h, w]` -> images `[B, out_channels, h f, w f]`.
        """
    def encode(self, x: torch.Tensor) -> tuple:
        """
        x [B, C, H, W] in [-1, 1] -> (mean, logvar) of the unscaled latents.
        """
    def named_parameters(self) -> dict[str, torch.Tensor]:
        """
        The parameters by their checkpoint names (the tensors themselves, not copies).
        """
    def num_parameters(self) -> int:
        """
        The number of parameter values.
        """
    def randomize_parameters(self, seed: typing.SupportsInt, std: typing.SupportsFloat = 0.02) -> AutoencoderKL:
        """
        Fills every floating parameter of `module` with N(0, std^2) (norm scales with 1 + N(0, std^2))
        from a generator seeded with `seed`, in a fixed order: a stand-in for trained weights in
        tests and benchmarks.
        """
    def requires_grad_(self, requires_grad: bool = True) -> AutoencoderKL:
        """
        Sets requires_grad of every parameter.
        """
    def to(self, device: typing.Any = None, dtype: torch.dtype | None = None) -> AutoencoderKL:
        """
        Moves (and casts) the parameters in place; returns the module.
        """
    @property
    def scaling_factor(self) -> float:
        """
        the UNet sees latents times this factor
        """
class CLIPTextModel:
    """
    The CLIP text transformer: token + position embeddings, causal encoder layers, final layer
    norm.
    """
    @staticmethod
    def load(folder: os.PathLike | str | bytes, variant: str = '') -> CLIPTextModel:
        """
        Loads `folder` (a transformers `text_encoder/` folder) into a CLIPTextModel on the CPU in
        float32. Keys with the `text_model.` prefix (files saved by transformers 4) are accepted, and
        the old `position_ids` buffer is ignored.
        """
    def __call__(self, ids: torch.Tensor, skip_layers: typing.SupportsInt = 0) -> torch.Tensor:
        """
        ids `[B, L]` (int64, L <= max_position_embeddings) -> hidden states `[B, L, hidden_size]`
        after the final layer norm. `skip_layers` = k > 0 stops k layers early and then applies the
        final layer norm (diffusers' `clip_skip`).
        """
    def named_parameters(self) -> dict[str, torch.Tensor]:
        """
        The parameters by their checkpoint names (the tensors themselves, not copies).
        """
    def num_parameters(self) -> int:
        """
        The number of parameter values.
        """
    def randomize_parameters(self, seed: typing.SupportsInt, std: typing.SupportsFloat = 0.02) -> CLIPTextModel:
        """
        Fills every floating parameter of `module` with N(0, std^2) (norm scales with 1 + N(0, std^2))
        from a generator seeded with `seed`, in a fixed order: a stand-in for trained weights in
        tests and benchmarks.
        """
    def requires_grad_(self, requires_grad: bool = True) -> CLIPTextModel:
        """
        Sets requires_grad of every parameter.
        """
    def to(self, device: typing.Any = None, dtype: torch.dtype | None = None) -> CLIPTextModel:
        """
        Moves (and casts) the parameters in place; returns the module.
        """
class CLIPTokenizerOptions:
    """
    The special tokens and length of a CLIPTokenizer (transformers' defaults; SD 2 pads with "!").
    """
    bos_token: str
    eos_token: str
    pad_token: str
    unk_token: str
    def __init__(self) -> None:
        ...
    @property
    def model_max_length(self) -> int:
        ...
    @model_max_length.setter
    def model_max_length(self, arg0: typing.SupportsInt) -> None:
        ...
class CLIPTokenizer:
    """
    A CLIP tokenizer over a vocabulary (token -> id) and ranked BPE merges. Thread-safe.
    """
    @staticmethod
    def load(folder: os.PathLike | str | bytes, fallback_max_length: typing.SupportsInt = 77) -> CLIPTokenizer:
        """
        Loads a transformers `tokenizer/` folder: `tokenizer.json`, or `vocab.json` + `merges.txt`,
        with the special tokens and length of `tokenizer_config.json` / `special_tokens_map.json`.
        A `model_max_length` that is absent or absurd (transformers writes 1e30 when none was
        given) becomes `fallback_max_length` (the text encoder's positions).
        """
    def __init__(self, vocab: collections.abc.Mapping[str, typing.SupportsInt], merges: collections.abc.Sequence[tuple[str, str]], options: CLIPTokenizerOptions = ..., added_tokens: collections.abc.Sequence[str] = []) -> None:
        """
        `added_tokens`: tokens matched verbatim in the raw text before anything else (the special
        tokens of `options` always are). Every special and added token must be in `vocab`.
        """
    def encode(self, prompts: collections.abc.Sequence[str]) -> torch.Tensor:
        """
        `[B, model_max_length]` int64: BOS, the first model_max_length - 2 ids of each prompt, EOS,
        then padding (transformers' padding="max_length", truncation=True).
        """
    def tokenize(self, text: str) -> list[int]:
        """
        The ids of `text` without BOS, EOS, truncation or padding. Invalid UTF-8 is an sds::Error.
        """
    @property
    def bos_id(self) -> int:
        ...
    @property
    def eos_id(self) -> int:
        ...
    @property
    def model_max_length(self) -> int:
        ...
    @property
    def pad_id(self) -> int:
        ...
    @property
    def vocab_size(self) -> int:
        ...
def read_safetensors(path: os.PathLike | str | bytes) -> dict[str, torch.Tensor]:
    """
    Every tensor of a file, by name (CPU, stored dtypes).
    """
def write_safetensors(path: os.PathLike | str | bytes, tensors: collections.abc.Mapping[str, torch.Tensor], metadata: collections.abc.Mapping[str, str] = {}) -> None:
    """
    Writes `tensors` (any device and dtype that safetensors has; copied to contiguous CPU memory)
    atomically, laid out as the reference writer does: the header padded with spaces to a multiple
    of 8 bytes and tensors ordered by dtype size, then by name, so that each is aligned.
    """
