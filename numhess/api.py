"""The public transforms. Each returns a plain function with scipy's (x, *args) convention."""
import functools

import numpy as np

from . import drivers, hessians, quick
from .sparse import sparse_jacobian
from .traced import Memo, TracedFunction, as_input, read_input


def _scalar_output(rep, name):
    if rep.entry.out_size != 1:
        raise ValueError(f"{name} requires a function with a scalar output, got shape "
                         f"{rep.entry.out_shape}; use jacrev/jacfwd for vector outputs")


def _blocks(parts, multi):
    return tuple(parts) if multi else parts[0]


def _per_input(rep, flat, multi):
    """A flat array over all inputs as one array per differentiated argument."""
    return tuple(rep.split_inputs(flat)) if multi else flat.reshape(rep.entry.spans[0][2])


def _with_aux(result, rep, has_aux):
    return (result, rep.aux()) if has_aux else result


def _by_position(keywords):
    names = ", ".join(keywords)
    bound = ", ".join(f"{k}=..." for k in keywords)
    raise TypeError(f"numhess's transforms take f's arguments by position: pass {names} "
                    f"by position, or bind {'them' if len(keywords) > 1 else 'it'} by "
                    f"keyword first (functools.partial(f, {bound}))")


def _wrap(f, transform):
    """transform, named after f (for reprs and tracebacks)."""
    return functools.wraps(f)(transform) if hasattr(f, "__name__") else transform


def grad(f, argnums=0, has_aux=False):
    """Gradient of a scalar function: g(x, *args) has the shape of x."""
    tf = TracedFunction(f, argnums, has_aux)
    fast = quick.Quick(tf, quick.grad)

    def g(*args, **keywords):
        if keywords:
            _by_position(keywords)
        result = fast.call(*args)
        if result is not None:
            return result
        rep = tf.evaluate(args, not has_aux, output=False)
        _scalar_output(rep, "grad")
        result = _per_input(rep, drivers.gradient(rep, 1.0), tf.multi)
        fast.learn(rep, args)
        return _with_aux(result, rep, has_aux)
    g.traced = tf
    return _wrap(f, g)


def value_and_grad(f, argnums=0, has_aux=False):
    """(f(x), grad f(x)) from one forward and one reverse sweep; with has_aux,
    ((f(x), aux), grad f(x)) as in JAX."""
    tf = TracedFunction(f, argnums, has_aux)
    fast = quick.Quick(tf, quick.value_and_grad)

    def vg(*args, **keywords):
        if keywords:
            _by_position(keywords)
        result = fast.call(*args)
        if result is not None:
            return result
        rep = tf.evaluate(args, not has_aux)
        _scalar_output(rep, "value_and_grad")
        value = rep.output().reshape(rep.entry.out_shape)[()]
        g = _per_input(rep, drivers.gradient(rep, 1.0), tf.multi)
        fast.learn(rep, args)
        return ((value, rep.aux()) if has_aux else value), g
    vg.traced = tf
    return _wrap(f, vg)


def _jacobian(f, argnums, has_aux, chunk_size, reverse, sparse):
    tf = TracedFunction(f, argnums, has_aux)
    chunk_size = drivers.check_chunk_size(chunk_size)

    def jac(*args, **keywords):
        if keywords:
            _by_position(keywords)
        rep = tf.evaluate(args)
        if sparse:
            J = sparse_jacobian(rep)
            return _with_aux(tuple(J[:, a:b] for a, b, _ in rep.spans) if tf.multi else J,
                             rep, has_aux)
        J = drivers.jacobian(rep, chunk_size, reverse)
        parts = rep.split_inputs(J, lead=(rep.out_size,))
        parts = [p.reshape(rep.entry.out_shape + s) for p, s in zip(parts, rep.in_shapes)]
        return _with_aux(_blocks(parts, tf.multi), rep, has_aux)
    jac.traced = tf
    return _wrap(f, jac)


def jacfwd(f, argnums=0, has_aux=False, chunk_size=None, sparse=False):
    """Jacobian by forward sweeps over chunks of input directions: shape out.shape + x.shape.

    With sparse=True, a scipy.sparse CSR matrix over the flattened output and inputs (a
    tuple of column blocks for a tuple argnums), from one forward sweep per colour of its
    columns (no two of one colour share a row), in jacfwd and jacrev alike."""
    return _jacobian(f, argnums, has_aux, chunk_size, False, sparse)


def jacrev(f, argnums=0, has_aux=False, chunk_size=None, sparse=False):
    """Jacobian by reverse sweeps over chunks of output cotangents: shape out.shape + x.shape
    (sparse=True: as jacfwd's)."""
    return _jacobian(f, argnums, has_aux, chunk_size, True, sparse)


