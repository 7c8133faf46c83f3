"""retentio: a self-hosted customer-retention platform.

Public entry points live in the domain packages: :mod:`retentio.ingest` (load files),
:mod:`retentio.analytics` (KPIs, cohorts, RFM), :mod:`retentio.models` (CLV and churn models)
and :mod:`retentio.demo` (the demo-data generator).
"""

__version__ = "0.1.0"
