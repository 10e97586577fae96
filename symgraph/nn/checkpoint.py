"""Network checkpoints: one ``.npz`` holding the architecture, the parameters and, when
written during or after ``Network.SGD``, the training state that ``SGD(resume=True)``
continues from.

Why a module of its own: a checkpoint is a file a user may have received from anyone, so
reading one checks every field it uses (the key, its type, the array shapes and dtypes)
and names the file and the key in its error, instead of failing later with a bare
``KeyError`` or inside a layer's constructor. It is read with ``allow_pickle=False``, so
nothing in it is unpickled; an activation recorded as ``module:qualname`` is imported from
the installed modules.

Layout: ``__meta__`` (a JSON string: ``format``, ``mini_batch_size``, ``floatX``,
``layers``, ``params`` and optionally ``training``), ``p0, p1, ...`` (parameters in
``Network.params`` order) and, with a training state, ``v0, ...`` (momentum velocities)
and ``r0, ...`` (the dropout layers' random-stream states).
"""
from __future__ import annotations

import importlib
import json
import os
import tempfile

import numpy as np

import symgraph
from symgraph.nn import layers as L

#: the ``format`` field of checkpoints written by ``Network.save``
CHECKPOINT_FORMAT = "symgraph-network-1"

_LAYER_KINDS = {"conv_pool": L.ConvPoolLayer, "fully_connected": L.FullyConnectedLayer,
                "softmax": L.SoftmaxLayer}


class CheckpointError(ValueError):
    """A checkpoint file that is not one ``Network.load`` can rebuild a network from; the
    message names the file and the offending key."""


# ------------------------------------------------------------------ writing
def save(net, path, training: dict | None = None) -> str:
    """Write ``net`` (and the ``training`` state, if given) to ``path`` atomically."""
    path = os.fspath(path)
    arch = []
    for layer in net.layers:
        kind = getattr(layer, "kind", None)
        if kind not in _LAYER_KINDS:
            raise TypeError(f"save: cannot record a layer of type {type(layer).__name__}; "
                            f"known: {', '.join(c.__name__ for c in _LAYER_KINDS.values())}")
        spec = {"kind": kind}
        if hasattr(layer, "activation_fn"):
            spec["activation"] = _act_name(layer.activation_fn)
        for k, v in layer.config().items():
            spec[k] = list(v) if isinstance(v, tuple) else v
        arch.append(spec)
    arrays = {f"p{k}": p.get_value(borrow=True) for k, p in enumerate(net.params)}
    meta = {"format": CHECKPOINT_FORMAT, "mini_batch_size": net.mini_batch_size,
            "layers": arch, "floatX": symgraph.config.floatX,
            "params": [p.name for p in net.params]}
    if training is not None:
        training = dict(training)
        for prefix, key in (("v", "velocities"), ("r", "random_states")):
            for k, a in enumerate(training.pop(key, ())):
                arrays[f"{prefix}{k}"] = np.asarray(a)
        meta["training"] = training
    _write_atomically(path, json.dumps(meta, default=_json_number), arrays)
    return path


def _json_number(value):
    """numpy scalars (an ``eta`` given as ``np.float32``) as the JSON numbers they are."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"save: cannot record {value!r} ({type(value).__name__}) in a checkpoint")


def _write_atomically(path: str, meta: str, arrays: dict) -> None:
    """Temporary file in the same folder, fsync, rename: an interrupted save leaves any
    previous checkpoint intact and no partial file behind."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __meta__=np.array(meta), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint is a plain file
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