def hessian(f, argnums=0, has_aux=False, chunk_size=None, sparse=False):
    """Hessian, forward-over-reverse: shape out.shape + x.shape + x.shape; with a tuple
    argnums, nested tuples H[i][j].

    With sparse=True (scalar outputs only) the result is a scipy.sparse CSR matrix over
    the flattened inputs (nested CSR blocks for a tuple argnums), from one compressed sweep
    per colour of the Hessian's pattern. Dense Hessians with a sparse pattern use the same
    compression and are scattered into the dense result; dense patterns whose directions
    reach few elements (pairwise terms) sweep each direction over those alone, unless
    chunk_size is given."""
    tf = TracedFunction(f, argnums, has_aux)
    chunk_size = drivers.check_chunk_size(chunk_size)
    warned = []
    fast = quick.Quick(tf, quick.hessian, chunk_size)

    def hess(*args, **keywords):
        if keywords:
            _by_position(keywords)
        H = fast.call(*args)
        if H is not None:
            return H
        rep = tf.evaluate(args)
        if sparse:
            _scalar_output(rep, "hessian(sparse=True)")
            H = hessians.sparse_csr(rep, 1.0, chunk_size, warned)
            if not tf.multi:          # slicing a CSR matrix copies it
                return _with_aux(H, rep, has_aux)
            blocks = [[H[a:b, c:d] for c, d, _ in rep.spans] for a, b, _ in rep.spans]
        else:
            H = hessians.dense(rep, hessians.cotangents(rep), chunk_size)
            fast.learn(rep, args)
            out_shape = rep.entry.out_shape
            if not tf.multi:
                shape = rep.entry.spans[0][2]
                return _with_aux(H.reshape(out_shape + shape + shape), rep, has_aux)
            blocks = [[H[:, a:b, c:d].reshape(out_shape + si + sj) for c, d, sj in rep.spans]
                      for a, b, si in rep.spans]
        result = tuple(tuple(row) for row in blocks) if tf.multi else blocks[0][0]
        return _with_aux(result, rep, has_aux)
    hess.traced = tf
    return _wrap(f, hess)


def hvp(f, argnums=0):
    """hvp(x, v, *args) == hessian(f)(x, *args) @ v, without forming the Hessian.

    With a tuple argnums, v is a tuple with one direction per differentiated argument."""
    tf = TracedFunction(f, argnums, has_aux=None)
    fast = quick.Quick(tf, quick.hvp)

    def hv(*args, **keywords):
        if keywords:
            _by_position(keywords)
        if len(args) < 2:
            raise TypeError("hvp(f) returns a function of (x, v, *args)")
        result = fast.call(*args)
        if result is not None:
            return result
        if tf.multi and not isinstance(args[1], (tuple, list)):
            raise TypeError("hvp(f, argnums=(...)) returns a function of (x, v, *args) whose "
                            "second argument v is a tuple of directions, one per argument "
                            "in argnums; f's arguments are the others, in order")
        primals = args[:1] + args[2:]
        rep = tf.evaluate(primals, True, output=False)   # lean
        _scalar_output(rep, "hvp")
        v = args[1] if tf.multi else (args[1],)
        v = _directions(rep, v)
        result = _per_input(rep, drivers.hessian_vector(rep, 1.0, v), tf.multi)
        fast.learn(rep, primals)
        return result
    hv.traced = tf
    return _wrap(f, hv)


def _directions(rep, vs):
    spans = rep.entry.spans
    if len(vs) != len(spans):
        raise ValueError(f"expected {len(spans)} tangent direction(s), got {len(vs)}")
    flat = []
    for v, (_, _, shape) in zip(vs, spans):
        v = read_input(v, "tangent")
        if v.shape != shape:
            raise ValueError(f"tangent of shape {v.shape} does not match its primal's "
                             f"shape {shape}")
        flat.append(v if v.ndim == 1 else v.reshape(-1))
    return flat[0] if len(flat) == 1 else np.concatenate(flat) if flat else np.zeros(0)


_memo = Memo()


def _traced(f, n, has_aux):
    """f's TracedFunction over n primals, kept between calls of jvp and vjp."""
    return _memo.get(f, (n, has_aux), lambda: TracedFunction(f, tuple(range(n)), has_aux))


def jvp(f, primals, tangents, has_aux=False):
    """(f(*primals), J @ tangents): one forward tangent sweep, as jax.jvp; with has_aux,
    f returns (output, aux) and jvp (output, tangent, aux)."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp(f, primals, tangents): primals and tangents are tuples (or "
                        f"lists), one item per argument of f; got {type(primals).__name__} "
                        f"and {type(tangents).__name__}")
    primals, tangents = tuple(primals), tuple(tangents)
    tf = _traced(f, len(primals), has_aux)
    rep = tf.evaluate(primals)
    t = drivers.push_forward(rep, _directions(rep, tangents)).reshape(rep.entry.out_shape)
    return (rep.output(), t, rep.aux()) if has_aux else (rep.output(), t)


def vjp(f, *primals, has_aux=False):
    """(f(*primals), vjp_fn) where vjp_fn(cotangent) is a tuple with one array per primal."""
    tf = _traced(f, len(primals), has_aux)
    rep = tf.evaluate(primals)

    def vjp_fn(cotangent):
        c = as_input(cotangent, "cotangent")
        if c.shape != rep.entry.out_shape:
            raise ValueError(f"cotangent of shape {c.shape} does not match the output "
                             f"shape {rep.entry.out_shape}")
        return tuple(rep.split_inputs(drivers.gradient(rep, c.ravel())))
    out = rep.output()
    return (out, vjp_fn, rep.aux()) if has_aux else (out, vjp_fn)
