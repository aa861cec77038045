"""Compiled inner-CV LASSO paths (numba): one call computes a block of alphas on every inner fold.

What `radpath.stats.lasso` does per alpha in Python around scikit-learn's Cython solver, done here in one call
per block of the path, with the same algorithm:

* ``_cd_gram`` is scikit-learn's ``enet_coordinate_descent_gram`` (``beta = 0``, cyclic, gap-safe
  screening): the same coordinate updates, the same stopping rule (largest update relative to the largest
  coefficient below ``tol``, then the duality gap below ``tol * y'y``), the same screening after every gap
  check. On a working set's block of the Gram matrix it makes the same updates as ``enet_coordinate_descent``
  on those columns (``x_j' r = q_j - (Q w)_j``), at a cost per update of the set's size instead of n;
* ``_solve_ws_gram`` is the working-set step of ``lasso._Fold.solve``: active features plus those passing the
  sequential strong rule, coordinate descent on that set warm-started, a KKT check ``|x_j' r| <= l1`` on every
  feature, violators added and the solve repeated.

The arithmetic is the same up to the order of floating-point sums, so the coefficients agree with the Cython
solver to rounding and the errors along the path, hence the chosen alpha, agree (tests/stats/test_lasso.py
compares them fit by fit, and with ``lasso_path``/``LassoCV`` on random problems).

Numba compiles on first use and caches the machine code beside this file (or in ``NUMBA_CACHE_DIR``);
``warm_up()`` does it once, e.g. before forking workers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# reassociation lets the dot products vectorise; it only changes the order of sums
_FAST = {"reassoc", "contract", "nsz"}

# how a fold is solved, as in lasso._Fold.solve: working sets (p > n), all features with the residual solver's
# first gap check (p == n), scikit-learn's Gram solver on all features (n > p, LassoCV's precompute="auto")
MODE_WS, MODE_FULL, MODE_GRAM = 0, 1, 2


@njit(cache=True, fastmath=_FAST)
def _dot(a, b, n):
    s = 0.0
    for i in range(n):
        s += a[i] * b[i]
    return s


@njit(cache=True, fastmath=_FAST)
def _gap_gram(p, w, alpha, qw, q, y_norm2, xta):
    """scikit-learn's gap_enet_gram with beta = 0."""
    q_dot_w = _dot(w, q, p)
    wqw = _dot(w, qw, p)
    r_norm2 = y_norm2 + wqw - 2.0 * q_dot_w
    ry = y_norm2 - q_dot_w
    dual_norm = 0.0
    w_l1 = 0.0
    for j in range(p):
        v = q[j] - qw[j]
        xta[j] = v
        if j == 0 or abs(v) > dual_norm:
            dual_norm = abs(v)
        w_l1 += abs(w[j])
    primal = 0.5 * r_norm2 + alpha * w_l1
    scale = alpha / dual_norm if dual_norm > alpha else 1.0
    dual = -0.5 * scale**2 * r_norm2 + scale * ry
    return primal - dual, dual_norm


@njit(cache=True, fastmath=_FAST)
def _screen_gram(p, w, alpha, gram, qw, xta, dual_norm, gap, active, excluded, first):
    n_active = 0
    radius = math.sqrt(2 * abs(gap)) / alpha
    theta_scale = alpha if alpha > dual_norm else dual_norm
    for j in range(p):
        if first:
            if gram[j, j] == 0:
                w[j] = 0.0
                excluded[j] = 1
                continue
        elif excluded[j]:
            continue
        d_j = (1 - abs(xta[j] / theta_scale)) / math.sqrt(gram[j, j])
        if d_j <= radius:
            active[n_active] = j
            excluded[j] = 0
            n_active += 1
        else:
            if w[j] != 0:
                wj = w[j]
                for i in range(p):
                    qw[i] -= wj * gram[j, i]
                w[j] = 0.0
            excluded[j] = 1
    return n_active


