"""Time one training step (forward+backward, batch 32, the toy's image tokens) of the toy-sized
Flux and SD3 transformers, to choose the toy DiT's class (issue: Flux unless >2x slower).

    python bench/flux_vs_sd3_step.py
"""
import time

import torch
from diffusers import FluxTransformer2DModel, SD3Transformer2DModel

from massact.toy.model import ToyConfig, build_transformer, image_ids

torch.manual_seed(0)
B, T = 32, 12
cfg = ToyConfig()
flux = build_transformer(cfg)
sd3 = SD3Transformer2DModel(sample_size=cfg.image_size, patch_size=cfg.patch, in_channels=3, out_channels=3,
                            num_layers=cfg.num_double_layers + cfg.num_single_layers,
                            attention_head_dim=cfg.attention_head_dim, num_attention_heads=cfg.num_attention_heads,
                            joint_attention_dim=cfg.text_width, caption_projection_dim=cfg.width,
                            pooled_projection_dim=cfg.text_width,
                            pos_embed_max_size=cfg.image_size // cfg.patch)
text, pooled, t = torch.randn(B, T, cfg.text_width), torch.randn(B, cfg.text_width), torch.rand(B)


def step_flux():
    x = torch.randn(B, cfg.num_image_tokens, cfg.in_channels)
    out = flux(hidden_states=x, encoder_hidden_states=text, pooled_projections=pooled, timestep=t,
               img_ids=image_ids(cfg), txt_ids=torch.zeros(T, 3), return_dict=False)[0]
    out.square().mean().backward()


def step_sd3():
    x = torch.randn(B, 3, cfg.image_size, cfg.image_size)
    out = sd3(hidden_states=x, encoder_hidden_states=text, pooled_projections=pooled, timestep=t * 1000,
              return_dict=False)[0]
    out.square().mean().backward()


for name, fn, m in [("flux", step_flux, flux), ("sd3", step_sd3, sd3)]:
    n = sum(p.numel() for p in m.parameters()) / 1e6
    fn()
    ts = []
    for _ in range(5):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    print(f"{name}: {n:.2f}M params, train step median {sorted(ts)[2]:.3f} s (batch {B}, {cfg.num_image_tokens} image tokens, patch {cfg.patch})")
