"""Robust figures for telemetry: medians and MADs, and least squares that a few outliers
do not bend (``functions/logic/anomaly.py`` builds its baselines from them)."""

from __future__ import annotations

import operator
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Spread:
    """A robust centre and scale: the median and 1.4826 × MAD (a σ for normal data),
    floored so a very steady figure does not make every wobble an outlier."""

    center: float
    scale: float

    def z(self, value: float) -> float:
        return (value - self.center) / self.scale


def spread(values: Sequence[float], *, floor: float = 0.0, rel_floor: float = 0.0) -> Spread:
    center = statistics.median(values)
    mad = statistics.median([abs(v - center) for v in values])
    scale = max(_MAD_TO_SIGMA * mad, floor, rel_floor * abs(center), 1e-9)
    return Spread(center, scale)


@dataclass(frozen=True)
class Linear:
    """y ≈ intercept + Σ slope·x, with the spread of its residuals."""

    intercept: float
    slopes: tuple[float, ...]
    residual: Spread

    def predict(self, xs: Sequence[float]) -> float:
        return self.intercept + sum(s * x for s, x in zip(self.slopes, xs, strict=True))


@dataclass(frozen=True)
class Prior:
    """What a slope is believed to be before the data (``slope``), and how firmly: as if
    every point also varied its column by ``spread`` around that slope."""

    column: int
    slope: float
    spread: float


def fit_linear(
    rows: Sequence[Sequence[float]],
    ys: Sequence[float],
    *,
    floor: float,
    trim: float = 3.5,
    prior: Prior | None = None,
) -> Linear | None:
    """Least squares, then again without the points more than ``trim`` spreads off the
    first fit (a fault or a glitch in the baseline window does not bend it)."""
    if not rows or len(rows) < len(rows[0]) + 5:
        return None
    model, residuals = _least_squares(rows, ys, floor, prior)
    limit = trim * model.residual.scale
    kept = [i for i, r in enumerate(residuals) if abs(r) <= limit]
    if len(kept) == len(rows) or len(kept) < len(rows[0]) + 5:
        return model
    return _least_squares([rows[i] for i in kept], [ys[i] for i in kept], floor, prior)[0]


def _least_squares(
    rows: Sequence[Sequence[float]], ys: Sequence[float], floor: float, prior: Prior | None
) -> tuple[Linear, list[float]]:
    """The fit and its residuals (normal equations on centred columns; a prior is a
    ridge pulling its slope towards the believed one)."""
    n = len(rows)
    columns = [list(c) for c in zip(*rows, strict=True)]
    means = [sum(c) / n for c in columns]
    centred = [[x - mu for x in c] for c, mu in zip(columns, means, strict=True)]
    y_mean = sum(ys) / n
    y_centred = [y - y_mean for y in ys]
    m = len(centred)
    a = [[sum(map(operator.mul, centred[i], centred[j])) for j in range(m)] for i in range(m)]
    b = [sum(map(operator.mul, c, y_centred)) for c in centred]
    for i in range(m):  # a whisker of ridge: a constant column gets a zero slope
        a[i][i] += 1e-6 * a[i][i] + 1e-9
    if prior is not None:
        weight = n * prior.spread**2
        a[prior.column][prior.column] += weight
        b[prior.column] += weight * prior.slope
    slopes = _solve(a, b)
    intercept = y_mean - sum(s * mu for s, mu in zip(slopes, means, strict=True))
    residuals = y_centred
    for slope, column in zip(slopes, centred, strict=True):
        residuals = [r - slope * x for r, x in zip(residuals, column, strict=True)]
    return Linear(intercept, tuple(slopes), spread(residuals, floor=floor)), residuals


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (a is small, square and regularised)."""
    m = len(b)
    rows = [[*a[i], b[i]] for i in range(m)]
    for col in range(m):
        pivot = max(range(col, m), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(col + 1, m):
            factor = rows[r][col] / rows[col][col]
            for c in range(col, m + 1):
                rows[r][c] -= factor * rows[col][c]
    x = [0.0] * m
    for i in reversed(range(m)):
        x[i] = (rows[i][m] - sum(rows[i][j] * x[j] for j in range(i + 1, m))) / rows[i][i]
    return x
