"""Rule segments: a domain of their own (campaigns and the dashboard build on it).

- :mod:`~retentio.segments.features` — the one registry of customer features at an as-of date
  (the rule language's vocabulary; the churn model extends it with its own).
- :mod:`~retentio.segments.rules` — the safe rule language (``aov > 5000 and orders >= 5``): parse,
  type-check, compile to Ibis; no I/O.
- :mod:`~retentio.segments.service` — segment definitions, refresh with membership history, members
  and exports over the store and the analytics snapshot.
"""
