"""``theano.scan_module``: ``scan`` and friends, loops as one graph node.

Theano code imports ``until`` from here (``from theano.scan_module import until``); the
functions are also ``symgraph.scan``, ``symgraph.map`` etc. See ``basic.py`` and ``op.py``.
"""
# (importing these registers the scan rewrites)
from symgraph.scan_module import rewrites, rowshapes, sumout  # noqa: F401,E402
from symgraph.scan_module.basic import ScanError, ScanMissingInputError, scan, until  # noqa: F401
from symgraph.scan_module.op import Scan  # noqa: F401
from symgraph.scan_module.views import foldl, foldr, map, reduce  # noqa: F401

__all__ = ["scan", "map", "reduce", "foldl", "foldr", "until", "Scan", "ScanError"]
