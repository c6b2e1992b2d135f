"""numpy -> device arrays, once per fit."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .backend import use_float64

__all__ = ["on_device", "as_float"]


def on_device(a, dtype=None) -> jnp.ndarray:
    """A numpy array (or scalar) as a jax array, converted to ``dtype`` in numpy first, by a plain transfer:
    ``jnp.asarray`` of a numpy array compiles a small program per shape and dtype in each process
    (``lax.stage`` or a conversion: 10-40 ms each of a fresh fit). Switches jax to 64-bit floats first
    (:func:`.backend.use_float64`)."""
    use_float64()
    return jax.device_put(np.asarray(a, dtype=dtype))


def as_float(a):
    """A float array on the device, or None."""
    return None if a is None else on_device(a, float)
