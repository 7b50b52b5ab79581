"""Spatial transformer layers (Jaderberg et al., 2015): ``TransformerLayer`` (an affine map) and
``TPSTransformerLayer`` (a thin plate spline), each resampling its input image at the points
that a localization network chooses, with ``symdl.tensor.nnet.bilinear_sample``.

Both are merge layers of ``[image layer, localization layer]`` and are also importable from
``symdl.layers.special``, where Lasagne keeps them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import symdl.tensor as T
from symdl.layers.base import MergeLayer
from symdl.tensor.nnet.sampling import BORDER_MODES, affine_grid, bilinear_sample, linspace_minus1_1
from symdl.tensor.shape import shape_i
from symdl.utils import as_tuple

__all__ = ["TransformerLayer", "TPSTransformerLayer"]


def _check_border_mode(layer: MergeLayer, border_mode: str) -> str:
    if border_mode not in BORDER_MODES:
        raise ValueError(f"{type(layer).__name__}: border_mode must be one of {BORDER_MODES}, got {border_mode!r}")
    return border_mode


def _check_image_shape(layer: MergeLayer, shape: tuple) -> None:
    if len(shape) != 4:
        raise ValueError(
            f"{type(layer).__name__}: the input layer must have a 4-dimensional output shape (batch_size, "
            f"num_input_channels, input_rows, input_columns), got {shape}"
        )


def _output_size(size: Any, factor: float) -> Any:
    """``size // factor`` as an int (or an int64 scalar for a symbolic size), as Lasagne."""
    if isinstance(size, int | np.integer):
        return int(size // factor)
    return T.cast(T.floor_div(size, factor), "int64")


def _downsampled_shape(shape: tuple, factors: tuple) -> tuple:
    return tuple(shape[:2]) + tuple(None if s is None else int(s // f) for s, f in zip(shape[2:], factors))


def _output_sizes(input: Any, factors: tuple) -> tuple:
    sizes = [input.type.shape[axis] if input.type.shape[axis] is not None else shape_i(input, axis) for axis in (2, 3)]
    return tuple(_output_size(s, f) for s, f in zip(sizes, factors))


class TransformerLayer(MergeLayer):
    """Spatial transformer with an affine map: each output pixel ``(x_t, y_t)`` (on a regular grid
    over [-1, 1]^2) reads the input by bilinear interpolation at ``A @ (x_t, y_t, 1)``, where the
    2x3 matrix ``A`` is the localization network's output ``(t1, ..., t6)`` for that example.

    Parameters
    ----------
    incoming : Layer or tuple
        The images, ``(batch, channels, rows, cols)``.
    localization_network : Layer
        Its output, ``(batch, 6)``, gives the maps: ``t1``, ``t5`` scale, ``t2``, ``t4`` shear,
        ``t3``, ``t6`` translate. Start it at the identity ``(1, 0, 0, 0, 1, 0)`` (zero weights and
        that bias) with a linear output.
    downsample_factor : float or pair of floats
        The output has ``rows // factor`` rows and ``cols // factor`` columns (below 1 upsamples).
    border_mode : 'nearest', 'mirror' or 'wrap'
        What points outside the image read (see ``bilinear_sample``).

    Examples
    --------
    >>> import numpy as np
    >>> from symdl import init, layers
    >>> l_in = layers.InputLayer((None, 3, 28, 28))
    >>> b = np.float32([1, 0, 0, 0, 1, 0])
    >>> l_loc = layers.DenseLayer(l_in, 6, W=init.Constant(0.0), b=b, nonlinearity=None)
    >>> layers.TransformerLayer(l_in, l_loc, downsample_factor=2).output_shape
    (None, 3, 14, 14)
    """

    def __init__(
        self,
        incoming: Any,
        localization_network: Any,
        downsample_factor: Any = 1,
        border_mode: str = "nearest",
        **kwargs: Any,
    ):
        super().__init__([incoming, localization_network], **kwargs)
        self.downsample_factor = as_tuple(downsample_factor, 2)
        self.border_mode = _check_border_mode(self, border_mode)
        input_shape, loc_shape = self.input_shapes
        if len(loc_shape) != 2 or loc_shape[-1] != 6:
            raise ValueError(
                f"TransformerLayer: the localization network must have output shape (batch_size, 6), got {loc_shape}"
            )
        _check_image_shape(self, input_shape)

    def get_output_shape_for(self, input_shapes: list[tuple]) -> tuple:  # type: ignore[override]
        return _downsampled_shape(input_shapes[0], self.downsample_factor)

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        input, theta = (T.as_tensor_variable(v) for v in inputs)
        rows, cols = _output_sizes(input, self.downsample_factor)
        return bilinear_sample(input, affine_grid(theta, rows, cols), self.border_mode)


def _thin_plate_kernel(r2: np.ndarray) -> np.ndarray:
    """Bookstein's U as a function of the squared distance: ``r^2 log r^2`` (0 at 0)."""
    return r2 * np.log(np.where(r2 == 0, 1.0, r2))


class TPSTransformerLayer(MergeLayer):
    """Spatial transformer with a thin plate spline (Bookstein, 1989): ``control_points`` points on
    a regular grid over the image move by the offsets the localization network outputs, and the
    smoothest map (least bending energy) that takes them there, an affine part plus radial
    terms, gives each output pixel its reading position in the input (bilinear interpolation).

    Parameters
    ----------
    incoming : Layer or tuple
        The images, ``(batch, channels, rows, cols)``.
    localization_network : Layer
        Its output, ``(batch, 2 * control_points)``, holds the x offsets of the control points then
        their y offsets (in the [-1, 1] coordinates of the image); zeros give the identity.
    downsample_factor : float or pair of floats
        As in ``TransformerLayer``.
    control_points : int
        The number of control points, a perfect square (they form a square grid).
    precompute_grid : 'auto' or bool
        Compute the spline's radial terms at the output pixels once, at construction (needs the
        image size; 'auto' does it when the size is known), rather than in the graph.
    border_mode : 'nearest', 'mirror' or 'wrap'
        What points outside the image read.

    Examples
    --------
    >>> from symdl import init, layers
    >>> l_in = layers.InputLayer((None, 3, 28, 28))
    >>> l_loc = layers.DenseLayer(l_in, 2 * 16, W=init.Constant(0.0), nonlinearity=None)
    >>> layers.TPSTransformerLayer(l_in, l_loc, control_points=16).output_shape
    (None, 3, 28, 28)
    """

    def __init__(
        self,
        incoming: Any,
        localization_network: Any,
        downsample_factor: Any = 1,
        control_points: int = 16,
        precompute_grid: Any = "auto",
        border_mode: str = "nearest",
        **kwargs: Any,
    ):
        super().__init__([incoming, localization_network], **kwargs)
        self.downsample_factor = as_tuple(downsample_factor, 2)
        self.border_mode = _check_border_mode(self, border_mode)
        self.control_points = control_points
        input_shape, loc_shape = self.input_shapes
        if len(loc_shape) != 2 or loc_shape[-1] != 2 * control_points:
            raise ValueError(
                f"TPSTransformerLayer: the localization network must have output shape (batch_size, "
                f"2 * control_points) = (batch_size, {2 * control_points}), got {loc_shape}"
            )
        side = math.isqrt(control_points)
        if side * side != control_points:
            raise ValueError(
                f"TPSTransformerLayer: the number of control points must be a perfect square, got {control_points}"
            )
        _check_image_shape(self, input_shape)
        known_size = all(s is not None for s in input_shape[2:])
        if precompute_grid == "auto":
            precompute_grid = known_size
        elif precompute_grid and not known_size:
            raise ValueError(
                f"TPSTransformerLayer: the grid can only be precomputed if the input rows and columns are known, "
                f"got input shape {input_shape}"
            )
        self.precompute_grid = bool(precompute_grid)
        # Source points: 2 x control_points, x then y, on a side x side grid over [-1, 1]^2.
        axis = np.linspace(-1, 1, side)
        xs, ys = np.meshgrid(axis, axis)
        self.source_points = np.stack([xs.ravel(), ys.ravel()])
        # The spline's system [[K, P], [P^T, 0]] (kept in float64: it is badly conditioned).
        n = control_points
        system = np.zeros((n + 3, n + 3))
        system[0, 3:] = system[3:, 0] = 1
        system[1:3, 3:] = self.source_points
        system[3:, 1:3] = self.source_points.T
        r2 = ((self.source_points[:, :, None] - self.source_points[:, None, :]) ** 2).sum(axis=0)
        system[3:, 3:] = _thin_plate_kernel(r2)
        self.L_inv = np.linalg.inv(system)
        if self.precompute_grid:
            rows, cols = _downsampled_shape(input_shape, self.downsample_factor)[2:]
            self.warp: np.ndarray | None = self._warp_np(rows, cols)
        else:
            self.warp = None

    def _warp_np(self, rows: int, cols: int) -> np.ndarray:
        """``(control_points, rows * cols)``: output pixel positions as a linear function of the
        control points' destinations."""
        gx, gy = np.meshgrid(np.linspace(-1, 1, cols), np.linspace(-1, 1, rows))
        grid = np.stack([gx.ravel(), gy.ravel()])
        r2 = ((grid[:, None, :] - self.source_points[:, :, None]) ** 2).sum(axis=0)
        basis = np.concatenate([np.ones((1, grid.shape[1])), grid, _thin_plate_kernel(r2)])
        return self.L_inv[:, 3:].T @ basis

    def _warp_symbolic(self, rows: Any, cols: Any, dtype: str) -> Any:
        xs, ys = linspace_minus1_1(cols, dtype), linspace_minus1_1(rows, dtype)
        gx = T.broadcast_to(xs.dimshuffle("x", 0), (rows, cols)).flatten()
        gy = T.broadcast_to(ys.dimshuffle(0, "x"), (rows, cols)).flatten()
        source = T.constant(self.source_points.astype(dtype))
        r2 = T.sqr(gx.dimshuffle("x", 0) - source[0].dimshuffle(0, "x")) + T.sqr(
            gy.dimshuffle("x", 0) - source[1].dimshuffle(0, "x")
        )
        kernel = r2 * T.log(T.where(T.eq(r2, 0), 1, r2))
        basis = T.concatenate([T.ones((1, rows * cols), dtype), gx.dimshuffle("x", 0), gy.dimshuffle("x", 0), kernel])
        return T.dot(T.constant(self.L_inv[:, 3:].T.astype(dtype)), basis)

    def get_output_shape_for(self, input_shapes: list[tuple]) -> tuple:  # type: ignore[override]
        return _downsampled_shape(input_shapes[0], self.downsample_factor)

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        input, offsets = (T.as_tensor_variable(v) for v in inputs)
        # The grid in the dtype of the localization output (float32 nets stay float32).
        dtype = offsets.dtype if offsets.type.is_float else input.dtype
        rows, cols = _output_sizes(input, self.downsample_factor)
        if self.warp is not None:
            warp = T.constant(self.warp.astype(dtype))
        else:
            warp = self._warp_symbolic(rows, cols, dtype)
        # The spline reproduces affine maps exactly, so the control points at rest map the output
        # grid onto itself: positions = regular grid + offsets @ warp (exact at the identity).
        batch = shape_i(offsets, 0)
        moved = T.reshape(T.dot(T.reshape(offsets, (-1, self.control_points)), warp), (batch, 2, rows, cols))
        xs, ys = linspace_minus1_1(cols, dtype), linspace_minus1_1(rows, dtype)
        grid = T.stack(
            [T.broadcast_to(xs.dimshuffle("x", 0), (rows, cols)), T.broadcast_to(ys.dimshuffle(0, "x"), (rows, cols))]
        )
        return bilinear_sample(input, (moved + grid).dimshuffle(0, 2, 3, 1), self.border_mode)
