"""Theano's optimizer names are honoured or refused (issue 18, item 6): ``Mode(optimizer=
...)``, ``get_mode('FAST_COMPILE')`` and ``config.optimizer`` select rewrites by tag and
phase (``rewriting.engine.OPTIMIZERS``), and an unknown name fails where it is given."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.compile.mode import Mode, get_mode
from symgraph.config import _VALID, config
from symgraph.rewriting.engine import OPTIMIZERS


def _compile(optimizer, build):
    x = T.matrix("x")
    f = symgraph.function([x], build(x), mode=Mode("py", optimizer=optimizer))
    return f, [str(n.op) for n in f.maker.fgraph.toposort()], f.maker.fgraph


def _expr(x):
    # merge: (x * 2) twice; constant folding: 2.0 * 3; stabilize: softplus; fuse: one loop
    return T.log(1 + T.exp(x)) * (x * 2) + (x * 2) + T.constant(2.0) * 3


def _inplace_expr(x):
    # the elementwise tail can overwrite the product's fresh buffer (in-place phase)
    return T.exp(T.dot(x, x)) + 1


XV = np.linspace(-1, 1, 4).reshape(2, 2)


def test_config_and_engine_name_the_same_optimizers():
    assert set(_VALID["optimizer"]) == set(OPTIMIZERS) - {"None"}


@pytest.mark.parametrize("name", sorted(k for k in OPTIMIZERS if k is not None))
def test_every_name_compiles_the_same_function(name):
    want = np.log1p(np.exp(XV)) * 2 * XV + 2 * XV + 6
    f, _, _ = _compile(name, _expr)
    np.testing.assert_allclose(f(XV), want, rtol=1e-12)
    g, _, _ = _compile(name, _inplace_expr)
    np.testing.assert_allclose(g(XV), np.exp(XV @ XV) + 1, rtol=1e-12)


def test_fast_run_runs_every_phase():
    _, ops, fg = _compile("fast_run", _expr)
    assert ops == ["Elemwise{Composite{softplus,mul,mul,add}}"]
    assert {"merge", "constant_folding", "local_softplus_from_log", "fusion"} <= set(
        fg.rewrite_log.applied)
    _, _, fg = _compile("fast_run", _inplace_expr)
    assert any(getattr(n.op, "destroy_map", None) for n in fg.apply_nodes)


def test_fast_compile_only_merges_and_folds():
    _, ops, fg = _compile("fast_compile", _expr)
    assert set(fg.rewrite_log.applied) == {"merge", "constant_folding"}
    assert "Elemwise{log}" in ops and not any("Composite" in o or "softplus" in o for o in ops)
    assert ops.count("Elemwise{mul}") == 2  # the two x * 2 merged into one


def test_merge_only_merges():
    _, ops, fg = _compile("merge", _expr)
    assert set(fg.rewrite_log.applied) == {"merge"}
    assert ops.count("Elemwise{mul}") == 3  # x * 2 once, the product, and 2.0 * 3 unfolded


def test_stabilize_stops_after_the_stabilize_phase():
    _, ops, fg = _compile("stabilize", _expr)
    assert "local_softplus_from_log" in fg.rewrite_log.applied
    assert "Elemwise{softplus}" in ops and not any("Composite" in o for o in ops)
    _, _, fg = _compile("stabilize", _inplace_expr)
    assert not any(getattr(n.op, "destroy_map", None) for n in fg.apply_nodes)


@pytest.mark.parametrize("name", ["o3", "unsafe"])
def test_o3_is_fast_run_without_inplace(name):
    _, ops, _ = _compile(name, _expr)
    assert ops == ["Elemwise{Composite{softplus,mul,mul,add}}"]
    _, _, fg = _compile(name, _inplace_expr)
    assert not any(getattr(n.op, "destroy_map", None) for n in fg.apply_nodes)


def test_o2_is_fast_compile_with_fusion():
    _, ops, fg = _compile("o2", _expr)
    assert "fusion" in fg.rewrite_log.applied
    assert "local_softplus_from_log" not in fg.rewrite_log.applied
    assert any("Composite" in o for o in ops)


@pytest.mark.parametrize("name", [None, "None"])
def test_none_runs_no_rewrite(name):
    m = Mode("py", optimizer=name)
    assert m.optimizer is None
    _, ops, fg = _compile(name, _expr)
    assert ops.count("Elemwise{mul}") == 4 and not hasattr(fg, "rewrite_log")


@pytest.mark.parametrize("bad", ["fast_run_stable", "FAST_RUN", "fastrun", object(), ["merge"]])
def test_other_optimizers_are_refused_with_the_accepted_names(bad):
    with pytest.raises(ValueError, match="unknown optimizer .*'fast_compile'"):
        Mode("py", optimizer=bad)


def test_fast_compile_mode_uses_the_fast_compile_optimizer():
    m = get_mode("FAST_COMPILE")
    assert (m.linker, m.optimizer) == ("py", "fast_compile")
    assert get_mode("py").optimizer == config.optimizer


def test_config_optimizer_is_checked_and_used(monkeypatch):
    assert Mode("py").optimizer == "fast_run"
    monkeypatch.setattr(config, "optimizer", "merge")
    assert get_mode("py").optimizer == "merge"
    # 'default' is config.optimizer, as in Theano; Mode's own default stays fast_run
    assert Mode("py", "default").optimizer == "merge"
    assert Mode("py").optimizer == "fast_run"
    with pytest.raises(ValueError, match="config.optimizer"):
        config.optimizer = "fast_run_stable"
