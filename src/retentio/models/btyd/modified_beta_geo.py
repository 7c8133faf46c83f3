"""MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD where dropout may follow any purchase.

In BG/NBD a customer can only drop out after a *repeat* purchase, so every one-time buyer is predicted
to be alive (P(alive) = 1 when x = 0). MBG/NBD lets the dropout coin be tossed after the first purchase
too, which changes the Beta ratios by one (m = 1 in :mod:`retentio.models.btyd.beta_geo`).
"""

from __future__ import annotations

from typing import ClassVar

from retentio.models.btyd.beta_geo import _BetaGeoFamily


class ModifiedBetaGeo(_BetaGeoFamily):
    """The MBG/NBD model: ``ModifiedBetaGeo().fit(frequency, recency, T)``.

    ``params_`` = {r, alpha, a, b}. On the CDNOW sample in weeks: r 0.5248, alpha 6.1829, a 0.8914,
    b 1.6141, log-likelihood −9582.13.
    """

    _m: ClassVar[int] = 1
