"""SciPy's scalar special functions (`scipy.special.cython_special`) for the kernels,
callable from nopython code: the values of the functions numhess has no rule of its own
for (special_values.py), and the neighbours their derivatives are written with.

As lapack.py's LAPACK, each is registered with LLVM under a name of its own, so a kernel
loaded from Numba's on-disk cache links it in the new process. Every one takes Cython's
`skip_dispatch` flag last (any int).
"""
import llvmlite.binding as llvm
import scipy.special.cython_special as cython_special
from numba import types

from .lapack import _address


def _external(name, n_args, capi_name=None):
    llvm.add_symbol("numhess_" + name,
                    _address(cython_special.__pyx_capi__[capi_name or name]))
    return types.ExternalFunction("numhess_" + name,
                                  types.float64(*[types.float64] * n_args, types.intc))


# (a __pyx_fuse_ name is the float64 one of a function Cython compiled for several types)
erfinv = _external("erfinv", 1, "__pyx_fuse_0erfinv")
erfcinv = _external("erfcinv", 1)
ndtri = _external("ndtri", 1)
erfcx = _external("erfcx", 1, "__pyx_fuse_1erfcx")
dawsn = _external("dawsn", 1, "__pyx_fuse_1dawsn")
i0, i0e, i1, i1e = (_external(n, 1) for n in ("i0", "i0e", "i1", "i1e"))
k0, k0e, k1, k1e = (_external(n, 1) for n in ("k0", "k0e", "k1", "k1e"))
j0, j1, y0, y1 = (_external(n, 1) for n in ("j0", "j1", "y0", "y1"))
iv, ive, kv, kve, jv, yv = (_external(n, 2, "__pyx_fuse_1" + n)
                            for n in ("iv", "ive", "kv", "kve", "jv", "yv"))
gammainc = _external("gammainc", 2)
gammaincc = _external("gammaincc", 2)
betainc = _external("betainc", 3, "__pyx_fuse_0betainc")
stdtr = _external("stdtr", 2, "__pyx_fuse_0stdtr")
