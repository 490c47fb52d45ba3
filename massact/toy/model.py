"""The embedded toy text-to-image model: a tiny FluxTransformer2DModel and its text encoder.

Pixels go straight into the transformer (no VAE): a 32x32 RGB image is cut into 4x4
patches, giving an 8x8 grid of 64 image tokens of 48 channels, the way FLUX pipelines pack
their latents (FLUX.1 packs 2x2 patches of a 16-channel latent: 64 channels per token,
each token covering 16x16 pixels). Patch 4 rather than 2 makes a training step about 3.5x
cheaper on a CPU, which bought the training steps that shape needs (with patch 2 the
model still drew blobs after 1,800 steps). The text encoder is a two-layer transformer over the toy vocabulary,
trained jointly with the DiT. Sampling is the rectified-flow Euler sampler with
classifier-free guidance (the unconditional prompt is the empty caption).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, asdict
from pathlib import Path

import torch
from torch import nn

from . import world

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class ToyConfig:
    image_size: int = world.IMAGE_SIZE
    patch: int = 4
    num_double_layers: int = 3
    num_single_layers: int = 4
    num_attention_heads: int = 4
    attention_head_dim: int = 32
    text_width: int = 64
    text_layers: int = 2
    axes_dims_rope: tuple[int, int, int] = (8, 12, 12)

    @property
    def width(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    @property
    def num_image_tokens(self) -> int:
        return (self.image_size // self.patch) ** 2

    @property
    def in_channels(self) -> int:
        return 3 * self.patch * self.patch


class ToyTextEncoder(nn.Module):
    """Word ids (B, T) -> per-token states (B, T, text_width) and a pooled vector (B, text_width)."""

    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.embed = nn.Embedding(len(world.VOCABULARY), cfg.text_width)
        self.pos = nn.Parameter(torch.zeros(1, world.MAX_CAPTION_TOKENS, cfg.text_width))
        layer = nn.TransformerEncoderLayer(cfg.text_width, nhead=4, dim_feedforward=2 * cfg.text_width,
                                           dropout=0.0, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, cfg.text_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.text_width)
        self.pool = nn.Linear(cfg.text_width, cfg.text_width)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.norm(self.layers(self.embed(ids) + self.pos[:, : ids.shape[1]]))
        return h, self.pool(h.mean(dim=1))


def build_transformer(cfg: ToyConfig):
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=cfg.in_channels,
        num_layers=cfg.num_double_layers,
        num_single_layers=cfg.num_single_layers,
        attention_head_dim=cfg.attention_head_dim,
        num_attention_heads=cfg.num_attention_heads,
        joint_attention_dim=cfg.text_width,
        pooled_projection_dim=cfg.text_width,
        guidance_embeds=False,
        axes_dims_rope=cfg.axes_dims_rope,
    )


def pack(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, 3, H, W) -> (B, H/p * W/p, 3*p*p), row-major tokens, as FLUX packs latents."""
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (h // patch) * (w // patch), c * patch * patch)


def unpack(tokens: torch.Tensor, patch: int, size: int) -> torch.Tensor:
    b = tokens.shape[0]
    g = size // patch
    x = tokens.reshape(b, g, g, 3, patch, patch)
    return x.permute(0, 3, 1, 4, 2, 5).reshape(b, 3, size, size)


def image_ids(cfg: ToyConfig) -> torch.Tensor:
    g = cfg.image_size // cfg.patch
    ids = torch.zeros(g, g, 3)
    ids[..., 1] = torch.arange(g)[:, None]
    ids[..., 2] = torch.arange(g)[None, :]
    return ids.reshape(g * g, 3)


class ToyDiT(nn.Module):
    """Text encoder + FluxTransformer2DModel; predicts the rectified-flow velocity (noise - image)."""

    def __init__(self, cfg: ToyConfig = ToyConfig()):
        super().__init__()
        self.cfg = cfg
        self.text_encoder = ToyTextEncoder(cfg)
        self.transformer = build_transformer(cfg)
        self.register_buffer("img_ids", image_ids(cfg), persistent=False)
        self.register_buffer("txt_ids", torch.zeros(world.MAX_CAPTION_TOKENS, 3), persistent=False)

    def encode(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.from_numpy(world.tokenize(captions)).to(self.img_ids.device)
        return self.text_encoder(ids)

    def velocity(self, x_tokens: torch.Tensor, t: torch.Tensor, text: torch.Tensor, pooled: torch.Tensor):
        """x_tokens (B, N, C) at time t (B,) in [0, 1] (1 = pure noise)."""
        return self.transformer(
            hidden_states=x_tokens,
            encoder_hidden_states=text,
            pooled_projections=pooled,
            timestep=t,
            img_ids=self.img_ids,
            txt_ids=self.txt_ids,
            return_dict=False,
        )[0]


def initial_noise(seeds: list[int], cfg: ToyConfig) -> torch.Tensor:
    """One torch.Generator('cpu') per image, so an image depends only on its own seed."""
    out = []
    for s in seeds:
        g = torch.Generator("cpu").manual_seed(int(s))
        out.append(torch.randn(1, 3, cfg.image_size, cfg.image_size, generator=g))
    return torch.cat(out)


def timesteps(num_steps: int, shift: float = 1.0) -> torch.Tensor:
    """num_steps+1 times from 1 (noise) to 0 (image); shift>1 spends more steps at high noise."""
    t = torch.linspace(1.0, 0.0, num_steps + 1)
    return shift * t / (1 + (shift - 1) * t)


def save_weights(model: ToyDiT, path: Path, extra: dict | None = None) -> None:
    from safetensors.torch import save_file

    meta = {"config": json.dumps(asdict(model.cfg))}
    if extra:
        meta.update({k: json.dumps(v) for k, v in extra.items()})
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(path), metadata=meta)


def load_weights(path: Path | str | None = None) -> ToyDiT:
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path) if path else WEIGHTS_DIR / "toy_dit.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"toy weights not found at {path}; train them with `python -m massact.toy.train`")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    cfg_dict = json.loads(meta.get("config", "{}"))
    if "axes_dims_rope" in cfg_dict:
        cfg_dict["axes_dims_rope"] = tuple(cfg_dict["axes_dims_rope"])
    model = ToyDiT(ToyConfig(**cfg_dict))
    model.load_state_dict(load_file(str(path)))
    return model.eval()
