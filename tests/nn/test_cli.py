"""The ``symgraph-mnist`` command: end to end on a slice, device and data errors."""
from __future__ import annotations

import gzip
import os
import re
import signal
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


@pytest.mark.slow
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
    assert re.search(r"best validation +[0-9.]+% \(epoch 0\)", out)   # numbered from 0

    # `symgraph-mnist evaluate` on that checkpoint: the same accuracy, and the confusion
    # matrix of the same predictions
    assert cli.main(["evaluate", str(ckpt)]) == 0
    out = capsys.readouterr().out
    correct = int(np.sum(net.predict(xt) == yt))
    assert out.startswith(f"accuracy {printed}% ({correct} of 1000 test images of the bundled "
                          f"MNIST sample, {ckpt})\n")
    rows = [ln.split() for ln in out.splitlines()[4:14]]
    m = np.array([[int(v) for v in row[1:]] for row in rows])
    assert [int(row[0]) for row in rows] == list(range(10))
    np.testing.assert_array_equal(m, cli.confusion_matrix(yt, net.predict(xt), 10))
    assert np.trace(m) == correct and m.sum() == 1000
    np.testing.assert_array_equal(m.sum(axis=1), np.bincount(yt, minlength=10))


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

    # numba.cuda may already be the simulator in this process (tests/kernels/cuda switch
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
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--checkpoint-every", "1"], "--checkpoint-every needs --save"),
    (["--save", "n.npz", "--checkpoint-every", "0"], "--checkpoint-every must be positive"),
    (["--resume", "n.npz", "--filters", "3"], "--filters: a resumed run takes the "
                                              "architecture from its checkpoint (n.npz)"),
    (["--resume", "n.npz", "--float64"], "--float64: a resumed run takes the architecture"),
    (["evaluate"], "the following arguments are required: NET.npz"),
    (["evaluate", "n.npz", "--split", "dev"], "invalid choice: 'dev'"),
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
    # epochs are numbered from 0 in the plot, as in the text ("Epoch 0: ...") and summary
    assert list(acc_ax.lines[0].get_xdata()) == [0, 1, 2]
    assert list(cost_ax.get_xticks()) == [0, 1, 2]


def test_help_is_clean():
    """Every option has help, no raw reST, no "(default: ...)" twice or for None."""
    for parser in (cli.build_parser(), cli.build_evaluate_parser()):
        text = parser.format_help()
        assert "``" not in text and "::" not in text, text
        assert "(default: None)" not in text and "(default: False)" not in text
        for action in parser._actions:
            assert action.help, action.option_strings or action.dest
            assert action.help.count("default") <= 1, action.help
    text = cli.build_parser().format_help()
    assert "pickle" in text and "evaluate" in text and "130" in text
    r = subprocess.run([sys.executable, "-m", "symgraph.nn.cli", "--help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("usage: symgraph-mnist"), r.stdout
    assert "--checkpoint-every N" in r.stdout and r.stderr == ""


class _InterruptAt:
    """A tqdm-like progress class that sends this process SIGINT (Ctrl-C) just before
    mini-batch 7 of epoch 1."""

    def __init__(self, iterable, desc="", **kwargs):
        self.iterable, self.epoch = iterable, int(desc.split()[-1])

    def __iter__(self):
        for i in self.iterable:
            if self.epoch == 1 and i == 7:
                signal.raise_signal(signal.SIGINT)
            yield i

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


@pytest.mark.slow
def test_ctrl_c_saves_exits_130_and_resume_matches_an_uninterrupted_run(
        tmp_path, capsys, monkeypatch):
    from symgraph.nn import network

    common = ["--limit", "200", "--epochs", "2", "--validation-size", "200", "--filters", "6",
              "--hidden", "30"]
    whole, stopped, resumed = (str(tmp_path / n) for n in ("whole.npz", "stopped.npz",
                                                           "resumed.npz"))
    assert cli.main(common + ["--no-progress", "--save", whole]) == 0
    ref_out = capsys.readouterr().out

    monkeypatch.setattr(network, "_progress_bar", lambda progress: _InterruptAt)
    assert cli.main(common + ["--save", stopped, "--checkpoint-every", "1"]) == 130
    out = capsys.readouterr()
    assert f"checkpoint: {stopped} (after epoch 0)" in out.out
    assert "Training interrupted in epoch 1 after mini-batch 7 of 20." in out.out
    assert (f"symgraph-mnist: interrupted; saved the network and its training state to "
            f"{stopped} (continue with --resume {stopped})") in out.out
    assert "Summary" not in out.out and "Traceback" not in out.err
    assert Network.load(stopped).training_state["batch"] == 7
    monkeypatch.undo()

    resume = ["--limit", "200", "--epochs", "2", "--validation-size", "200"]
    assert cli.main(resume + ["--no-progress", "--resume", stopped, "--save", resumed]) == 0
    out = capsys.readouterr().out
    assert f"resuming {stopped}: epoch 1, mini-batch 7 (1 epochs done, training up to 2)" in out
    for a, b in zip(Network.load(whole).params, Network.load(resumed).params):
        assert a.get_value().tobytes() == b.get_value().tobytes()
    for line in ("final training cost", "best validation", "final test accuracy"):
        want = re.search(rf"^  {line} +(.*)$", ref_out, re.M).group(1)
        assert re.search(rf"^  {line} +(.*)$", out, re.M).group(1) == want, line

    # resuming with other settings is refused, naming the setting
    with pytest.raises(SystemExit) as e:
        cli.main(resume + ["--no-progress", "--resume", stopped, "--eta", "0.5"])
    assert e.value.code == 2
    assert "trained with eta 0.03, this call gives 0.5" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_without_save_says_nothing_was_saved(tmp_path, capsys, monkeypatch):
    from symgraph.nn import network

    monkeypatch.setattr(network, "_progress_bar", lambda progress: _InterruptAt)
    status = cli.main(["--limit", "200", "--epochs", "2", "--validation-size", "200",
                       "--filters", "6", "--hidden", "30"])
    assert status == 130
    assert "interrupted; nothing saved (give --save NPZ" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_evaluate_errors_name_the_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["evaluate", str(tmp_path / "none.npz")])
    assert "none.npz: no such checkpoint file" in str(e.value.code)
    bad = tmp_path / "bad.npz"
    np.savez(bad, __meta__=np.array('{"format": "symgraph-network-1"}'))
    with pytest.raises(SystemExit) as e:
        cli.main(["evaluate", str(bad)])
    assert f"{bad}: key '__meta__.mini_batch_size' is missing" in str(e.value.code)


def test_device_cuda_with_a_gpu_but_no_toolkit_names_the_extra():
    """A GPU and driver (faked: this machine has none) but no CUDA toolkit: the probe
    kernel's real compile fails, and the message says which extra installs it."""
    code = ("from numba import cuda\n"
            "from types import SimpleNamespace\n"
            "cuda.is_available = lambda: True\n"
            "cuda.get_current_device = lambda: SimpleNamespace(compute_capability=(7, 5))\n"
            "from symgraph.nn import cli\n"
            "print(cli.cuda_problem())\n")
    env = dict(os.environ, CUDA_HOME=str(os.path.join(os.sep, "nonexistent-cuda")))
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    env.pop("CUDA_PATH", None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("the CUDA toolkit cannot compile a kernel ("), r.stdout
    assert r.stdout.rstrip().endswith("install the toolkit wheels with "
                                      "pip install 'symgraph[cuda]'"), r.stdout
