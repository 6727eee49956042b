"""Analytic model FLOPs from Keras layer shapes (for ``caae-tf bench``'s achieved FLOP/s and MFU).

Counting rules (every assumption the benchmark's FLOP figures rest on):

* **Only multiply–accumulates of Conv/Dense layers are counted**, 1 MAC = 2 FLOPs. Bias adds,
  activations, BatchNorm, pooling, concatenation/tiling, resizing, losses and optimizer updates are
  ignored: they are O(activations) or O(parameters), a few % of the MACs for these networks, and the
  usual MFU convention (Kaplan et al. 2020; Chowdhery et al. 2022, PaLM App. B) counts matmul FLOPs only.
* Per example (batch dimension dropped), for a layer whose first call (its Keras *build*) saw input
  shape ``[N, *spatial_in, C_in]``:

  - ``Conv1D/2D/3D``: ``prod(spatial_out) · C_out · prod(kernel) · C_in / groups`` MACs (``spatial_out``
    from ``compute_output_shape``, i.e. the layer's strides/padding/dilation);
  - ``Conv*Transpose``: ``prod(spatial_in) · C_in · prod(kernel) · C_out`` MACs — every input pixel
    scatters a kernel-sized patch to every output channel (the transposed-conv equivalent of the conv
    count; contributions that 'same' padding crops away are still counted, as the hardware computes them);
  - ``DepthwiseConv2D``: ``prod(spatial_out) · C_in · multiplier · prod(kernel)``; ``SeparableConv2D``:
    depthwise + a 1×1 pointwise conv;
  - ``Dense``: ``prod(input_shape[1:-1]) · C_in · units``.

* Shapes come from each layer's build record (``layer._build_shapes_dict``, written by Keras 3 when a
  layer is first called), so a model must be **built at the resolution it runs at**; the batch size of the
  build call does not matter. A layer that was never called (e.g. VGG-Face's ``conv5_3``/fc layers when
  only features up to ``conv5_2`` are taken) contributes nothing, which is what such a forward computes.
  Shared layers are counted once per network walk; callers multiply by the number of calls.
* **Backward ≈ 2 × forward** for a network whose weights are trained: one pass for the input gradients
  (transposed convs/matmuls of the same size) and one for the weight gradients. A **frozen** network that
  only passes gradients through to its input (the identity network φ in L_iden) costs **≈ 1 × forward**
  backward. A training step of a trained network is therefore 3 × forward.

CAAE training step (paper 000, :meth:`caae_tf.models.caae.CAAE.train_step`), batch B, n = min(B,
``identity_images``) identity images, forward FLOPs per image F_E, F_G, F_Dimg, F_Dz, F_φ::

    3·B·(F_E + F_G)                 E, G: forward + backward
  + 3·2B·F_Dimg + 3·2B·F_Dz         D_img on (x, y) and (x_gen, y); D_z on z_prior and z: forward + backward
  + B·F_Dimg + B·F_Dz               the E+G loss back-propagates through D_img(x_gen) and D_z(z) a second
                                    time (input gradients only ≈ 1 × forward): the three gradients are
                                    separate ``tape.gradient`` calls
  + n·F_φ                           φ(x[:n]) on real images: forward only (stop_gradient)
  + n·2·F_φ                         φ(x_gen[:n]): forward + input-gradient backward (φ frozen)

cGAN training step (paper 001, :meth:`caae_tf.models.cgan.CGAN.train_step`), batch B::

    B·F_G + 2B·3·F_D                D update: G forward (stop_gradient), D on real + fake, forward + backward
  + 3·B·F_G + B·F_D + B·F_D         G update: G forward + backward, D forward + input-gradient backward
  = B·(4·F_G + 8·F_D)

Inference: the CAAE editor is E + G per image (§III-C: G(E(x), y)); the cGAN generator is G per image.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

__all__ = [
    "layer_macs",
    "walk_layers",
    "forward_flops",
    "flops_breakdown",
    "caae_network_flops",
    "caae_train_step_flops",
    "caae_edit_flops",
    "cgan_network_flops",
    "cgan_train_step_flops",
    "cgan_generate_flops",
    "matmul_flops",
    "BACKWARD_FACTOR",
    "FROZEN_BACKWARD_FACTOR",
]

#: backward FLOPs / forward FLOPs for a trained network (input + weight gradients)
BACKWARD_FACTOR = 2
#: backward FLOPs / forward FLOPs for a frozen network that passes gradients to its input only
FROZEN_BACKWARD_FACTOR = 1


def _keras():
    from caae_tf.tf_env import tf as _tf

    _tf()
    import keras

    return keras


def matmul_flops(m: int, n: int, k: int) -> int:
    """FLOPs of an [m, k] @ [k, n] matmul: 2·m·n·k."""
    return 2 * int(m) * int(n) * int(k)


def _input_shape(layer) -> tuple | None:
    shapes = getattr(layer, "_build_shapes_dict", None) or {}
    if not shapes:
        return None
    shape = next(iter(shapes.values()))
    if shape is None:
        return None
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        shape = shape[0]  # a layer called on several inputs: the first one
    return tuple(shape)


def _prod(xs: Iterable[Any]) -> int:
    return int(math.prod(int(x) for x in xs))


def layer_macs(layer) -> int:
    """Multiply–accumulates per example of one Conv/Dense layer (0 for other layers or an unbuilt one)."""
    keras = _keras()
    L = keras.layers
    shape = _input_shape(layer)
    if shape is None:
        return 0
    if any(d is None for d in shape[1:]):
        raise ValueError(f"{layer.name}: build shape {shape} has unknown non-batch dimensions; "
                         "build the model on a fixed-size input before counting FLOPs")
    if isinstance(layer, L.Dense):
        return _prod(shape[1:-1]) * int(shape[-1]) * int(layer.units)
    if isinstance(layer, (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)):
        return _prod(shape[1:-1]) * int(shape[-1]) * _prod(layer.kernel_size) * int(layer.filters)
    if isinstance(layer, L.SeparableConv2D):
        out = layer.compute_output_shape(shape)
        c_in, mult = int(shape[-1]), int(layer.depth_multiplier)
        # depthwise at the output resolution, then a 1x1 pointwise conv
        return _prod(out[1:-1]) * c_in * mult * _prod(layer.kernel_size) + _prod(out[1:-1]) * c_in * mult * int(
            layer.filters)
    if isinstance(layer, L.DepthwiseConv2D):
        out = layer.compute_output_shape(shape)
        return _prod(out[1:-1]) * int(shape[-1]) * int(layer.depth_multiplier) * _prod(layer.kernel_size)
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)):
        out = layer.compute_output_shape(shape)
        groups = int(getattr(layer, "groups", 1) or 1)
        return _prod(out[1:-1]) * int(layer.filters) * _prod(layer.kernel_size) * int(shape[-1]) // groups
    return 0


def walk_layers(model) -> list:
    """Every distinct sub-layer of ``model`` (recursively, each once, in tracking order; not ``model``)."""
    seen: set[int] = set()
    out = []

    def children(layer):
        if hasattr(layer, "_flatten_layers"):
            return list(layer._flatten_layers(include_self=False, recursive=False))
        return list(getattr(layer, "layers", []) or [])

    def visit(layer):
        for child in children(layer):
            if id(child) in seen:
                continue
            seen.add(id(child))
            out.append(child)
            visit(child)

    visit(model)
    return out


def flops_breakdown(model) -> list[dict[str, Any]]:
    """``[{"layer", "type", "input_shape", "macs", "flops"}]`` per example for every counted layer."""
    rows = []
    for layer in walk_layers(model):
        macs = layer_macs(layer)
        if macs:
            rows.append({"layer": layer.path if hasattr(layer, "path") else layer.name,
                         "type": type(layer).__name__, "input_shape": list(_input_shape(layer) or ()),
                         "macs": macs, "flops": 2 * macs})
    return rows


def forward_flops(model) -> int:
    """Forward FLOPs per example of a built Keras model/layer (2 × the Conv/Dense MACs, module docstring)."""
    if isinstance(model, (list, tuple)):
        return sum(forward_flops(m) for m in model)
    own = layer_macs(model)
    return 2 * (own + sum(layer_macs(layer) for layer in walk_layers(model)))


# ----------------------------------------------------------------------------------------------- CAAE

def caae_network_flops(model) -> dict[str, int]:
    """Forward FLOPs per image of E, G, D_img, D_z and the identity network φ (0 when absent)."""
    ident = getattr(model, "identity_net", None)
    return {
        "E": forward_flops(model.E),
        "G": forward_flops(model.G),
        "D_img": forward_flops(model.D_img),
        "D_z": forward_flops(model.D_z),
        "identity": forward_flops(ident) if ident is not None else 0,
    }


def caae_train_step_flops(model, batch_size: int) -> dict[str, Any]:
    """FLOPs of one CAAE training step at ``batch_size`` (formula in the module docstring).

    Returns ``{"total", "per_image", "networks": per-image forward FLOPs, "terms": FLOPs per term}``.
    """
    c = model.config
    B = int(batch_size)
    f = caae_network_flops(model)
    use_identity = c.identity_weight > 0 and getattr(model, "identity_net", None) is not None
    n_id = min(B, int(c.identity_images)) if use_identity else 0
    k = 1 + BACKWARD_FACTOR
    terms = {
        "E+G forward+backward": k * B * (f["E"] + f["G"]),
        "D_img real+fake forward+backward": k * 2 * B * f["D_img"],
        "D_z prior+z forward+backward": k * 2 * B * f["D_z"],
        "E+G loss through D_img(x_gen), D_z(z)": FROZEN_BACKWARD_FACTOR * B * (f["D_img"] + f["D_z"]),
        "identity real forward": n_id * f["identity"],
        "identity generated forward+input-grad": n_id * (1 + FROZEN_BACKWARD_FACTOR) * f["identity"],
    }
    total = int(sum(terms.values()))
    return {"total": total, "per_image": total / B, "networks": f, "terms": terms, "identity_images": n_id}


def caae_edit_flops(model) -> int:
    """FLOPs per edited image: E + G forward (x_gen = G(E(x), y))."""
    return forward_flops(model.E) + forward_flops(model.G)


# ----------------------------------------------------------------------------------------------- cGAN

def cgan_network_flops(model) -> dict[str, int]:
    """Forward FLOPs per image of the cGAN's G and D."""
    return {"G": forward_flops(model.G), "D": forward_flops(model.D)}


def cgan_train_step_flops(model, batch_size: int) -> dict[str, Any]:
    """FLOPs of one cGAN training step (one D then one G update) at ``batch_size``: B·(4·F_G + 8·F_D)."""
    B = int(batch_size)
    f = cgan_network_flops(model)
    k = 1 + BACKWARD_FACTOR
    terms = {
        "D step: G forward": B * f["G"],
        "D step: D real+fake forward+backward": k * 2 * B * f["D"],
        "G step: G forward+backward": k * B * f["G"],
        "G step: D forward+input-grad": (1 + FROZEN_BACKWARD_FACTOR) * B * f["D"],
    }
    total = int(sum(terms.values()))
    return {"total": total, "per_image": total / B, "networks": f, "terms": terms}


def cgan_generate_flops(model_or_generator) -> int:
    """FLOPs per generated image: G forward."""
    g = getattr(model_or_generator, "G", model_or_generator)
    return forward_flops(g)
