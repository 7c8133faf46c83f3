"""Product recommendations: co-purchase rules and implicit-feedback ALS, both repurchase-aware.

- :mod:`~retentio.models.recommend.data` — purchases, catalogue, customer × item matrices;
- :mod:`~retentio.models.recommend.repurchase` — consumables vs durables, reorder timing;
- :mod:`~retentio.models.recommend.cooccurrence` — support / confidence / lift with a category fallback;
- :mod:`~retentio.models.recommend.implicit_mf` — weighted ALS (Hu, Koren & Volinsky 2008);
- :mod:`~retentio.models.recommend.evaluate` — time-split precision / recall / NDCG@k vs popularity;
- :mod:`~retentio.models.recommend.service` — ``recommend_for(settings_or_tables, customer_id, n)``.
"""
