"""CLV in production: evaluate the BTYD models on a holdout, fit and save a version, score every customer.

The models themselves live in :mod:`retentio.models.btyd`; this package runs them against the store:

- :func:`evaluate_clv` — calibration/holdout comparison of BG/NBD, MBG/NBD and Pareto/NBD;
- :func:`fit_clv` / :func:`score_clv` / :func:`run_clv` — fit + Gamma-Gamma, saved as versions of the
  model ``clv``; scores (``clv``, ``p_alive``, ``expected_purchases``, ``next_order_at``) written to
  ``customer_scores`` in bulk.

:mod:`.core` holds the I/O-free rules (fitting, scoring, serialisation); scores are written by
:mod:`retentio.models.scores_writer`, shared with churn. (Not ``models.clv``: that name is the
:func:`retentio.models.clv` function, which a subpackage would shadow once imported.)
"""

from retentio.models.clv_service.core import CLVModel, CustomerHistories, Scores, score_histories
from retentio.models.clv_service.evaluate import evaluate_clv
from retentio.models.clv_service.service import (
    FitResult,
    RunResult,
    ScoreSummary,
    fit_clv,
    load_clv_model,
    run_clv,
    score_clv,
)

__all__ = [
    "CLVModel",
    "CustomerHistories",
    "FitResult",
    "RunResult",
    "ScoreSummary",
    "Scores",
    "evaluate_clv",
    "fit_clv",
    "load_clv_model",
    "run_clv",
    "score_clv",
    "score_histories",
]