@njit(cache=True, fastmath=_FAST)
def _cd_gram(w, alpha, gram, q, y_norm2, max_iter, tol, qw, xta, active, excluded, gram_rule):
    """scikit-learn's enet_coordinate_descent_gram (beta = 0, cyclic, screening) on Q = gram, q = X'y; w in
    place; returns n_iter. With ``gram_rule`` False the first gap check is the one of the residual solver
    (``gap <= tol`` rather than ``0 <= gap <= tol``): the same iterates as ``_cd`` on the same columns."""
    p = len(w)
    for i in range(p):
        qw[i] = _dot(gram[i], w, p)
    d_w_tol = tol
    tol = tol * y_norm2
    gap, dual_norm = _gap_gram(p, w, alpha, qw, q, y_norm2, xta)
    if gap <= tol and (gap >= 0 or not gram_rule):
        return 0
    n_active = _screen_gram(p, w, alpha, gram, qw, xta, dual_norm, gap, active, excluded, True)
    n_iter = 0
    for n_iter in range(max_iter):
        w_max = 0.0
        d_w_max = 0.0
        # (Qw)_j of the coordinate being updated is carried in `cur`, computed as the update loop computes it,
        # so that the next coordinate need not wait for the loop's stores (same values, shorter latency chain)
        cur = qw[active[0]] if n_active else 0.0
        for f_iter in range(n_active):
            j = active[f_iter]
            nxt = active[f_iter + 1] if f_iter + 1 < n_active else j
            gjj = gram[j, j]
            if gjj == 0.0:
                cur = qw[nxt]
                continue
            w_j = w[j]
            tmp = q[j] - cur + w_j * gjj
            shrunk = abs(tmp) - alpha
            new = math.copysign(shrunk, tmp) / gjj if shrunk > 0 else 0.0
            w[j] = new
            if new != w_j:
                d = new - w_j
                gj = gram[j]
                cur = qw[nxt] + d * gj[nxt]
                for i in range(p):
                    qw[i] += d * gj[i]
            else:
                cur = qw[nxt]
            d_w_j = abs(new - w_j)
            if d_w_j > d_w_max:
                d_w_max = d_w_j
            if abs(new) > w_max:
                w_max = abs(new)
        if w_max == 0.0 or d_w_max / w_max <= d_w_tol or n_iter == max_iter - 1:
            gap, dual_norm = _gap_gram(p, w, alpha, qw, q, y_norm2, xta)
            if gap <= tol:
                break
            n_active = _screen_gram(p, w, alpha, gram, qw, xta, dual_norm, gap, active, excluded, False)
    return n_iter + 1


@njit(cache=True, fastmath=_FAST)
def _solve_ws_gram(x, n, gram, have, q, y_norm2, coef, grad, prev_l1, l1, max_iter, tol, ws, idx, w, buf, qs, qw, xta,
                   active, excluded, gw):
    """The working-set step of ``_Fold.solve`` computed on the fold's Gram matrix: coordinate descent on the
    working set's block of it (scikit-learn's Gram solver, the same iterates as the residual one on those
    columns) and the KKT check on |x_j' r| = |q_j - (G coef)_j|. Only the Gram rows of features that have been
    in a working set are computed (``have``)."""
    p = len(coef)
    threshold = 2 * l1 - prev_l1 if math.isfinite(prev_l1) else l1
    for j in range(p):
        ws[j] = coef[j] != 0 or grad[j] > threshold
    updates = 0
    while True:
        _gram_rows(x, n, gram, have, ws)
        m = 0
        for j in range(p):
            if ws[j]:
                idx[m] = j
                w[m] = coef[j]
                qs[m] = q[j]
                m += 1
        if m:
            sub = buf[: m * m].reshape((m, m))
            for a in range(m):
                row = gram[idx[a]]
                for b in range(m):
                    sub[a, b] = row[idx[b]]
            updates += _cd_gram(w[:m], l1, sub, qs[:m], y_norm2, max_iter, tol, qw, xta, active, excluded,
                                False) * m
        coef[:] = 0.0
        gw[:] = 0.0
        for k in range(m):
            wk = w[k]
            coef[idx[k]] = wk
            if wk != 0.0:
                row = gram[idx[k]]
                for j in range(p):
                    gw[j] += wk * row[j]
        violated = False
        for j in range(p):
            grad[j] = abs(q[j] - gw[j])
            if grad[j] > l1 and not ws[j]:
                ws[j] = True
                violated = True
        if not violated:
            return updates


