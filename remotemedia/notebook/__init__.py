"""Notebook integration: inline display (``rm.show``), magics and widgets.

The modules here load on first use so that ``import remotemedia`` stays light and
works without Jupyter installed.
"""
