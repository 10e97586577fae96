"""Theano's ``theano.sandbox`` names still used by Theano code: ``rng_mrg``
(``MRG_RandomStreams``) and ``multinomial`` (the ops it samples categories with)."""
from symgraph.sandbox import multinomial, rng_mrg  # noqa: F401
