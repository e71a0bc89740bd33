"""LAPACK's LU factorization and solves for the kernels: `getrf(m, n, a, lda, ipiv, info)`
and `getrs(trans, n, nrhs, a, lda, ipiv, b, ldb, info)`, and BLAS's
`gemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)` and
`gemv(trans, m, n, alpha, a, lda, x, incx, beta, y, incy)`, every argument a pointer
(Fortran's convention), callable from nopython code.

Numba's `np.linalg.solve` factors its matrix at every call; a solve's derivatives need
solves with the same matrix and its transpose in every sweep, so numhess keeps the LU
factors of the forward sweep and solves with them (three factorizations fewer per HVP).
Numba has no `getrs`, and its `np.dot` takes no leading dimension (a block of a matrix's
columns had to be copied first) nor adds into its output; these are SciPy's
`cython_lapack` and `cython_blas` functions (the ones Numba's own `np.linalg` and `np.dot`
call), registered with LLVM under names of their own, so compiled code
refers to them by name and a kernel loaded from Numba's on-disk cache links them in the
new process (a function pointer baked into the code would make it uncacheable).
"""
import ctypes

import llvmlite.binding as llvm
import scipy.linalg.cython_blas as cython_blas
import scipy.linalg.cython_lapack as cython_lapack
from numba import types


def _address(capsule):
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get(capsule, name(capsule))


def _external(module, name, n_args):
    llvm.add_symbol("numhess_" + name, _address(module.__pyx_capi__[name]))
    return types.ExternalFunction("numhess_" + name, types.void(*[types.voidptr] * n_args))


getrf = _external(cython_lapack, "dgetrf", 6)
getrs = _external(cython_lapack, "dgetrs", 9)
gemm = _external(cython_blas, "dgemm", 13)
gemv = _external(cython_blas, "dgemv", 11)
