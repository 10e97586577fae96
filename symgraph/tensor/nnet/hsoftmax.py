"""Two-level hierarchical softmax (Theano's ``T.nnet.h_softmax``).

The outputs are split into ``n_classes`` classes of ``n_outputs_per_class`` outputs: a
first softmax gives each class's probability, a second one (per class) each output's
probability within its class, and an output's probability is the product. With a target
only the target's class is evaluated, so a step costs ``O(n_classes +
n_outputs_per_class)`` per example instead of ``O(n_outputs)``: why language models with
large vocabularies used it. Built from existing ops (dot, softmax, advanced indexing,
``batched_dot``), so gradients and backends come with them.
"""
from __future__ import annotations

__all__ = ["h_softmax"]


def h_softmax(x, batch_size, n_outputs, n_classes, n_outputs_per_class, W1, b1, W2, b2,
              target=None):
    """Theano's ``h_softmax``.

    ``x``: (batch_size, n_in); ``W1``: (n_in, n_classes); ``b1``: (n_classes,); ``W2``:
    (n_classes, n_in, n_outputs_per_class); ``b2``: (n_classes, n_outputs_per_class);
    ``target``: None, or the integer target of each example (a vector, or anything that
    flattens to one).

    Returns, without a target, every output's probability, (batch_size, n_outputs) (the
    last ``n_classes * n_outputs_per_class - n_outputs`` outputs dropped); with a target,
    each example's probability of its target, (batch_size,).

    Example::

        >>> x, t = T.matrix('x'), T.ivector('t')
        >>> W1, b1, W2, b2 = (T.matrix(), T.vector(), T.tensor3(), T.matrix())
        >>> p = T.nnet.h_softmax(x, 32, 1000, 32, 32, W1, b1, W2, b2, target=t)
    """
    import symgraph.tensor as T

    x = T.as_tensor_variable(x)
    class_probs = T.nnet.softmax(T.dot(x, W1) + b1)
    if target is None:
        activations = T.tensordot(x, W2, axes=[[1], [1]]) + b2
        output_probs = T.nnet.softmax(activations.reshape((-1, n_outputs_per_class)))
        output_probs = output_probs.reshape((batch_size, n_classes, -1))
        output_probs = class_probs.dimshuffle(0, 1, "x") * output_probs
        output_probs = output_probs.reshape((batch_size, -1))
        return output_probs[:, :n_outputs]
    target = T.as_tensor_variable(target).flatten()
    target_classes = target // n_outputs_per_class
    target_outputs_in_class = target % n_outputs_per_class
    W2 = T.as_tensor_variable(W2)
    b2 = T.as_tensor_variable(b2)
    activations = T.batched_dot(x, W2[target_classes]) + b2[target_classes]
    output_probs = T.nnet.softmax(activations)
    rows = T.arange(batch_size)
    return (class_probs[rows, target_classes]
            * output_probs[rows, target_outputs_in_class])