# ------------------------------------------------------------------ reading
def load(cls, path, mini_batch_size: int | None = None):
    """Rebuild the network saved at ``path`` (see ``Network.load``)."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            raw_meta = data["__meta__"]
            arrays = {k: data[k] for k in data.files if k != "__meta__"}
        meta = json.loads(str(raw_meta))
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - a corrupt file can fail in many ways
        raise CheckpointError(f"{path}: not a symgraph network checkpoint "
                              f"({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        fmt = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{path}: unknown checkpoint format {fmt!r}; expected "
                              f"{CHECKPOINT_FORMAT!r}")
    saved_mbs = _field(path, meta, "mini_batch_size", "int", "__meta__")
    mbs = int(mini_batch_size or saved_mbs)
    specs = _field(path, meta, "layers", "list", "__meta__")
    if not specs:
        raise CheckpointError(f"{path}: key '__meta__.layers' is empty; a network has at "
                              f"least one layer")
    # the parameter arrays must fit the recorded layers before any layer is built (a
    # crafted size would otherwise allocate its weights first)
    k = 0
    for i, spec in enumerate(specs):
        for name, shape in _param_shapes(path, spec, f"__meta__.layers[{i}]"):
            _array(path, arrays, f"p{k}", shape, f" ({name})")
            k += 1
    state = np.random.get_state()
    try:
        layers = [_layer_from_spec(path, spec, mbs, f"__meta__.layers[{i}]")
                  for i, spec in enumerate(specs)]
        try:
            net = cls(layers, mbs)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: key '__meta__.layers' does not describe a "
                                  f"network: {e}") from None
    finally:
        np.random.set_state(state)
    values = []
    for k, p in enumerate(net.params):
        want = p.get_value(borrow=True)
        values.append(_array(path, arrays, f"p{k}", want.shape, f" ({p.name})"))
    n_params = sum(1 for k in arrays if k[:1] == "p" and k[1:].isdigit())
    if n_params != len(net.params):
        raise CheckpointError(f"{path}: holds {n_params} parameter arrays, the architecture "
                              f"needs {len(net.params)}")
    for p, a in zip(net.params, values):
        p.set_value(a.astype(p.get_value(borrow=True).dtype, copy=False), borrow=True)
    training = meta.get("training")
    if training is not None:
        training = _training_state(path, training, arrays, saved_mbs)
    net.training_state = training
    return net


def saved_floatX(path) -> str | None:
    """The ``floatX`` a checkpoint was written in (None when it does not say), so that a
    resumed or evaluated network computes in the precision it was trained in."""
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
    except Exception:  # noqa: BLE001 - load() reports a bad file with the details
        return None
    fx = meta.get("floatX") if isinstance(meta, dict) else None
    return fx if fx in ("float32", "float64") else None


_INT = (int, np.integer)


def _type_ok(value, kind: str) -> bool:
    if kind == "int":
        return isinstance(value, _INT) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "list":
        return isinstance(value, list)
    if kind == "dict":
        return isinstance(value, dict)
    if kind.startswith("ints"):          # "ints4": a list of 4 ints
        n = int(kind[4:])
        return (isinstance(value, list) and len(value) == n
                and all(_type_ok(v, "int") and v >= 0 for v in value))
    raise AssertionError(kind)


_TYPE_WORDS = {"int": "an integer", "number": "a number", "str": "a string", "list": "a list",
               "dict": "an object", "ints4": "a list of 4 integers",
               "ints2": "a list of 2 integers"}


def _field(path, d, key: str, kind: str, where: str):
    """``d[key]``, checked to be of ``kind``; else a CheckpointError naming file and key."""
    if not isinstance(d, dict):
        raise CheckpointError(f"{path}: key '{where}' must be an object, got "
                              f"{type(d).__name__}")
    if key not in d:
        raise CheckpointError(f"{path}: key '{where}.{key}' is missing")
    value = d[key]
    if not _type_ok(value, kind):
        raise CheckpointError(f"{path}: key '{where}.{key}' must be {_TYPE_WORDS[kind]}, got "
                              f"{value!r:.60}")
    if kind == "int" and key != "epoch" and key != "batch" and value < 1:
        raise CheckpointError(f"{path}: key '{where}.{key}' must be positive, got {value}")
    return value


def _array(path, arrays, key: str, shape, what: str = "") -> np.ndarray:
    if key not in arrays:
        raise CheckpointError(f"{path}: key '{key}'{what} is missing")
    a = arrays[key]
    if a.dtype.kind not in "fiu":
        raise CheckpointError(f"{path}: key '{key}'{what} must hold numbers, got dtype "
                              f"{a.dtype}")
    if shape is not None and a.shape != tuple(shape):
        raise CheckpointError(f"{path}: parameter {key}{what} has shape {a.shape}, the "
                              f"architecture needs {tuple(shape)}")
    return a


def _kind(path, spec, where) -> str:
    if not isinstance(spec, dict):
        raise CheckpointError(f"{path}: key '{where}' must be an object, got "
                              f"{type(spec).__name__}")
    kind = _field(path, spec, "kind", "str", where)
    if kind not in _LAYER_KINDS:
        raise CheckpointError(f"{path}: key '{where}.kind': unknown layer kind {kind!r}")
    return kind


def _param_shapes(path, spec, where) -> list:
    """[(name, shape)] of the parameters the layer described by ``spec`` has."""
    kind = _kind(path, spec, where)
    if kind == "conv_pool":
        fs = tuple(_field(path, spec, "filter_shape", "ints4", where))
        return [("w", fs), ("b", (fs[0],))]
    n_in = _field(path, spec, "n_in", "int", where)
    n_out = _field(path, spec, "n_out", "int", where)
    return [("w", (n_in, n_out)), ("b", (n_out,))]


def _layer_from_spec(path, spec, mbs, where):
    kind = _kind(path, spec, where)
    f = lambda key, t: _field(path, spec, key, t, where)  # noqa: E731
    rng = np.random.RandomState(0)  # throw-away initial weights; overwritten from the file
    try:
        if kind == "conv_pool":
            image_shape = (mbs,) + tuple(f("image_shape", "ints4")[1:])
            return L.ConvPoolLayer(tuple(f("filter_shape", "ints4")), image_shape,
                                   tuple(f("poolsize", "ints2")),
                                   _act_from_name(path, f("activation", "str"), where),
                                   rng=rng)
        if kind == "fully_connected":
            return L.FullyConnectedLayer(f("n_in", "int"), f("n_out", "int"),
                                         _act_from_name(path, f("activation", "str"), where),
                                         f("p_dropout", "number"), rng=rng)
        return L.SoftmaxLayer(f("n_in", "int"), f("n_out", "int"), f("p_dropout", "number"))
    except CheckpointError:
        raise
    except (TypeError, ValueError, ZeroDivisionError) as e:
        raise CheckpointError(f"{path}: key '{where}' does not describe a layer: {e}") from None


def _training_state(path, training, arrays, saved_mbs) -> dict:
    """The checked ``__meta__.training`` dict, with its velocity and random-state arrays."""
    where = "__meta__.training"
    out = {}
    for key, kind in (("epoch", "int"), ("batch", "int"), ("eta", "number"),
                      ("lmbda", "number"), ("momentum", "number"),
                      ("training_images", "int"), ("history", "dict"), ("costs", "list")):
        out[key] = _field(path, training, key, kind, where)
    if out["epoch"] < 0 or out["batch"] < 0:
        raise CheckpointError(f"{path}: key '{where}.epoch'/'batch' must be >= 0")
    if not all(_type_ok(c, "number") for c in out["costs"]):
        raise CheckpointError(f"{path}: key '{where}.costs' must be a list of numbers")
    out["mini_batch_size"] = saved_mbs
    for key, prefix in (("velocities", "v"), ("random_states", "r")):
        n = sum(1 for k in arrays if k[:1] == prefix and k[1:].isdigit())
        out[key] = [_array(path, arrays, f"{prefix}{k}", None) for k in range(n)]
    return out


# ------------------------------------------------------------------ activations
def _act_name(fn) -> str:
    for k, v in L.ACTIVATIONS.items():
        if v is fn:
            return k
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if module and qualname and "<" not in qualname and module != "__main__":
        return f"{module}:{qualname}"
    raise TypeError(f"save: cannot record the activation function {fn!r}: use one of "
                    f"{', '.join(L.ACTIVATIONS)} or a function defined at the top level of an "
                    f"importable module")


def _act_from_name(path, name: str, where: str = "__meta__.layers"):
    if name in L.ACTIVATIONS:
        return L.ACTIVATIONS[name]
    module, _, qualname = str(name).partition(":")
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path}: key '{where}.activation': cannot find the activation "
                              f"function {name!r} ({type(e).__name__}: {e})") from None
    if not callable(obj):
        raise CheckpointError(f"{path}: key '{where}.activation': {name!r} is not a function")
    return obj


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: str) -> None:
    """Make the rename durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
