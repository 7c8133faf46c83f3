"""Churn risk: the probability that a buyer places no order in the next H days, and why.

- :mod:`~retentio.models.churn.label` — the label at a cutoff;
- :mod:`~retentio.models.churn.features` — leak-free features at a cutoff (Ibis, in the engine);
- :mod:`~retentio.models.churn.model` — LightGBM + calibration, saved without pickles;
- :mod:`~retentio.models.churn.train` — rolling-origin backtest against BG/NBD and RFM baselines;
- :mod:`~retentio.models.churn.metrics` — ROC/PR AUC, Brier, calibration table, lift;
- :mod:`~retentio.models.churn.explain` — per-customer reasons from SHAP values, in English and Russian;
- :mod:`~retentio.models.churn.store` — train/save, load by version, score into ``customer_scores``.
"""
