"""``debugprint`` and ``pp`` on variables and on compiled functions (stable substrings)."""
from __future__ import annotations

import io
import re

import numpy as np

import symgraph as theano
import symgraph.tensor as T


def _hypot():
    a, b = T.dscalars("a", "b")
    return a, b, T.sqrt(a ** 2 + b ** 2)


def test_pp_infix():
    a, b, c = _hypot()
    text = theano.pp(c)
    assert re.fullmatch(r"sqrt\(\(\(a \*\* 2(\.0)?\) \+ \(b \*\* 2(\.0)?\)\)\)", text), text
    x = T.dscalar("x")
    assert theano.pp(x ** 2 + 1) in ("((x ** 2) + 1)", "((x ** 2.0) + 1.0)")
    assert theano.pp(x - x * 3) in ("(x - (x * 3))", "(x - (x * 3.0))")
    assert theano.pp(-x) == "-x"
    assert theano.pp(T.exp(x)) == "exp(x)"


def test_pp_of_function_shows_optimized_outputs():
    a, b, c = _hypot()
    f = theano.function([a, b], c)
    text = theano.pp(f)
    assert "a" in text and "b" in text and "sqrt" in text


def test_debugprint_variable_to_stdout(capsys):
    a, b, c = _hypot()
    assert theano.debugprint(c) is None           # as Theano: None when printing to stdout
    text = capsys.readouterr().out
    assert text == theano.debugprint(c, file="str")
    lines = text.splitlines()
    assert lines[0].startswith("Elemwise{sqrt} id=A")
    assert "TensorType(float64, scalar)" in lines[0]
    assert lines[1].startswith(" |Elemwise{add} id=B")
    assert " | | |a TensorType(float64, scalar)" in lines
    assert " | | |b TensorType(float64, scalar)" in lines
    assert sum("Elemwise{pow}" in ln for ln in lines) == 2
    assert len(lines) == 8


def test_debugprint_to_file_and_str(capsys):
    x = T.dmatrix("x")
    w = theano.shared(np.ones(3), "w")
    y = (x * w).sum(axis=1)
    buf = io.StringIO()
    assert theano.debugprint(y, file=buf) is buf  # as Theano: returns the file
    text = buf.getvalue()
    assert capsys.readouterr().out == ""
    assert "shared w TensorType(float64, vector)" in text
    assert " | |x TensorType(float64, matrix)" in text
    assert theano.debugprint(y, file="str") == text
    assert capsys.readouterr().out == ""


def test_debugprint_shared_subgraph_printed_once():
    x = T.dvector("x")
    s = T.exp(x).sum()
    text = theano.debugprint(s * s, file="str")
    assert text.count("(see above)") == 1
    assert text.count("Elemwise{exp}") == 1
    no_types = theano.debugprint(s * s, file="str", print_type=False)
    assert "TensorType" not in no_types
    shallow = theano.debugprint(s * s, file="str", depth=2)
    assert "Elemwise{exp}" not in shallow
    both = theano.debugprint([s, s + 1], file="str")
    assert both.count("Elemwise{exp}") == 1


def test_debugprint_function_shows_optimized_graph_and_updates():
    a, b, c = _hypot()
    f = theano.function([a, b], c)
    text = theano.debugprint(f, file="str")
    lines = text.splitlines()
    assert lines[0].endswith("TensorType(float64, scalar) shape=()")
    assert " |a TensorType(float64, scalar) shape=()" in lines
    assert " |b TensorType(float64, scalar) shape=()" in lines
    w = theano.shared(np.ones(3), "w")
    x = T.dvector("x")
    g = theano.function([x], (x * w).sum(), updates=[(w, w * 2)])
    text = theano.debugprint(g, file="str")
    assert "# update of w" in text
    assert "shared w" in text
    user_part = text.split("# update of w")[0]
    assert "x TensorType(float64, vector)" in user_part
