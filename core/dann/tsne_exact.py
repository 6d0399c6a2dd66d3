"""openTSNE's gradient descent with the exact t-SNE gradient, compiled with numba: the maps' optimiser
for snapshots of up to EXACT_MAX_POINTS (10,000) points.

The descent is openTSNE's step for step (core.dann.maps used it directly before): momentum, gains
(+0.2 where the gradient's sign flips, x0.8 where it holds, at least 0.01), each point's step
clipped to a norm of 5, the layout re-centred after every step, and the same gradient, the
positive term over the sparse affinities P (times the exaggeration) minus the negative term
sum_j q_ij^2 (y_i - y_j) / Z. What differs is how the negative term is computed: here exactly,
over every pair, in one vectorised float32 loop, where openTSNE estimates it with a Barnes-Hut
tree. At 2,000 points on one core the exact sum takes about 1.4 ms against 4-6 ms for openTSNE's
tree at theta 1.0, and its only error is float32 rounding (about 1e-6 of a row's sum); it grows
with N^2, so core.dann.maps keeps openTSNE's Barnes-Hut and FFT gradients above
EXACT_MAX_POINTS. The whole descent runs inside one compiled call, so there is no Python between
iterations either (openTSNE's loop spends about 2 ms an iteration in NumPy bookkeeping at this
size).

numba caches the compiled code on disk (beside this file, or in the user's cache directory where
that is read-only), so only the first run on a machine compiles (a few seconds).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Up to here the exact sum is the faster: at 8,000 points 53 ms an iteration against 99 ms for
# openTSNE's Barnes-Hut optimiser (theta 1, one thread); openTSNE's FFT gradient takes over above.
EXACT_MAX_POINTS = 10_000
MIN_GAIN = 0.01
MAX_STEP_NORM = 5.0


@njit(cache=True)
def _sign(v):  # pragma: no cover (compiled)
    return (v > 0.0) - (v < 0.0)


@njit(fastmath=True, error_model="numpy", cache=True)
def _gradient(xs, ys, neighbours, weights, pull, ax, ay, gx, gy, px, py, x32, y32):  # pragma: no cover (compiled)
    n, k = neighbours.shape
    for i in range(n):
        x32[i] = xs[i]
        y32[i] = ys[i]
    total = 0.0
    for i in range(n):
        # repulsion over every pair in float32 (8 lanes a vector instead of 4; a row's sum of
        # 2,000 terms keeps about 6 significant digits), the point itself included: it adds
        # q = 1 and no force
        xi = x32[i]
        yi = y32[i]
        fx = np.float32(0.0)
        fy = np.float32(0.0)
        s = np.float32(0.0)
        for j in range(n):
            dx = xi - x32[j]
            dy = yi - y32[j]
            q = np.float32(1.0) / (np.float32(1.0) + dx * dx + dy * dy)
            s += q
            q2 = q * q
            fx += q2 * dx
            fy += q2 * dy
        total += s
        gx[i] = fx
        gy[i] = fy
        px[i] = 0.0
        py[i] = 0.0
    z = total - n
    # attraction: each stored p_j|i acts on the pair (i, j) from both ends, which is the
    # symmetric P = (P_j|i + P_i|j) / 2n without building it
    for i in range(n):
        for m in range(k):
            j = neighbours[i, m]
            dx = xs[i] - xs[j]
            dy = ys[i] - ys[j]
            w = weights[i, m] / (1.0 + dx * dx + dy * dy)
            px[i] += w * dx
            py[i] += w * dy
            px[j] -= w * dx
            py[j] -= w * dy
    for i in range(n):
        gx[i] = px[i] - gx[i] / z + pull[i] * (xs[i] - ax[i])
        gy[i] = py[i] - gy[i] / z + pull[i] * (ys[i] - ay[i])


@njit(fastmath=True, error_model="numpy", cache=True)
def _descend(xs, ys, neighbours, weights, iterations, rate, momentum, pull, ax, ay, ux, uy, kx, ky):  # pragma: no cover
    n = xs.shape[0]
    gx = np.zeros(n)
    gy = np.zeros(n)
    px = np.zeros(n)
    py = np.zeros(n)
    x32 = np.zeros(n, dtype=np.float32)
    y32 = np.zeros(n, dtype=np.float32)
    for _ in range(iterations):
        _gradient(xs, ys, neighbours, weights, pull, ax, ay, gx, gy, px, py, x32, y32)
        mx = 0.0
        my = 0.0
        for i in range(n):
            # openTSNE's rule: a gain grows where sign(update) != sign(gradient), np.sign(0) being 0
            kx[i] = kx[i] + 0.2 if _sign(ux[i]) != _sign(gx[i]) else kx[i] * 0.8 + MIN_GAIN
            ky[i] = ky[i] + 0.2 if _sign(uy[i]) != _sign(gy[i]) else ky[i] * 0.8 + MIN_GAIN
            ux[i] = momentum * ux[i] - rate * kx[i] * gx[i]
            uy[i] = momentum * uy[i] - rate * ky[i] * gy[i]
            norm = np.sqrt(ux[i] * ux[i] + uy[i] * uy[i])
            if norm > MAX_STEP_NORM:
                ux[i] *= MAX_STEP_NORM / norm
                uy[i] *= MAX_STEP_NORM / norm
            xs[i] += ux[i]
            ys[i] += uy[i]
            mx += xs[i]
            my += ys[i]
        mx /= n
        my /= n
        for i in range(n):
            xs[i] -= mx
            ys[i] -= my


def descend(start, neighbours, conditional, phases, anchor=None, strength=None) -> np.ndarray:
    """core.dann.maps' descent with the exact gradient: from `start` through `phases` of
    (iterations, exaggeration, momentum) on the KL divergence of the joint affinities made from
    `conditional` (conditional_affinities over `neighbours`, (n, k) each) plus, with an anchor,
    sum_i (strength_i / 2N) ||y_i - anchor_i||^2. Returns a new (N, 2) float64 array; `start` is
    left as it was."""
    y = np.asarray(start, dtype=np.float64)
    n = len(y)
    xs, ys = y[:, 0].copy(), y[:, 1].copy()
    if anchor is None:
        pull, ax, ay = np.zeros(n), np.zeros(n), np.zeros(n)
    else:
        a = np.asarray(anchor, dtype=np.float64)
        pull, ax, ay = np.asarray(strength, dtype=np.float64) / n, a[:, 0].copy(), a[:, 1].copy()
    c = np.asarray(conditional, dtype=np.float64)
    weights = c / (2.0 * c.sum())
    neighbours = np.ascontiguousarray(neighbours, dtype=np.int64)
    ux, uy, kx, ky = np.zeros(n), np.zeros(n), np.ones(n), np.ones(n)
    for iterations, exaggeration, momentum in phases:
        scaled = weights * exaggeration
        _descend(
            xs, ys, neighbours, scaled, int(iterations), n / exaggeration, float(momentum), pull, ax, ay, ux, uy, kx, ky
        )
    return np.stack([xs, ys], axis=1)


@njit(fastmath=True, error_model="numpy", cache=True)
def _conditional(distances, perplexity, tolerance, max_steps):  # pragma: no cover (compiled)
    n, k = distances.shape
    out = np.empty((n, k))
    goal = np.log(perplexity)
    d2 = np.empty(k)
    for i in range(n):
        mean = 0.0
        for j in range(k):
            d2[j] = distances[i, j] * distances[i, j]
            mean += d2[j]
        # the precision beta of row i's Gaussian, from 1 / (mean squared distance), the row's
        # scale: Newton steps on the entropy H(beta) (dH/dbeta = -beta Var(d^2)), bisection
        # whenever a step would leave the bracket found so far
        beta = k / mean if mean > 0 else 1.0
        low, high = 0.0, 0.0
        has_low, has_high = False, False  # flags, not infinities: fastmath assumes none
        for _ in range(max_steps):
            total = 0.0
            m1 = 0.0
            m2 = 0.0
            for j in range(k):
                e = np.exp(-d2[j] * beta)
                total += e
                m1 += d2[j] * e
                m2 += d2[j] * d2[j] * e
            total = max(total, 1e-300)
            m1 /= total
            m2 /= total
            gap = np.log(total) + beta * m1 - goal  # entropy minus log(perplexity)
            if abs(gap) <= tolerance:
                break
            if gap > 0:  # too flat: sharpen
                low, has_low = beta, True
            else:
                high, has_high = beta, True
            slope = -beta * (m2 - m1 * m1)
            step = beta - gap / slope if slope < 0 else -1.0
            if step > 0 and (not has_low or step > low) and (not has_high or step < high):
                beta = step
            elif gap > 0:
                beta = (beta + high) / 2.0 if has_high else beta * 2.0
            else:
                beta = (beta + low) / 2.0 if has_low else beta / 2.0
        total = 0.0
        for j in range(k):
            out[i, j] = np.exp(-d2[j] * beta)
            total += out[i, j]
        total = max(total, 1e-300)
        for j in range(k):
            out[i, j] /= total
    return out


def conditional_affinities(distances: np.ndarray, perplexity: float) -> np.ndarray:
    """Per point (row), the Gaussian over its nearest neighbours' distances whose perplexity is
    `perplexity`, to within 1e-5 in entropy (scikit-learn's tolerance; openTSNE's 1e-8 takes
    twice the steps): t-SNE's p_j|i, rows summing to 1. (n, k) float64."""
    return _conditional(np.asarray(distances, dtype=np.float64), float(perplexity), 1e-5, 100)


def joint_affinities(neighbours: np.ndarray, conditional: np.ndarray):
    """t-SNE's joint P = (P_j|i + P_i|j) / 2n as a scipy CSR matrix, as openTSNE's
    PerplexityBasedNN builds it (for openTSNE's own gradients)."""
    import scipy.sparse as sp

    n, k = conditional.shape
    p = sp.csr_matrix((conditional.ravel(), np.asarray(neighbours).ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    p = (p + p.T) / 2
    return p / p.sum()
