"""LassoCV, fast: the penalty scikit-learn's ``LassoCV(cv=inner_folds)`` would choose, and its refit.

Same alpha grid (``eps``, ``n_alphas`` on the data given), same inner ``KFold`` without shuffling, same
coordinate-descent algorithm (scikit-learn's ``enet_coordinate_descent``: cyclic, same tolerance, same
duality-gap stop, same gap-safe screening, warm starts along the path), same refit (``lasso_path`` at the
chosen alpha on all of x, Gram matrix when n > p, exactly as LassoCV). What makes the inner paths fast:

* **working sets**: at each alpha of an inner path, coordinate descent runs only on the features that are
  active or pass the sequential strong rule (``|x_j' r| > 2 l1 - l1_prev``), warm-started from the previous
  alpha; the KKT condition ``|x_j' r| <= l1`` is then checked on every feature and any violator is added and
  the solve repeated. The result satisfies the same duality-gap tolerance as a full solve (no feature outside
  the set would change the dual scaling), so the cross-validated error agrees with a full-problem path to
  within the solver tolerance and the chosen alpha agrees (the benchmark and the tests count agreements);
* **a compiled kernel** (``solver="compiled"``, `radpath.stats.lasso_kernel`): a block of alphas on all inner
  folds in one numba call, each working-set solve on the fold's Gram matrix (rows computed only for features
  that enter a working set): the same coordinate updates as the Cython solver on the same columns, at a cost
  per update of the working-set size instead of the number of patients, and no Python per alpha;
* each inner path stops early: it is computed in blocks of alphas and stops once the mean inner-CV error of the
  last ``patience`` alphas all lie above ``stop_ratio`` x its minimum so far (the tail of the path, tiny
  penalties with p ~ n, only ever worsens the CV error there); ``full_path=True`` computes the whole grid.

The previous implementations stay as the baselines the benchmark and tests measure against:
``solver="working_set"`` runs the same working-set steps in Python around scikit-learn's Cython solver (one
call per alpha and fold), ``solver="path"`` blocks of ``lasso_path`` calls on the full problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from radpath.errors import StatsError

Array = NDArray[np.float64]


@dataclass(frozen=True)
class LassoSettings:
    inner_folds: int = 5
    eps: float = 1e-3
    n_alphas: int = 100
    tol: float = 1e-4
    max_iter: int = 1000
    full_path: bool = False
    stop_ratio: float = 1.1
    patience: int = 10
    block: int = 5
    solver: str = "compiled"          # "working_set": the same steps around sklearn's Cython solver, per alpha;
                                      # "path": lasso_path on the full problem (the first implementation)
    ws_ratio: float = 1.0             # working sets when p > ws_ratio x n (else plain solves on all features)

    def working_sets(self, p: int, n: int) -> bool:
        return p > self.ws_ratio * n


def alpha_grid(x: Array, y: Array, eps: float, n_alphas: int) -> Array:
    """LassoCV's grid: log-spaced from ``max|Xc'yc| / n`` down to eps times that."""
    xc = x - x.mean(axis=0)
    yc = y - y.mean()
    top = float(np.abs(xc.T @ yc).max() / len(y))
    if top <= 0:
        raise StatsError("the target is constant on a training fold: LASSO has nothing to fit")
    return np.logspace(np.log10(top * eps), np.log10(top), n_alphas)[::-1]


def kfold(n: int, k: int) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """scikit-learn's KFold(k) without shuffling: first n % k folds one larger."""
    sizes = np.full(k, n // k)
    sizes[: n % k] += 1
    out = []
    start = 0
    idx = np.arange(n)
    for size in sizes:
        test = idx[start:start + size]
        out.append((np.concatenate([idx[:start], idx[start + size:]]), test))
        start += size
    return out


class _Fold:
    """One inner fold: centred training data (Fortran), centred test data, warm-start state."""

    def __init__(self, x: Array, y: Array, train: NDArray[np.int64], test: NDArray[np.int64]):
        xt, yt = x[train], y[train]
        xm, ym = xt.mean(axis=0), float(yt.mean())
        self.xt = np.asfortranarray(xt - xm)
        self.yt = yt - ym
        self.xs = x[test] - xm
        self.ys = y[test] - ym
        self.coef = np.zeros(x.shape[1])
        self.grad = np.abs(self.xt.T @ self.yt)     # |x_j' r| at the current coef
        self.prev_l1 = np.inf
        self.updates = 0                             # coordinate updates done (sweeps x features swept)
        self._sub_key: bytes = b""
        self._sub: Array = self.xt[:, :0]
        self._gram: Array | None = None
        self._xty = self.xt.T @ self.yt
        if len(self.yt) > x.shape[1]:        # as sklearn's _pre_fit: C-ordered X'X of the centred data
            self._gram = np.empty((x.shape[1], x.shape[1]), order="C")
            np.dot(self.xt.T, self.xt, out=self._gram)

    def _columns(self, idx: NDArray[np.intp]) -> Array:
        key = idx.tobytes()
        if key != self._sub_key:
            self._sub_key, self._sub = key, np.asfortranarray(self.xt[:, idx])
        return self._sub

    def solve(self, alpha: float, s: LassoSettings, cd: Any, rng: Any, gram_cd: Any) -> None:
        """Coefficients at `alpha` (in place), by working-set coordinate descent warm-started from the last."""
        l1 = alpha * len(self.yt)
        if not s.working_sets(len(self.coef), len(self.yt)):
            if self._gram is not None:   # n > p: LassoCV's precompute="auto" solves with the Gram matrix
                n_iter = gram_cd(self.coef, l1, 0.0, self._gram, self._xty, self.yt, s.max_iter, s.tol, rng,
                                 False, False, True)[3]
            else:
                n_iter = cd(self.coef, l1, 0.0, self.xt, self.yt, s.max_iter, s.tol, rng, False, False, True)[3]
            self.updates += int(n_iter) * len(self.coef)
            return
        strong = self.grad > (2 * l1 - self.prev_l1 if np.isfinite(self.prev_l1) else l1)
        ws = (self.coef != 0) | strong
        while True:
            idx = np.flatnonzero(ws)
            w = self.coef[idx]
            if len(idx):
                sub = self._columns(idx)
                n_iter = cd(w, l1, 0.0, sub, self.yt, s.max_iter, s.tol, rng, False, False, True)[3]
                self.updates += int(n_iter) * len(idx)
                r = self.yt - sub @ w
            else:
                r = self.yt
            self.coef[:] = 0.0
            self.coef[idx] = w
            self.grad = np.abs(self.xt.T @ r)
            violators = (self.grad > l1) & ~ws
            if not violators.any():
                break
            ws |= violators
        self.prev_l1 = l1


def _inner_errors_working_set(folds: list[_Fold], alphas: Array, s: LassoSettings) -> Array:
    from sklearn.linear_model._cd_fast import enet_coordinate_descent, enet_coordinate_descent_gram

    rng = np.random.mtrand._rand  # what lasso_path passes for random_state=None (unused: cyclic selection)
    return _early_stopped(alphas, s, lambda chunk: sum(_fold_block(f, chunk, s, enet_coordinate_descent, rng,
                                                                      enet_coordinate_descent_gram)
                                                       for f in folds))


def _fold_block(f: _Fold, chunk: Array, s: LassoSettings, cd: Any, rng: Any, gram_cd: Any) -> Array:
    coefs = np.empty((len(f.coef), len(chunk)))
    for i, alpha in enumerate(chunk):
        f.solve(float(alpha), s, cd, rng, gram_cd)
        coefs[:, i] = f.coef
    err: Array = ((f.xs @ coefs - f.ys[:, None]) ** 2).mean(axis=0)
    return err


def _inner_errors_compiled(folds: list[_Fold], alphas: Array, s: LassoSettings) -> Array:
    """`_inner_errors_working_set`, a block of alphas on all folds per call of the compiled kernel, every solve
    on the fold's Gram matrix (scikit-learn's Gram solver gives the same iterates as the residual one)."""
    from radpath.stats import lasso_kernel as kernel

    k, p = len(folds), len(folds[0].coef)
    n = np.array([len(f.yt) for f in folds], dtype=np.int64)
    ns = np.array([len(f.ys) for f in folds], dtype=np.int64)
    x = np.zeros((k, n.max(), p))
    gram = np.empty((k, p, p))
    have = np.zeros((k, p), dtype=np.bool_)
    xs = np.zeros((k, ns.max(), p))
    ys = np.zeros((k, ns.max()))
    modes = np.empty(k, dtype=np.int64)
    for i, f in enumerate(folds):
        x[i, : n[i]] = f.xt
        xs[i, : ns[i]] = f.xs
        ys[i, : ns[i]] = f.ys
        if s.working_sets(p, int(n[i])):
            modes[i] = kernel.MODE_WS
        elif f._gram is not None:   # n > p: LassoCV's Gram solver, on the same Gram matrix
            modes[i], gram[i], have[i] = kernel.MODE_GRAM, f._gram, True
        else:
            modes[i] = kernel.MODE_FULL
    xty = np.stack([f._xty for f in folds])
    y_norm2 = np.array([np.dot(f.yt, f.yt) for f in folds])
    coef = np.zeros((k, p))
    grad = np.stack([f.grad for f in folds])
    prev_l1 = np.full(k, np.inf)
    updates = np.zeros(k, dtype=np.int64)

    def block(chunk: Array) -> Array:
        out: Array = kernel.inner_block(x, n, gram, have, xty, y_norm2, xs, ys, ns, np.ascontiguousarray(chunk), coef,
                                        grad, prev_l1, updates, s.max_iter, s.tol, modes)
        return out

    mse = _early_stopped(alphas, s, block)
    for i, f in enumerate(folds):
        f.coef, f.updates = coef[i].copy(), int(updates[i])
    return mse


def _inner_errors_path(folds: list[_Fold], alphas: Array, s: LassoSettings) -> Array:
    from sklearn.linear_model import lasso_path

    def block(chunk: Array) -> Array:
        total = np.zeros(len(chunk))
        for f in folds:
            _, coefs, _, n_iters = lasso_path(f.xt, f.yt, alphas=chunk, coef_init=f.coef, precompute=False,
                                              copy_X=False, check_input=False, tol=s.tol, max_iter=s.max_iter,
                                              return_n_iter=True)
            f.coef = coefs[:, -1].copy()
            f.updates += int(sum(n_iters)) * len(f.coef)
            total += ((f.xs @ coefs - f.ys[:, None]) ** 2).mean(axis=0)
        return total

    return _early_stopped(alphas, s, block)


def _early_stopped(alphas: Array, s: LassoSettings, block: Any) -> Array:
    """Summed inner-CV errors per alpha, NaN past the early stop."""
    mse = np.full(len(alphas), np.nan)
    done = 0
    while done < len(alphas):
        stop = len(alphas) if s.full_path else min(done + s.block, len(alphas))
        mse[done:stop] = block(alphas[done:stop])
        done = stop
        best = int(np.nanargmin(mse[:done]))
        if done - best > s.patience and np.all(mse[done - s.patience:done] > s.stop_ratio * mse[best]):
            break
    return mse


_SOLVERS = {"compiled": _inner_errors_compiled, "working_set": _inner_errors_working_set, "path": _inner_errors_path}


def inner_cv(x: Array, y: Array, s: LassoSettings) -> tuple[Array, Array, list[_Fold]]:
    """LassoCV's alpha grid, the inner-CV test MSE summed over the folds at each alpha (NaN past the early stop)
    and the inner folds (``coef``: each fold's coefficients at the last alpha solved)."""
    if s.solver not in _SOLVERS:
        raise StatsError(f"unknown LASSO solver {s.solver!r}; known: {', '.join(_SOLVERS)}")
    alphas = alpha_grid(x, y, s.eps, s.n_alphas)
    folds = [_Fold(x, y, train, test) for train, test in kfold(len(y), s.inner_folds)]
    return alphas, _SOLVERS[s.solver](folds, alphas, s), folds


def lasso_cv_fit(x: Array, y: Array, s: LassoSettings, work: dict[str, int] | None = None) -> tuple[float, Array]:
    """LassoCV's chosen alpha and its coefficients (refit on all of x, y).

    `work`, when given, receives the inner paths' cost: ``updates`` (coordinate updates) and ``alphas``
    (alphas solved per fold, before the early stop)."""
    from sklearn.linear_model import lasso_path

    n, p = x.shape
    alphas, mse, folds = inner_cv(x, y, s)
    alpha = float(alphas[int(np.nanargmin(mse))])
    if work is not None:
        work["updates"] = work.get("updates", 0) + sum(f.updates for f in folds)
        work["alphas"] = work.get("alphas", 0) + int(np.isfinite(mse).sum())
    xc = x - x.mean(axis=0)
    _, coefs, _ = lasso_path(np.asfortranarray(xc), y - y.mean(), alphas=[alpha], precompute=n > p,
                             check_input=False, tol=s.tol, max_iter=s.max_iter)
    return alpha, coefs[:, 0]
