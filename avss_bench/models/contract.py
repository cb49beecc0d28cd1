"""The Separator contract, checked where a model's output enters our code.

A separator maps `mixture [B, T]` (and lips) to one estimate `[B, T]`, floating point, finite.
A plugin that returns `[B, 1, T]`, a shorter signal or NaN would otherwise be broadcast by a
loss or crash deep inside a metric; `check_separator_output` stops it on the first batch of
`train`, `evaluate`, `profile` and `separate` with one line naming the model and the shape
it should have returned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from avss_bench.core.errors import AvssError


def check_separator_output(output: object, mixture: torch.Tensor, model: str,
                           path: object | None = None) -> torch.Tensor:
    """Return `output` if it honours the contract for `mixture`, else raise AvssError.

    Args:
        output: what the separator's forward returned.
        mixture: the `[B, T]` input it was given.
        model: the separator's name (registered name or import path), for the message.
        path: the file the error should name (a checkpoint, a manifest), if any.
    """
    expected = f"[B, T] = {list(mixture.shape)}"
    prefix = f"separator '{model}' broke the Separator contract: "
    if not isinstance(output, torch.Tensor):
        raise AvssError(f"{prefix}returned {type(output).__name__}, expected a tensor "
                        f"{expected}", path)
    if output.dim() != 2 or output.shape[0] != mixture.shape[0]:
        raise AvssError(f"{prefix}returned shape {list(output.shape)}, expected {expected}", path)
    if output.shape[1] != mixture.shape[1]:
        raise AvssError(f"{prefix}returned {output.shape[1]} samples for a {mixture.shape[1]}-"
                        f"sample mixture, expected {expected}", path)
    if not output.is_floating_point():
        raise AvssError(f"{prefix}returned dtype {output.dtype}, expected a floating-point "
                        f"tensor {expected}", path)
    if not bool(torch.isfinite(output).all()):
        bad = int((~torch.isfinite(output)).sum())
        raise AvssError(f"{prefix}returned {bad} non-finite values (NaN/inf) in a "
                        f"{list(output.shape)} estimate", path)
    return output


def is_trainable(model: torch.nn.Module) -> bool:
    """Whether the separator has weights of its own to learn (beyond a frozen front-end)."""
    return any(p.requires_grad for p in model.parameters())


#: what sets the input of evaluate, train and robustness when a first forward fails
LIP_ROWS_HINT = "--lip-rows / data.lip_rows sets the crop height, 88 the full crop"


@contextlib.contextmanager
def first_forward(model: str, lips: torch.Tensor | None, first: bool = True,
                  path: object | None = None, hint: str = LIP_ROWS_HINT) -> Iterator[None]:
    """Around a separator's first forward pass: an input the model cannot take (a lip crop too
    small for its convolutions, `--lip-rows 1`; a mixture too short for it) is one line
    naming the model, the lips' shape and `hint` (the option that sets the input), not a
    traceback from deep inside it. Later batches
    (`first=False`) keep their tracebacks: a failure there is a bug."""
    if not first:
        yield
        return
    try:
        yield
    except (RuntimeError, ValueError) as err:
        if "out of memory" in str(err).lower():
            raise
        shape = "no lips" if lips is None else f"lips {list(lips.shape)}"
        raise AvssError(f"separator '{model}' cannot run on this input ({shape}; {hint}): "
                        f"{str(err).splitlines()[0]}", path) from None
