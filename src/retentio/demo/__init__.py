"""Realistic demo data: a simulated shop whose true behaviour parameters are known.

:func:`retentio.demo.generator.generate` writes every contract table and ``metadata.json``; the
``retentio generate`` command is its CLI.
"""
