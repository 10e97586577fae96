"""Network.save / Network.load: exact round trips, atomic writes, clear errors."""
from __future__ import annotations

import json
import os
import re
import stat

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.nn import ConvPoolLayer, FullyConnectedLayer, Network, ReLU, SoftmaxLayer, tanh
from symgraph.tensor.nnet import elu


def fc_net(seed=0, bs=10, p_dropout=0.0, activation_fn=ReLU):
    np.random.seed(seed)
    return Network([FullyConnectedLayer(784, 20, activation_fn=activation_fn,
                                        p_dropout=p_dropout),
                    SoftmaxLayer(20, 10, p_dropout=p_dropout)], bs)


@pytest.fixture
def trained(small_data):
    """A small dense network after one epoch (so that no parameter is still at its init)."""
    train, _, _ = small_data
    net = fc_net(p_dropout=0.2)
    net.SGD(train, 1, 10, 0.1, progress=False, verbose=False)
    return net


def assert_same_params(a, b):
    assert len(a.params) == len(b.params)
    for p, q in zip(a.params, b.params):
        x, y = p.get_value(), q.get_value()
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()          # bit for bit


def test_round_trip_is_exact(trained, small_data, tmp_path):
    _, _, (xt, yt) = small_data
    path = tmp_path / "net.npz"
    assert trained.save(path) == str(path)
    loaded = Network.load(path)
    assert_same_params(trained, loaded)
    assert loaded.mini_batch_size == 10
    assert [type(la) for la in loaded.layers] == [FullyConnectedLayer, SoftmaxLayer]
    assert loaded.layers[0].activation_fn is ReLU and loaded.layers[0].p_dropout == 0.2
    np.testing.assert_array_equal(loaded.predict(xt), trained.predict(xt))
    np.testing.assert_array_equal(loaded.predict_proba(xt), trained.predict_proba(xt))
    # another mini-batch size for inference: same parameters, same predictions
    big = Network.load(path, mini_batch_size=50)
    assert big.mini_batch_size == 50
    assert_same_params(trained, big)
    np.testing.assert_array_equal(big.predict(xt), trained.predict(xt))
    # a plain file, readable as the umask allows (not mkstemp's 0600)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o666 & ~_umask()
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]


def test_round_trip_conv_architecture_and_activations(tmp_path):
    np.random.seed(3)
    net = Network([
        ConvPoolLayer(image_shape=(10, 1, 28, 28), filter_shape=(6, 1, 5, 5), poolsize=(2, 2),
                      activation_fn=tanh),
        FullyConnectedLayer(n_in=6 * 12 * 12, n_out=15, activation_fn=elu, p_dropout=0.5),
        SoftmaxLayer(n_in=15, n_out=10, p_dropout=0.5)], 10)
    net.save(tmp_path / "conv.npz")
    state = np.random.get_state()
    loaded = Network.load(tmp_path / "conv.npz", mini_batch_size=4)
    assert np.random.get_state()[1].tobytes() == state[1].tobytes()  # global RNG untouched
    assert_same_params(net, loaded)
    conv = loaded.layers[0]
    assert isinstance(conv, ConvPoolLayer) and conv.activation_fn is tanh
    assert conv.filter_shape == (6, 1, 5, 5) and conv.image_shape == (4, 1, 28, 28)
    assert conv.poolsize == (2, 2)
    assert loaded.layers[1].activation_fn is elu     # recorded as module:qualname
    meta = json.loads(str(np.load(tmp_path / "conv.npz")["__meta__"]))
    assert meta["format"] == "symgraph-network-1" and meta["floatX"] == "float32"
    assert [la["kind"] for la in meta["layers"]] == ["conv_pool", "fully_connected", "softmax"]


def test_save_refuses_an_activation_it_cannot_record(tmp_path):
    net = fc_net(activation_fn=lambda z: T.maximum(0.0, z))
    with pytest.raises(TypeError, match="cannot record the activation function"):
        net.save(tmp_path / "net.npz")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_interrupted_save_keeps_the_old_checkpoint(trained, tmp_path, monkeypatch, exc):
    path = tmp_path / "net.npz"
    old = fc_net(seed=1)
    old.save(path)
    old_bytes = path.read_bytes()
    real_savez = np.savez

    def savez_then_fail(file, *args, **kwargs):
        real_savez(file, *args, **kwargs)       # write part of the data ...
        file.truncate(len(old_bytes) // 3)      # ... keep a third of it ...
        raise exc                               # ... and die

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(type(exc)):
        trained.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes                 # old checkpoint intact
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]    # and no temporary file left
    assert_same_params(old, Network.load(path))


def test_interrupted_first_save_leaves_nothing(trained, tmp_path, monkeypatch):
    def failing_savez(file, *args, **kwargs):
        file.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        trained.save(tmp_path / "net.npz")
    assert os.listdir(tmp_path) == []


