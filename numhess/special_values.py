"""scipy.special functions without a rule of their own, of one traced argument.

One LAPACK instruction of kind SPECIAL (never active) computes, at the trace point and at
every replay, SciPy's value (its C function, cspecial.py) and the first and second
derivatives by their formulas (kernels._special_rows); they reach the result as
factorizations.py's do: f0 + f1 d + f2 d^2 / 2, d = delta(x), has SciPy's value and the
exact first and second derivatives. The other arguments (an order, a shape) may be
traced too, but not differentiated: derivatives with respect to them have no formula
here, and raise.
"""
import numpy as np
import scipy.special as sc

from . import kernels as K
from .factorizations import _lapack, _taylor, delta
from .tracer import Tracer, builder_of, lift

# ufunc -> (function, the position of the argument it is differentiated in)
FUNCTIONS = {
    sc.erfinv: (K.S_ERFINV, 0), sc.erfcinv: (K.S_ERFCINV, 0), sc.ndtri: (K.S_NDTRI, 0),
    sc.erfcx: (K.S_ERFCX, 0), sc.dawsn: (K.S_DAWSN, 0),
    sc.i0: (K.S_I0, 0), sc.i0e: (K.S_I0E, 0), sc.i1: (K.S_I1, 0), sc.i1e: (K.S_I1E, 0),
    sc.k0: (K.S_K0, 0), sc.k0e: (K.S_K0E, 0), sc.k1: (K.S_K1, 0), sc.k1e: (K.S_K1E, 0),
    sc.j0: (K.S_J0, 0), sc.j1: (K.S_J1, 0), sc.y0: (K.S_Y0, 0), sc.y1: (K.S_Y1, 0),
    sc.iv: (K.S_IV, 1), sc.ive: (K.S_IVE, 1), sc.kv: (K.S_KV, 1), sc.kve: (K.S_KVE, 1),
    sc.jv: (K.S_JV, 1), sc.yv: (K.S_YV, 1),
    sc.gammainc: (K.S_GAMMAINC, 1), sc.gammaincc: (K.S_GAMMAINCC, 1),
    sc.betainc: (K.S_BETAINC, 2), sc.stdtr: (K.S_STDTR, 1),
}


BIG = np.finfo(float).max


def apply(ufunc, inputs):
    """ufunc(*inputs), one of FUNCTIONS, with a traced input."""
    fid, at = FUNCTIONS[ufunc]
    others = inputs[:at] + inputs[at + 1:]
    for c in others:
        if isinstance(c, Tracer) and c.active:
            raise NotImplementedError(
                f"numhess: the derivative of scipy.special.{ufunc.__name__} with respect "
                "to any argument but its last is not supported (pass that one as a "
                "constant, or as an argument not differentiated)")
    b = builder_of(*inputs)
    shape = np.broadcast_shapes(*(np.shape(v.value if isinstance(v, Tracer) else v)
                                  for v in inputs))
    rows = [np.broadcast_to(lift(b, v if isinstance(v, Tracer) else np.asarray(v, float)),
                            shape) for v in (inputs[at], *others)]
    x = rows[0]
    M = np.reshape(np.stack([np.reshape(r, (-1,)) for r in rows]), (1, len(rows), -1))
    size = M.shape[2]
    f0, f1, f2 = (np.reshape(r, shape) for r in
                  np.reshape(_lapack(K.SPECIAL, M, 3 * size, rcond=fid), (3, size)))
    if not x.active:
        return f0
    # an infinite derivative (ndtri at 1e-320, gammainc(0.5, x) at 0) as the largest
    # float, and a NaN one (outside the domain, where SciPy's value is NaN: erfinv(2)) as
    # 0, so the value stays SciPy's (inf or NaN times d would make it NaN) and no NaN
    # reaches the other elements' derivatives (a branch not taken passes on 0 x NaN)
    c1, c2 = (np.where(np.isnan(c), 0.0, np.clip(c, -BIG, BIG)) for c in (f1, f2))
    return _taylor(f0, c1, c2, delta(x))
