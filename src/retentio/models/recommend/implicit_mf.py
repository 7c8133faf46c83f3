"""Matrix factorisation for implicit feedback: weighted ALS (Hu, Koren & Volinsky 2008).

Purchases are implicit feedback: r_ui = the number of days customer u bought item i. The preference
p_ui = 1 if r_ui > 0 else 0 is trusted with confidence c_ui = 1 + α·r_ui (HKV eq. 2), and the factors
minimise

    Σ_u,i c_ui (p_ui − x_uᵀ y_i)² + λ (Σ_u ‖x_u‖² + Σ_i ‖y_i‖²)          (HKV eq. 3)

over *all* (u, i) pairs, not only the observed ones. Alternating least squares solves for every x_u
with the items fixed, then every y_i with the customers fixed:

    x_u = (YᵀY + λI + Yᵀ(C_u − I)Y)⁻¹ Yᵀ C_u p(u)                          (HKV eq. 4)

YᵀY is shared by every customer, so only the observed pairs cost anything extra. Each half-step runs
a few conjugate-gradient iterations from the previous solution instead of a k×k solve per customer
(Takács, Pilászy & Tikk 2011, "Applications of the conjugate gradient method for implicit feedback
collaborative filtering"), vectorised over all customers with sparse products: O(nnz·k + n·k²).

Scoring a customer folds their *current* purchases in with the exact eq. 4 solve, so the saved model
is only the item factors and stays valid for customers who bought since it was trained.
"""

from __future__ import annotations

import numbers
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from retentio.models.estimator import check_float, check_int, check_random_state
from retentio.models.recommend.base import Recommender
from retentio.models.recommend.data import ItemIndex, PurchaseMatrix
from retentio.models.recommend.repurchase import RepurchaseProfile