def test_load_errors_name_the_file(trained, tmp_path):
    with pytest.raises(FileNotFoundError):
        Network.load(tmp_path / "missing.npz")
    bad = tmp_path / "corrupt.npz"
    trained.save(bad)
    bad.write_bytes(bad.read_bytes()[:200])           # truncated zip
    with pytest.raises(ValueError, match=r"corrupt\.npz: not a symgraph network checkpoint"):
        Network.load(bad)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match=r"other\.npz: not a symgraph network checkpoint"):
        Network.load(other)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, __meta__=np.array(json.dumps({"format": "elsewhere-3"})))
    with pytest.raises(ValueError, match=r"wrong\.npz: unknown checkpoint format 'elsewhere-3'"):
        Network.load(wrong)
    # parameters that do not fit the recorded architecture
    mism = tmp_path / "mismatch.npz"
    with _npz(trained, tmp_path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["p0"] = arrays["p0"][:100]
    np.savez(mism, **arrays)
    with pytest.raises(ValueError, match=r"mismatch\.npz: parameter p0 \(w\) has shape "
                                         r"\(100, 20\), the architecture needs \(784, 20\)"):
        Network.load(mism)


def test_load_into_float64_casts(trained, tmp_path):
    trained.save(tmp_path / "net.npz")
    symgraph.config.floatX = "float64"        # the autouse fixture restores float32
    loaded = Network.load(tmp_path / "net.npz")
    for p, q in zip(trained.params, loaded.params):
        assert q.get_value().dtype == np.float64
        np.testing.assert_array_equal(q.get_value(), p.get_value().astype(np.float64))


def _npz(net, folder):
    path = folder / "good.npz"
    net.save(path)
    return np.load(path, allow_pickle=False)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _crafted(trained, folder, edit_meta=None, edit_arrays=None):
    """A copy of ``trained``'s checkpoint with its JSON meta and/or arrays edited."""
    with _npz(trained, folder) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    if edit_meta:
        edit_meta(meta)
    if edit_arrays:
        edit_arrays(arrays)
    path = folder / "crafted.npz"
    np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)
    return path


def _set(key, value):
    def edit(meta):
        target, _, last = key.rpartition(".")
        d = meta
        for part in filter(None, target.split(".")):
            d = d[int(part)] if part.isdigit() else d[part]
        last = int(last) if last.isdigit() else last
        if value is KeyError:
            del d[last]
        else:
            d[last] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (_set("mini_batch_size", KeyError), "key '__meta__.mini_batch_size' is missing"),
    (_set("mini_batch_size", "10"), "key '__meta__.mini_batch_size' must be an integer, got '10'"),
    (_set("mini_batch_size", -3), "key '__meta__.mini_batch_size' must be positive"),
    (_set("layers", {"kind": "softmax"}), "key '__meta__.layers' must be a list"),
    (_set("layers", []), "key '__meta__.layers' is empty"),
    (_set("layers.0", "dense"), "key '__meta__.layers[0]' must be an object, got str"),
    (_set("layers.0.kind", "lstm"), "key '__meta__.layers[0].kind': unknown layer kind 'lstm'"),
    (_set("layers.0.n_in", KeyError), "key '__meta__.layers[0].n_in' is missing"),
    (_set("layers.0.n_in", 78.4), "key '__meta__.layers[0].n_in' must be an integer, got 78.4"),
    (_set("layers.0.n_out", 10**12), "parameter p0 (w) has shape (784, 20), the architecture "
                                     "needs (784, 1000000000000)"),
    (_set("layers.1.p_dropout", "half"), "key '__meta__.layers[1].p_dropout' must be a number"),
    (_set("layers.1.p_dropout", 2.0), "key '__meta__.layers[1]' does not describe a layer"),
    (_set("layers.0.activation", 3), "key '__meta__.layers[0].activation' must be a string"),
    (_set("layers.0.activation", "os:no_such"),
     "key '__meta__.layers[0].activation': cannot find the activation function 'os:no_such'"),
    (_set("layers.0.activation", "math:pi"),
     "key '__meta__.layers[0].activation': 'math:pi' is not a function"),
])
def test_crafted_meta_errors_name_the_file_and_key(trained, tmp_path, edit, message):
    path = _crafted(trained, tmp_path, edit_meta=edit)
    with pytest.raises(ValueError) as e:
        Network.load(path)
    assert str(e.value).startswith(f"{path}: "), str(e.value)
    assert message in str(e.value)


@pytest.mark.parametrize("edit, message", [
    (lambda a: a.pop("p1"), "key 'p1' (b) is missing"),
    (lambda a: a.update(p0=np.array(["x"] * 3)), "key 'p0' (w) must hold numbers, got dtype <U1"),
    (lambda a: a.update(p9=np.zeros(3)), "holds 5 parameter arrays, the architecture needs 4"),
])
def test_crafted_array_errors_name_the_file_and_key(trained, tmp_path, edit, message):
    path = _crafted(trained, tmp_path, edit_arrays=edit)
    with pytest.raises(ValueError, match=re.escape(f"{path}: ") + ".*" + re.escape(message)):
        Network.load(path)


def test_crafted_training_state_errors_name_the_key(trained, tmp_path):
    trained.save(tmp_path / "good.npz")                  # trained: has a training state
    assert Network.load(tmp_path / "good.npz").training_state["epoch"] == 1
    path = _crafted(trained, tmp_path, edit_meta=_set("training.epoch", "one"))
    with pytest.raises(ValueError, match=r"key '__meta__\.training\.epoch' must be an integer"):
        Network.load(path)
    path = _crafted(trained, tmp_path, edit_meta=_set("training.history", KeyError))
    with pytest.raises(ValueError, match=r"key '__meta__\.training\.history' is missing"):
        Network.load(path)