@njit(cache=True, fastmath=_FAST)
def _gram_rows(x, n, gram, have, ws):
    """Rows j of the Gram matrix x[:n]' x[:n] for every j with ws[j] that is not there yet (have[j])."""
    p = len(have)
    for j in range(p):
        if ws[j] and not have[j]:
            g = gram[j]
            g[:] = 0.0
            for i in range(n):
                xi = x[i]
                v = xi[j]
                for c in range(p):
                    g[c] += v * xi[c]
            have[j] = True


@njit(cache=True, fastmath=_FAST)
def inner_block(x, n, gram, have, xty, y_norm2, xs, ys, ns, alphas, coef, grad, prev_l1, updates, max_iter, tol,
                modes):
    """Summed test MSE over the inner folds for each of `alphas`, continuing each fold's path from its
    coef/grad/prev_l1 (updated in place; coordinate updates added to `updates`). Fold f: centred training
    rows x[f, :n[f]], their Gram matrix gram[f] (rows j with have[f, j]; filled in as needed), X'y xty[f] and
    y'y y_norm2[f]; test rows xs[f, :ns[f]], ys[f, :ns[f]] centred with the training means; modes[f] one of
    MODE_*."""
    k_folds, p = xty.shape
    total = np.zeros(len(alphas))
    ws = np.zeros(p, dtype=np.bool_)
    idx = np.empty(p, dtype=np.int64)
    w = np.empty(p)
    xta = np.empty(p)
    active = np.empty(p, dtype=np.int64)
    excluded = np.zeros(p, dtype=np.uint8)
    qw = np.empty(p)
    qs = np.empty(p)
    gw = np.empty(p)
    buf = np.empty(p * p)
    for f in range(k_folds):
        c = coef[f]
        if modes[f] != MODE_WS:
            ws[:] = True
            _gram_rows(x[f], n[f], gram[f], have[f], ws)
        for a in range(len(alphas)):
            l1 = alphas[a] * n[f]
            if modes[f] == MODE_WS:
                updates[f] += _solve_ws_gram(x[f], n[f], gram[f], have[f], xty[f], y_norm2[f], c, grad[f], prev_l1[f],
                                             l1, max_iter, tol, ws, idx, w, buf, qs, qw, xta, active, excluded, gw)
                prev_l1[f] = l1
            else:
                updates[f] += _cd_gram(c, l1, gram[f], xty[f], y_norm2[f], max_iter, tol, qw, xta, active,
                                       excluded, modes[f] == MODE_GRAM) * p
            err = 0.0
            for i in range(ns[f]):
                pred = 0.0
                for j in range(p):
                    if c[j] != 0.0:
                        pred += xs[f, i, j] * c[j]
                d = pred - ys[f, i]
                err += d * d
            total[a] += err / ns[f]
    return total


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel with a tiny problem, e.g. before forking workers."""
    x = np.array([[[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]])
    inner_block(x, np.array([4]), np.empty((1, 2, 2)), np.zeros((1, 2), dtype=np.bool_), np.ones((1, 2)),
                np.array([4.0]), np.zeros((1, 1, 2)), np.zeros((1, 1)), np.array([1]), np.array([0.1]),
                np.zeros((1, 2)), np.ones((1, 2)), np.full(1, np.inf), np.zeros(1, dtype=np.int64), 10, 1e-4,
                np.array([MODE_WS]))