def _row_indices(matrix: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


# Below this many customer × item cells, v·y for the observed pairs is read off the dense product
# (one BLAS call), which beats gathering rows per pair; above it, the per-pair dot products are used.
DENSE_PRODUCT_CELLS = 20_000_000


def vectors_fit_in_memory(rows: int, cols: int) -> bool:
    """Whether the dense rows × cols score matrix is small enough to compute outright."""
    return rows * cols <= DENSE_PRODUCT_CELLS


def conjugate_gradient_step(
    solve_for: np.ndarray,
    fixed: np.ndarray,
    extra_confidence: sp.csr_matrix,
    regularization: float,
    steps: int,
) -> np.ndarray:
    """Improve every row x of ``solve_for`` towards HKV eq. 4 with ``steps`` CG iterations.

    ``extra_confidence`` holds c − 1 = α·r on the observed pairs (rows = the side being solved).
    """
    k = fixed.shape[1]
    gram = fixed.T @ fixed + regularization * np.eye(k)
    rows = _row_indices(extra_confidence)
    cols = extra_confidence.indices
    weights = extra_confidence.data

    dense_dots = vectors_fit_in_memory(solve_for.shape[0], fixed.shape[0])

    def apply(vectors: np.ndarray) -> np.ndarray:
        # (YᵀY + λI) v + Yᵀ (C_u − I) Y v, the second term only over observed pairs.
        if dense_dots:
            dots = (vectors @ fixed.T)[rows, cols] * weights
        else:
            dots = np.einsum("ij,ij->i", vectors[rows], fixed[cols]) * weights
        spread = sp.csr_matrix((dots, cols, extra_confidence.indptr), shape=extra_confidence.shape)
        return np.asarray(vectors @ gram + spread @ fixed)

    # b = Yᵀ C_u p(u) = Σ_i c_ui y_i over observed items (p = 1 there, 0 elsewhere).
    confidence = sp.csr_matrix((weights + 1.0, cols, extra_confidence.indptr), shape=extra_confidence.shape)
    target = np.asarray(confidence @ fixed)
    x = solve_for.copy()
    residual = target - apply(x)
    direction = residual.copy()
    rs_old = np.einsum("ij,ij->i", residual, residual)
    for _ in range(steps):
        a_dir = apply(direction)
        denominator = np.einsum("ij,ij->i", direction, a_dir)
        step = np.divide(rs_old, denominator, out=np.zeros_like(rs_old), where=denominator > 0)
        x += step[:, None] * direction
        residual -= step[:, None] * a_dir
        rs_new = np.einsum("ij,ij->i", residual, residual)
        beta = np.divide(rs_new, rs_old, out=np.zeros_like(rs_new), where=rs_old > 0)
        direction = residual + beta[:, None] * direction
        rs_old = rs_new
    return x


class ImplicitALS(Recommender):
    """Weighted ALS on purchase counts, with the shared repurchase rules and ranking.

    Hyper-parameters: ``factors`` (k), ``regularization`` (λ), ``alpha`` (α of c = 1 + α·r),
    ``iterations`` (ALS sweeps), ``cg_steps`` (conjugate-gradient steps per half-sweep) and
    ``random_state`` (the initial factors: an int gives the same model on every fit). Learned:
    ``item_factors_``, ``user_factors_`` (training customers) and the shared state.
    """

    kind: ClassVar[str] = "als"
    _unit_factors: np.ndarray | None = None  # item factors scaled to length 1, for explanations

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 0.1,
        alpha: float = 10.0,
        iterations: int = 15,
        cg_steps: int = 3,
        random_state: Any = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.random_state = random_state

    def _check_hyperparameters(self) -> None:
        for name in ("factors", "iterations", "cg_steps"):
            check_int(self, name, getattr(self, name), low=1)
        check_float(self, "regularization", self.regularization, low=0.0)
        check_float(self, "alpha", self.alpha, low=0.0)

    def fit(self, purchases: pd.DataFrame, items: ItemIndex, matrix: PurchaseMatrix) -> Self:
        """Fit item (and training-customer) factors on ``matrix.counts``."""
        self._check_hyperparameters()
        rng = check_random_state(self, self.random_state)
        self._base_fit(items, matrix, RepurchaseProfile.fit(purchases, items))
        counts = sp.csr_matrix(matrix.counts, dtype=np.float64)
        extra_user = counts * self.alpha
        extra_item = extra_user.T.tocsr()
        scale = 0.01
        users = rng.normal(0.0, scale, (counts.shape[0], self.factors))
        item_factors = rng.normal(0.0, scale, (counts.shape[1], self.factors))
        # The products here are small and many: BLAS threads cost more than they save (10x on 2 cores).
        with threadpool_limits(limits=1, user_api="blas"):
            for _ in range(self.iterations):
                users = conjugate_gradient_step(
                    users, item_factors, extra_user, self.regularization, self.cg_steps
                )
                item_factors = conjugate_gradient_step(
                    item_factors, users, extra_item, self.regularization, self.cg_steps
                )
        self.user_factors_ = users
        self.item_factors_ = item_factors
        self._unit_factors = None
        return self

    def fold_in(self, counts: np.ndarray) -> np.ndarray:
        """Exact eq. 4 customer factors for purchase-count rows (customers × items)."""
        y = self.item_factors_
        k = y.shape[1]
        gram = y.T @ y + self.regularization * np.eye(k)
        observed = np.flatnonzero(counts.any(axis=0))
        sub_y = y[observed]
        sub_counts = counts[:, observed]
        # A_u = YᵀY + λI + Σ_i α r_ui y_i y_iᵀ ; b_u = Σ_i (1 + α r_ui) y_i over bought items. The sum
        # over items is one matrix product with the flattened outer products y_i y_iᵀ.
        outer = (sub_y[:, :, None] * sub_y[:, None, :]).reshape(len(observed), k * k)
        systems = gram[None, :, :] + ((self.alpha * sub_counts) @ outer).reshape(-1, k, k)
        target = ((1.0 + self.alpha * sub_counts) * (sub_counts > 0)) @ sub_y
        return np.linalg.solve(systems, target[:, :, None])[:, :, 0]

    def item_scores(self, bought: np.ndarray, counts: np.ndarray) -> np.ndarray:
        return np.asarray(self.fold_in(counts) @ self.item_factors_.T, dtype=np.float64)

    def explain(self, bought: np.ndarray, item: int) -> tuple[str, dict[str, Any]]:
        anchors = np.flatnonzero(bought)
        if len(anchors) == 0:
            return "recommend.reason.popular", {}
        unit = self._unit_factors
        if unit is None:
            y = self.item_factors_
            unit = self._unit_factors = y / (np.linalg.norm(y, axis=1, keepdims=True) + 1e-12)
        best = anchors[int(np.argmax(unit[anchors] @ unit[item]))]
        return "recommend.reason.similar", {"product": str(self.items_.names[best])}

    def _header(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "cg_steps": self.cg_steps,
            # A Generator cannot be saved: the header then records None (the fit is not repeatable).
            "random_state": (
                int(self.random_state) if isinstance(self.random_state, numbers.Integral) else None
            ),
        }

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"item_factors": self.item_factors_}

    def _restore_model(self, arrays: dict[str, np.ndarray], header: dict[str, Any]) -> None:
        self.factors = int(header["factors"])
        self.regularization = float(header["regularization"])
        self.alpha = float(header["alpha"])
        self.iterations = int(header["iterations"])
        self.cg_steps = int(header["cg_steps"])
        # Models saved before ``random_state`` existed recorded the same value as ``seed``.
        saved = header.get("random_state", header.get("seed"))
        self.random_state = None if saved is None else int(saved)
        self.item_factors_ = np.asarray(arrays["item_factors"], dtype=np.float64)
        self._unit_factors = None
