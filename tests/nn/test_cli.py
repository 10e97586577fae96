"""The ``symgraph-mnist`` command: end to end on a slice, device and data errors."""
from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points

import numpy as np
import pytest

import symgraph
from symgraph.datasets import DatasetFormatError, load_data, load_data_shared, write_idx
from symgraph.nn import ConvPoolLayer, Network, cli


@pytest.fixture(autouse=True)
def restore_config():
    saved = (symgraph.config.floatX, symgraph.config.device)
    yield
    symgraph.config.floatX, symgraph.config.device = saved


def test_console_script_is_installed():
    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "symgraph-mnist"]
    assert ep.value == "symgraph.nn.cli:main"


def test_end_to_end_on_a_slice(tmp_path, capsys, mnist_sample):
    plot, ckpt = tmp_path / "curves.png", tmp_path / "net.npz"
    status = cli.main(["--limit", "200", "--epochs", "1", "--validation-size", "200",
                       "--filters", "6", "--hidden", "30", "--plot", str(plot),
                       "--save", str(ckpt)])
    assert status == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "data: 200 training, 200 validation, 1000 test images (bundled MNIST sample)" in out
    assert "Epoch 0: validation accuracy" in out and "Finished training network." in out
    assert out.index("compiling the training and accuracy functions") < out.index("Epoch 0:")
    assert "Epoch 0" in captured.err and "20/20" in captured.err and "cost=" in captured.err
    for line in ("compile time", "seconds per epoch", "images per second",
                 "best validation", "final test accuracy"):
        assert re.search(rf"^  {line} +\S", out, re.M), (line, out)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
    assert sorted(os.listdir(tmp_path)) == ["curves.png", "net.npz"]

    # the checkpoint is the trained network: its accuracy on the test set is the one printed
    net = Network.load(ckpt)
    assert isinstance(net.layers[0], ConvPoolLayer) and net.layers[0].filter_shape[0] == 6
    _, _, (xt, yt) = mnist_sample
    printed = re.search(r"final test accuracy +([0-9.]+)%", out).group(1)
    assert f"{100 * net.accuracy((xt, yt)):.2f}" == printed


def _assert_cuda_refused(capsys, reason):
    """``--device cuda`` exits 2 with ``reason``, no traceback, and the device stays cpu."""
    with pytest.raises(SystemExit) as e:
        cli.main(["--device", "cuda", "--epochs", "1"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"symgraph-mnist: error: --device cuda: {reason}")
    assert "--device cpu" in err and "Traceback" not in err
    assert symgraph.config.device == "cpu"


def test_device_cuda_without_a_gpu_is_a_clear_error(monkeypatch, capsys):
    from numba import cuda

    # numba.cuda may already be the simulator in this process (tests/kernels_cuda switch
    # it): this test is about the no-GPU message, so take the real-driver branch.
    monkeypatch.setattr(cli, "_is_simulator", lambda module: False)
    monkeypatch.setattr(cuda, "is_available", lambda: False)
    _assert_cuda_refused(capsys, "no CUDA GPU was found")


def test_device_cuda_under_the_simulator_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_is_simulator", lambda module: True)
    _assert_cuda_refused(capsys, "numba.cuda is the CUDA simulator")


def test_device_cuda_on_this_machine_as_a_command():
    """On a machine without a GPU the real command says so (exit 2, no traceback)."""
    problem = cli.cuda_problem()
    from numba import cuda

    assert (problem is None) == bool(cuda.is_available() and
                                     not cuda.to_device.__module__.startswith("numba.cuda.sim")
                                     and _has_cuda_linker())
    if problem is not None:
        r = subprocess.run([sys.executable, "-m", "symgraph.nn.cli", "--device", "cuda"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 2, r.stderr
        assert "--device cuda:" in r.stderr and problem in r.stderr
        assert "Traceback" not in r.stderr and r.stdout == ""


def _has_cuda_linker():
    import importlib.util

    return importlib.util.find_spec("symgraph.link.cuda.linker") is not None


def _write_mnist_folder(folder, n_train=30, n_test=10):
    rng = np.random.default_rng(0)
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz",
              rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz",
              rng.integers(0, 10, n_train, dtype=np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz",
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, n_test, dtype=np.uint8))


def test_corrupt_data_file_is_a_clear_error(tmp_path, capsys):
    folder = tmp_path / "mnist"
    _write_mnist_folder(folder)
    bad = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(bad.read_bytes())
    bad.write_bytes(gzip.compress(raw[: len(raw) // 2]))          # truncated download

    with pytest.raises(DatasetFormatError, match=re.escape(str(bad))):
        load_data(folder)
    with pytest.raises(DatasetFormatError, match=re.escape(str(bad))):
        load_data_shared(folder)
    with pytest.raises(SystemExit) as e:
        cli.main(["--data", str(folder), "--epochs", "1"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"symgraph-mnist: error: {bad}: ") and "Traceback" not in err

    bad.write_bytes(b"this is not gzip")                            # not even gzip
    with pytest.raises(SystemExit):
        cli.main(["--data", str(folder)])
    assert f"{bad}: not gzip-compressed" in capsys.readouterr().err

    with pytest.raises(SystemExit):
        cli.main(["--data", str(tmp_path / "nowhere")])
    assert "nowhere: no such file or folder" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--limit", "5"], "--limit 5 is smaller than one mini-batch (10)"),
    (["--dropout", "1.5"], "--dropout must be in [0, 1)"),
    (["--momentum", "-0.1"], "--momentum must be in [0, 1)"),
    (["--batch-size", "0"], "--batch-size must be positive"),
    (["--device", "tpu"], "invalid choice: 'tpu'"),
])
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_plot_history_without_validation(tmp_path):
    hist = {"cost": [1.0, 0.5, 0.4], "validation_accuracy": [None] * 3,
            "test_accuracy": [0.8, 0.9, 0.92]}
    cli.write_plot(hist, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    fig = cli.plot_history(hist)
    cost_ax, acc_ax = fig.axes
    assert [ln.get_label() for ln in acc_ax.lines] == ["test"]
    np.testing.assert_allclose(acc_ax.lines[0].get_ydata(), [80, 90, 92])
