"""Execute every notebook in notebooks/ and check the outputs of the ones listed in CHECKS.

Each notebook runs top to bottom in a fresh ``python3`` Jupyter kernel (nbclient); a cell
that raises fails the test. To check a new notebook's outputs, add an entry to CHECKS:
``(snippet, expected)`` pairs where ``snippet`` identifies exactly one code cell by its
source and ``expected`` must appear in that cell's text output (stdout, or the repr of
its result). A notebook without an entry is still executed.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import nbclient
import nbformat

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

#: notebook file name -> [(snippet of one code cell's source, text its output contains)]
CHECKS: dict[str, list[tuple[str, str]]] = {
    "hypotenuse.ipynb": [
        ("a = T.dscalar('a')", "TensorType(float64, scalar)"),
        ("theano.pp(c)", "'sqrt(((a ** 2"),
        ("f = theano.function([a, b], c)", "array(5.)"),
        ("print(float(f(3, 4)))", "5.0\n13.0\n"),
        ("c.eval({a: 3, b: 4})", "array(5.)"),
        ("debugprint(c)", "Elemwise{sqrt} id=A TensorType(float64, scalar)\n"
                          " |Elemwise{add} id=B"),
        ("debugprint(f)", " |a TensorType(float64, scalar) shape=()\n"
                          " |b TensorType(float64, scalar) shape=()"),
        ("T.grad(c, [a, b])", "[array(0.6), array(0.8)]"),
        ("fv([3, 5, 8], [4, 12, 15])", "array([ 5., 13., 17.])"),
        ("np.hypot", "matches np.hypot: True"),
        ("fv(np.ones((2, 2)), np.ones(2))", "TypeError: input 'x': expected 1-d data"),
    ],
    "and_gate.ipynb": [
        ("print('The outputs of the neuron are:')",
         "The output for x1=0 | x2=0 is 0.00\n"
         "The output for x1=0 | x2=1 is 0.02\n"
         "The output for x1=1 | x2=0 is 0.02\n"
         "The output for x1=1 | x2=1 is 0.98\n"),
        ("theano.printing.debugprint(train)", "Composite"),
        ("one training step", "one training step:"),
    ],
    "mnist_convpool.ipynb": [
        ("for name, (x, y) in", "training: images (5000, 784), labels (5000,)\n"
                                "validation: images (1000, 784), labels (1000,)\n"
                                "test: images (1000, 784), labels (1000,)\n"),
        ("n_train, n_eval = 1000, 500", "training examples: 1000"),
        ("history = net.SGD(", "Epoch 2: validation accuracy"),
        ("history = net.SGD(", "Finished training network.\nBest validation accuracy of"),
        ("test accuracy above 80%", "test accuracy above 80%: True"),
        ("wrong = np.flatnonzero", "misclassified: "),
        ("probabilities = net.predict_proba", ", network says "),
        ("Network.load(path)", "identical weights after loading: True\n"
                               "same predictions after loading: True"),
    ],
}

CHECKS["lstm_mnist_rows.ipynb"] = [
    ("def as_rows(x, y, n)", "training digits: (2000, 28, 28) labels: (2000,)"),
    ("for epoch in range(1, epochs + 1)", "epoch 3: training cost"),
    ("test accuracy above 70%", "test accuracy above 70%: True"),
]

#: notebook -> snippets of cells that must display a picture (image/png)
PICTURES: dict[str, list[str]] = {
    "and_gate.ipynb": ["plt.plot(costs)"],
    "lstm_mnist_rows.ipynb": ["ax_cost.plot(batch_costs"],
    "mnist_convpool.ipynb": ["ax.imshow(image.reshape(28, 28)", "ax_cost.plot(",
                             "fig.suptitle(\"Misclassified"],
}


def _cell_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "".join(parts)


def test_there_are_notebooks():
    assert NOTEBOOK_DIR.is_dir(), NOTEBOOK_DIR
    names = [p.name for p in NOTEBOOKS]
    assert "hypotenuse.ipynb" in names, names
    for name in CHECKS:
        assert name in names, f"CHECKS names {name}, which is not in {NOTEBOOK_DIR}"


@pytest.fixture(scope="module")
def empty_cache_dir(tmp_path_factory):
    """symgraph's compile cache for the notebooks' kernels: empty at the start, as on a
    new user's machine (generated modules are compiled and written afresh there; Numba's
    caches of symgraph's own kernels stay where they are, see
    tests/kernels/test_kernel_cache_pickling.py for saving those from a Jupyter kernel)."""
    return tmp_path_factory.mktemp("notebook-cache")


def _flags_with_cache_dir(cache_dir) -> str:
    flags = [f for f in os.environ.get("SYMGRAPH_FLAGS", "").split(",")
             if f.strip() and not f.strip().startswith("cache_dir=")]
    return ",".join(flags + [f"cache_dir={cache_dir}"])


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, empty_cache_dir, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:              # run from a clean slate, not the stored outputs
        if cell.cell_type == "code":
            cell.outputs = []
    # the kernel process inherits this environment
    monkeypatch.setenv("SYMGRAPH_FLAGS", _flags_with_cache_dir(empty_cache_dir))
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=600, allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()
    assert list(empty_cache_dir.glob("numba/sg_*.py")), "the kernel did not use the fresh cache"

    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert not any(o.output_type == "error" for o in cell.outputs), _cell_text(cell)
    for snippet in PICTURES.get(path.name, []):
        cells = [c for c in code if snippet in c.source]
        assert len(cells) == 1, f"{path.name}: {len(cells)} code cells contain {snippet!r}"
        assert any("image/png" in o.get("data", {}) for o in cells[0].outputs), (
            f"{path.name}: the cell with {snippet!r} shows no picture")
    for snippet, expected in CHECKS.get(path.name, []):
        cells = [c for c in code if snippet in c.source]
        assert len(cells) == 1, f"{path.name}: {len(cells)} code cells contain {snippet!r}"
        text = _cell_text(cells[0])
        assert expected in text, (
            f"{path.name}: the cell with {snippet!r} printed\n{text}\nexpected to contain\n"
            f"{expected}")
    if path.name == "hypotenuse.ipynb":
        # debugprint prints once (returns None, as in Theano): no second copy as a result
        (dp,) = [c for c in code if "debugprint(f)" in c.source]
        assert [o.output_type for o in dp.outputs] == ["stream"]
