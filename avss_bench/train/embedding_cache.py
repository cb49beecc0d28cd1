"""Lip embeddings of a frozen visual encoder, computed once and reused across epochs.

A frozen front-end (no trained parameter, no BatchNorm or Dropout in training mode) maps the same
lips to the same embedding every epoch; without random lip augmentation the lips of an item are
the same every epoch too, so its embedding can be kept. `train --cache-lip-embeddings` then
trains `separate(mixture, cached embedding)` instead of `forward(mixture, lips)`.

Keys are made like the lips' own identity: a digest of the cropped, normalised lip tensor an item
yields (so the lips file, its frames and the crop settings are all in it) and of the front-end's
weights. Each item is embedded alone (batch 1), so its embedding does not depend on which batch
it first appeared in, and a resumed run gets the same numbers as an uninterrupted one.
Embeddings are held in memory up to a bound; items beyond it are embedded every time (counted).
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

from avss_bench.core.errors import AvssError

#: Default bound on the cached embeddings (float32, on the CPU).
LIMIT_MB = 2048.0


def state_digest(module: nn.Module) -> str:
    """sha256 over a module's state dict (names, shapes, dtypes and values)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}\0{list(value.shape)}\0{value.dtype}\n".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def why_not_cacheable(model: nn.Module, lip_augment: bool) -> str | None:
    """Why the embeddings of `model`'s visual encoder cannot be cached (None: they can)."""
    if lip_augment:
        return "random lip augmentation is on (data.lip_augment=true): lips differ every epoch"
    if not (callable(getattr(model, "separate", None))
            and callable(getattr(model, "embed_lips", None))):
        return "the separator has no separate() and embed_lips() hooks"
    frontend = getattr(model, "lip_frontend", None)
    if not isinstance(frontend, nn.Module):
        return "the separator has no lip_frontend module"
    if any(p.requires_grad for p in frontend.parameters()):
        return "its visual encoder is trained with the separator"
    was_training = model.training
    model.train()
    moving = [name for name, m in frontend.named_modules()
              if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd))
              and m.training]
    model.train(was_training)
    if moving:
        return (f"its visual encoder behaves differently in training ({moving[0]} uses batch "
                "statistics or dropout)")
    return None


class LipEmbeddingCache:
    """Embeddings by lips digest, for one frozen visual encoder."""

    def __init__(self, model: nn.Module, limit_mb: float = LIMIT_MB) -> None:
        self.frontend_digest = state_digest(model.lip_frontend)
        self.limit_bytes = int(limit_mb * 2**20)
        self.store: dict[str, torch.Tensor] = {}
        self.stored_bytes = 0
        self.hits = self.misses = self.over_limit = 0

    def key(self, lips: torch.Tensor) -> str:
        value = lips.detach().cpu().contiguous()
        digest = hashlib.blake2b(digest_size=20)
        digest.update(f"{self.frontend_digest}\0{list(value.shape)}\0{value.dtype}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()

    def embed(self, model: nn.Module, lips: torch.Tensor) -> torch.Tensor:
        """`model.embed_lips(lips)` item by item, each computed once."""
        out = []
        for one in lips.split(1):
            key = self.key(one)
            cached = self.store.get(key)
            if cached is not None:
                self.hits += 1
                out.append(cached.to(lips.device))
                continue
            self.misses += 1
            with torch.no_grad():
                embedding = model.embed_lips(one)
            size = embedding.numel() * embedding.element_size()
            if self.stored_bytes + size <= self.limit_bytes:
                self.store[key] = embedding.detach().cpu()
                self.stored_bytes += size
            else:
                self.over_limit += 1
            out.append(embedding)
        return torch.cat(out)

    def stats(self) -> dict[str, Any]:
        return {"hits": self.hits, "misses": self.misses, "not_stored": self.over_limit,
                "stored_mb": round(self.stored_bytes / 2**20, 1)}


class CachedLipsForward(nn.Module):
    """`forward(mixture, lips) = model.separate(mixture, cache.embed(lips))`: what training runs
    (and DDP wraps) when the cache is on; the separator's own weights are unchanged."""

    def __init__(self, model: nn.Module, cache: LipEmbeddingCache) -> None:
        super().__init__()
        self.model = model
        self.cache = cache

    def forward(self, mixture: torch.Tensor, lips: torch.Tensor) -> torch.Tensor:
        return self.model.separate(mixture, self.cache.embed(self.model, lips.to(mixture.dtype)))


def cached_forward(model: nn.Module, lip_augment: bool, name: str,
                   limit_mb: float = LIMIT_MB) -> CachedLipsForward:
    """The cached training forward for `model`, or a one-line error saying why it cannot be."""
    reason = why_not_cacheable(model, lip_augment)
    if reason is not None:
        raise AvssError(f"cannot cache the lip embeddings of '{name}': {reason}")
    return CachedLipsForward(model, LipEmbeddingCache(model, limit_mb))
