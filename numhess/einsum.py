"""np.einsum on traced values, lowered to gathers, sums and matrix products.

Each operand first loses its repeated labels (a diagonal: a gather) and the labels no
one else needs (a sum). Operands are then contracted two at a time, in the order NumPy's
own ``einsum_path`` picks from the shapes: the labels both share and that are still
needed are a batch, the shared others are summed by one batched ``matmul``.
"""
import string

import numpy as np

from .tracer import builder_of, lift

_LETTERS = string.ascii_letters


def einsum(*operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    if out is not None:
        raise TypeError("numhess: out= of a traced einsum (use the returned array)")
    spec, ops = _parse(operands)
    b = builder_of(*ops)
    ops = [lift(b, o) for o in ops]
    n_in = spec.partition("->")[0].count(",") + 1
    if n_in != len(ops):
        raise ValueError(f"{'more' if len(ops) > n_in else 'fewer'} operands provided to "
                         "einstein sum function than specified in the subscripts string")
    inputs, output = _expand(spec, [o.ndim for o in ops])
    if any(o.size == 0 for o in ops):    # empty, or sums of no terms: zeros
        return lift(b, np.einsum(spec, *(np.zeros(o.shape) for o in ops)))
    sizes = _sizes(inputs, ops)
    terms = [_reduce_alone(o, s, output, inputs, i) for i, (o, s) in
             enumerate(zip(ops, inputs))]
    for group in _order(spec, ops):
        rest = [terms[k] for k in range(len(terms)) if k not in group]
        needed = set(output).union(*[set(l) for _, l in rest])
        group = [terms[k] for k in group]
        x, lx = group[0]
        for m, (y, ly) in enumerate(group[1:], start=2):
            later = set().union(*[set(l) for _, l in group[m:]])
            x, lx = _contract(x, lx, y, ly, needed | later, sizes)
        terms = rest + [(x, lx)]
    (t, labels), = terms
    t, labels = _sum_out(t, labels, set(output))
    t = np.transpose(t, [labels.index(l) for l in output]) if labels else t
    return lift(b, t)


def _parse(operands):
    """(subscripts string, operands) from either of NumPy's calling forms."""
    if isinstance(operands[0], str):
        return operands[0].replace(" ", ""), list(operands[1:])
    ops, subs = list(operands[0::2]), list(operands[1::2])
    output = None
    if len(ops) > len(subs):          # an output sublist ends the interleaved form
        output = ops.pop()
    word = lambda sub: "".join("..." if s is Ellipsis else _LETTERS[s] for s in sub)
    spec = ",".join(word(s) for s in subs)
    return (spec + "->" + word(output) if output is not None else spec), ops


def _expand(spec, ndims):
    """Input label lists and the output label list, with '...' spelt as fresh labels."""
    ins, arrow, out = spec.partition("->")
    ins = ins.split(",")
    free = [c for c in _LETTERS if c not in spec][::-1]
    n_ell = max([nd - (len(s) - 3) for s, nd in zip(ins, ndims) if "..." in s] + [0])
    ell = [free.pop() for _ in range(n_ell)]
    labels = []
    for s, nd in zip(ins, ndims):
        if "..." in s:
            head, tail = s.split("...")
            k = nd - len(head) - len(tail)
            if k < 0:
                raise ValueError("einstein sum subscripts string contains too many "
                                 "subscripts for an operand")
            labels.append(list(head) + ell[n_ell - k:] + list(tail))
        else:
            if len(s) != nd:
                raise ValueError("operand has more dimensions than subscripts given in "
                                 "einstein sum")
            labels.append(list(s))
    if arrow:
        if "..." in out:
            head, tail = out.split("...")
            output = list(head) + ell + list(tail)
        elif n_ell:                   # (NumPy's check: it sums no broadcast axes away)
            raise ValueError("output has more dimensions than subscripts given in einstein "
                             "sum, but no '...' ellipsis provided to broadcast the extra "
                             "dimensions.")
        else:
            output = list(out)
    else:                             # implicit: the labels seen once, alphabetical
        named = [c for s in ins for c in s.replace("...", "")]
        output = ell + sorted(c for c in set(named) if named.count(c) == 1)
    every = {c for l in labels for c in l}
    for c in output:
        if c not in every:
            raise ValueError(f"einstein sum subscripts string included output subscript "
                             f"'{c}' which never appeared in an input")
    return labels, output


def _sizes(inputs, ops):
    sizes = {}
    for labels, o in zip(inputs, ops):
        for c, d in zip(labels, o.shape):
            if sizes.get(c, 1) not in (1, d) and d != 1:
                raise ValueError(f"operands could not be broadcast together: label "
                                 f"'{c}' has sizes {sizes[c]} and {d}")
            sizes[c] = max(sizes.get(c, 1), d)
    return sizes


def _reduce_alone(t, labels, output, inputs, i):
    """Diagonals of repeated labels, then the sum over labels no one else needs."""
    labels = list(labels)
    while len(set(labels)) < len(labels):
        c = next(c for c in labels if labels.count(c) > 1)
        a0 = labels.index(c)
        a1 = labels.index(c, a0 + 1)
        t = np.diagonal(t, axis1=a0, axis2=a1)       # the diagonal goes last
        labels = [l for k, l in enumerate(labels) if k not in (a0, a1)] + [c]
    needed = set(output).union(*[set(l) for k, l in enumerate(inputs) if k != i])
    return _sum_out(t, labels, needed)


def _sum_out(t, labels, needed):
    axes = tuple(k for k, c in enumerate(labels) if c not in needed)
    if not axes:
        return t, labels
    return np.sum(t, axis=axes), [c for c in labels if c in needed]


def _order(spec, ops):
    """Groups of term positions to contract, each result appended last (as einsum_path)."""
    if len(ops) <= 2:
        return [(0, 1)] if len(ops) == 2 else []
    path = np.einsum_path(spec, *[np.empty(o.shape) for o in ops], optimize="greedy")[0]
    return [tuple(p) for p in path[1:]]


def _contract(x, lx, y, ly, keep, sizes):
    """x and y contracted over their shared labels not in `keep`, as (tracer, labels)."""
    x, lx = _sum_out(x, lx, keep | set(ly))
    y, ly = _sum_out(y, ly, keep | set(lx))
    batch = [c for c in lx if c in ly and c in keep]
    inner = [c for c in lx if c in ly and c not in keep]
    xo = [c for c in lx if c not in ly]
    yo = [c for c in ly if c not in lx]
    size = lambda cs: int(np.prod([sizes[c] for c in cs]))
    X = _arrange(x, lx, batch + xo + inner, sizes)
    Y = _arrange(y, ly, batch + inner + yo, sizes)
    X = np.reshape(X, (size(batch), size(xo), size(inner)))
    Y = np.reshape(Y, (size(batch), size(inner), size(yo)))
    Z = np.reshape(np.matmul(X, Y), tuple(sizes[c] for c in batch + xo + yo))
    return Z, batch + xo + yo


def _arrange(t, labels, want, sizes):
    """t with its axes in the order `want`, size-1 axes broadcast to the label's size."""
    t = np.transpose(t, [labels.index(c) for c in want]) if labels else t
    shape = tuple(sizes[c] for c in want)
    return t if t.shape == shape else np.broadcast_to(t, shape)
