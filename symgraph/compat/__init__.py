"""Compatibility layers for code written against Theano.

``import symgraph.compat.theano_alias`` (opt-in, process-wide) makes ``import theano`` and
its submodules resolve to symgraph; ``python -m symgraph.run_theano script.py`` runs a
script that way. ``symgraph.compat.gof`` is what ``theano.gof`` resolves to.
"""
