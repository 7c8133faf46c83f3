"""Predictive models: buy-till-you-die CLV models (:mod:`retentio.models.btyd`), churn, recommendations."""

from retentio.models.btyd import (
    BetaGeo,
    BetaGeoBetaBinom,
    ConvergenceError,
    GammaGamma,
    ModelInputError,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeo,
    clv,
    summary_from_transactions,
)

__all__ = [
    "BetaGeo",
    "BetaGeoBetaBinom",
    "ConvergenceError",
    "GammaGamma",
    "ModelInputError",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "ShiftedBetaGeo",
    "clv",
    "summary_from_transactions",
]
