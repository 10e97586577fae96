"""Theano's ``theano.sandbox.multinomial``: the categorical sampling ops, defined in
``symgraph.tensor.categorical``."""
from symgraph.tensor.categorical import ChoiceFromUniform, MultinomialFromUniform  # noqa: F401
