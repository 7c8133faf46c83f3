"""Buy-till-you-die models: who is still a customer, how much they will buy, and what they are worth.

One module per model, all fitted by maximum likelihood on compressed histories (see :mod:`.base`):

* :class:`BetaGeo` (BG/NBD), :class:`ModifiedBetaGeo` (MBG/NBD), :class:`ParetoNBD` — continuous-time
  purchasing, fit on (frequency, recency, T);
* :class:`BetaGeoBetaBinom` (BG/BB) — discrete transaction opportunities;
* :class:`GammaGamma` — spend per purchase, combined with a transaction model by :func:`clv`;
* :class:`ShiftedBetaGeo` (sBG) — contractual retention of a cohort.

:func:`summary_from_transactions` turns a transaction log into their inputs.
"""

from retentio.models.btyd.base import ConvergenceError, ModelInputError, TransactionModel
from retentio.models.btyd.beta_geo import BetaGeo
from retentio.models.btyd.bg_bb import BetaGeoBetaBinom
from retentio.models.btyd.clv import clv
from retentio.models.btyd.data import summary_from_transactions
from retentio.models.btyd.gamma_gamma import GammaGamma
from retentio.models.btyd.modified_beta_geo import ModifiedBetaGeo
from retentio.models.btyd.pareto_nbd import ParetoNBD
from retentio.models.btyd.shifted_beta_geo import ShiftedBetaGeo

__all__ = [
    "BetaGeo",
    "BetaGeoBetaBinom",
    "ConvergenceError",
    "GammaGamma",
    "ModelInputError",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "ShiftedBetaGeo",
    "TransactionModel",
    "clv",
    "summary_from_transactions",
]
