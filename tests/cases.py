"""The reference table: one row per supported NumPy function (or usage of one).

Each row is (name, function of x, shape of x, domain of x). The functions return arrays;
the tests check them as vector functions (Jacobians) and through a scalar objective
(gradient, Hessian, HVP) against central finite differences, at two points.
"""
import numpy as np
import scipy.sparse as sp
import scipy.special as sc

import numhess.special as nsp

POS = (0.5, 2.0)       # logs, roots, powers
UNIT = (-0.9, 0.9)     # arcsin, arctanh
ANY = (-2.0, 2.0)

_mask = np.array([True, False, True, True, False, True, False, True, True, False, True, False])
_idx = np.array([0, 3, 3, 11, 5, 1])
_groups = np.array([0, 2, 2, 1, 0, 5, 5, 5, 1, 0, 3, 2])
_zeros_ones = np.where(_mask, 0.0, 1.5)
_signs = np.array([1.0, -0.2, 0.5, -0.1])
_series = np.cos(np.arange(15.0)) * np.linspace(1.0, 2.0, 15)
_nan_inf = np.array([0.0, np.nan, np.inf, 1.0, -np.inf, 0.5, 0.0, np.nan, 2.0, 0.0, np.inf, 0.0])


def _put_along(x):
    y = np.zeros_like(x).reshape(3, 4)
    np.put_along_axis(y, np.argsort(x.reshape(3, 4), axis=1)[:, :2], x[:6].reshape(3, 2) ** 2,
                      axis=1)
    return y.ravel()


def _flat_write(x):
    y = np.zeros_like(x).reshape(3, 4)
    y.flat[[1, 6]] = x[:2] ** 2       # writes through to y
    return y.ravel()


def _half(x):
    n = x.shape[0] // 2
    return x[:n], x[n:]


_A3 = np.array([[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [3.0, 0.5, 2.0]])


_W40 = np.random.default_rng(40).normal(size=(6, 40)) / 6.0
_D1000 = np.random.default_rng(41).normal(size=(1000, 8)) / 3.0


def _mat3(x):
    return x[:9].reshape(3, 3) + 3.0 * np.eye(3)


def _spd(x):
    m = x.reshape(3, 4)
    return m @ m.T + 0.5 * np.eye(3)


def _column_signs_fixed(V):
    """Eigenvectors with each column's sign set by its first entry (signs are LAPACK's
    choice, and differ between its UPLO paths)."""
    return V * np.sign(V[..., :1, :])


def _eig_recompose(a):
    w, V = np.linalg.eigh(a)
    return np.concatenate([np.ravel((V * np.exp(w)) @ V.T), np.ravel(V[:2] * V[1:3])])


def _scalar_loop(x):
    terms = []
    for i in range(len(x) - 1):
        terms.append(x[i] * x[i + 1] - np.sin(x[i]))
    return np.array(terms + [x[0] ** 2])


def _scalar_rules(x):
    """Every op with a scalar rule (kernels._scalar_op) on one element, in a recursion:
    binary ones with both operands active, one of them constant (c, inactive: x[0]'s
    sign) and one slot twice; unary ones with a parameter."""
    c = np.sign(x[0])
    s, out = x[0], []
    for xi in x[1:]:
        out += [s + xi, s - xi, s * xi, s / xi, c + xi, c - xi, xi - c, c * xi, xi / c,
                c / xi, xi * xi, -xi, xi + 1.5, 2.5 - xi, xi * 0.7, xi / 3.0, np.square(xi),
                np.reciprocal(xi), np.exp(xi), np.log(xi), np.sqrt(xi), np.tanh(xi)]
        s = s * xi / (1.0 + s * s) - 0.5 * s
    return np.array(out + [s])


def _short_rules(x):
    """The same on vectors of 3 (kernels.SCALAR_MAX), whole and broadcast (x[0] with a
    vector), in a recursion."""
    c, s, out = np.sign(x[:3]), x[3:6], []
    for k in range(2):
        a = x[6 + k]
        out += [s + x[:3], s - x[:3], s * x[:3], s / x[:3], a + s, s - a, a * s, s / a,
                a / s, c * s, s * s, -s, s + 1.5, 2.5 - s, s * 0.7, s / 3.0, np.square(s),
                np.reciprocal(s), np.exp(s), np.log(s), np.sqrt(s), np.tanh(s)]
        s = s * a / (1.0 + s * s) + 0.5 * s
    return np.concatenate(out + [s])


def _setitem(x):
    y = np.zeros_like(x)
    y[1:] = x[:-1] * x[1:]
    y[0] = x[0] ** 3
    return y


def _branchy(x):
    if x[0] > 0:
        return np.sin(x) * x[1]
    return np.cos(x) * x[2]


_SPARSE = sp.random(12, 12, density=0.3, random_state=1, format="csr")    # spmatrix: * is @
_SPARSE_ARRAY = sp.csr_array(sp.random(5, 12, density=0.4, random_state=2))


def _assembled(x):
    """Finite-element style: element values accumulated at shared nodes (np.add.at),
    also through a view, and subtracted (np.subtract.at)."""
    elements = np.array([[0, 1, 2], [1, 2, 3], [2, 3, 5], [5, 3, 4]])
    y = np.zeros_like(x)
    np.add.at(y, elements, np.sum(x[elements] ** 2, axis=1)[:, None] * x[elements])
    np.add.at(y[6:], [0, 0, 3], np.sin(x[:3]))
    np.subtract.at(y, (np.array([7, 7]),), x[8:10] ** 3)
    return y


def _filled_diagonal(a):
    np.fill_diagonal(a, a[0, 0] ** 2)
    return a


def _diag_added(K):
    K[np.diag_indices_from(K)] += K[0, 1] ** 2     # a kernel matrix's noise
    return K


CASES = [
    # -- elementwise unary
    ("negative", lambda x: -x, (12,), ANY),
    ("exp", np.exp, (12,), ANY),
    ("exp2", np.exp2, (12,), ANY),
    ("expm1", np.expm1, (12,), ANY),
    ("log", np.log, (12,), POS),
    ("log2", np.log2, (12,), POS),
    ("log10", np.log10, (12,), POS),
    ("log1p", np.log1p, (12,), POS),
    ("sqrt", np.sqrt, (12,), POS),
    ("cbrt", np.cbrt, (12,), POS),
    ("square", np.square, (12,), ANY),
    ("reciprocal", np.reciprocal, (12,), POS),
    ("sin", np.sin, (12,), ANY),
    ("cos", np.cos, (12,), ANY),
    ("tan", np.tan, (12,), (-1.2, 1.2)),
    ("arcsin", np.arcsin, (12,), UNIT),
    ("arccos", np.arccos, (12,), UNIT),
    ("arctan", np.arctan, (12,), ANY),
    ("sinh", np.sinh, (12,), ANY),
    ("cosh", np.cosh, (12,), ANY),
    ("tanh", np.tanh, (12,), ANY),
    ("arcsinh", np.arcsinh, (12,), ANY),
    ("arccosh", np.arccosh, (12,), (1.2, 3.0)),
    ("arctanh", np.arctanh, (12,), UNIT),
    ("abs", np.abs, (12,), ANY),
    ("fabs", np.fabs, (12,), ANY),
    ("pow int", lambda x: x ** 3, (12,), ANY),
    ("pow int 6 12 -6 -12", lambda x: x ** 6 - 0.1 * x ** 12 + 0.01 * x ** -6
     - 1e-3 * x ** -12, (12,), POS),
    ("pow int odd negative", lambda x: x ** 5 + x ** -3 + x ** 7, (12,), ANY),
    ("pow frac", lambda x: x ** 2.5, (12,), POS),
    ("pow neg", lambda x: x ** -1.5, (12,), POS),
    ("rpow", lambda x: 2.0 ** x, (12,), ANY),
    ("add const", lambda x: x + 1.5, (12,), ANY),
    ("rsub const", lambda x: 3.0 - x, (12,), ANY),
    ("rdiv const", lambda x: 2.0 / x, (12,), POS),
    ("div const", lambda x: x / 3.0, (12,), ANY),
    ("mul const", lambda x: 4.0 * x, (12,), ANY),
    ("deg2rad", np.deg2rad, (12,), ANY),
    ("rad2deg", np.rad2deg, (12,), ANY),
    # -- elementwise binary, with broadcasting
    ("add", lambda x: np.add(*_half(x)), (12,), ANY),
    ("subtract", lambda x: np.subtract(*_half(x)), (12,), ANY),
    ("multiply", lambda x: np.multiply(*_half(x)), (12,), ANY),
    ("divide", lambda x: np.divide(*_half(x)), (12,), POS),
    ("power", lambda x: np.power(*_half(x)), (12,), POS),
    ("float_power", lambda x: np.float_power(*_half(x)), (12,), POS),
    ("arctan2", lambda x: np.arctan2(*_half(x)), (12,), ANY),
    ("hypot", lambda x: np.hypot(*_half(x)), (12,), ANY),
    ("logaddexp", lambda x: np.logaddexp(*_half(x)), (12,), ANY),
    ("logaddexp2", lambda x: np.logaddexp2(*_half(x)), (12,), ANY),
    ("maximum", lambda x: np.maximum(*_half(x)), (12,), ANY),
    ("minimum", lambda x: np.minimum(*_half(x)), (12,), ANY),
    ("fmax", lambda x: np.fmax(*_half(x)), (12,), ANY),
    ("fmin", lambda x: np.fmin(*_half(x)), (12,), ANY),
    ("pow const array", lambda x: x ** np.arange(12.0), (12,), ANY),
    ("const array pow", lambda x: np.linspace(0.5, 2, 12) ** x, (12,), ANY),
    ("zero bases pow", lambda x: _zeros_ones ** x, (12,), POS),
    ("zero rpow", lambda x: 0.0 ** x, (12,), POS),
    ("broadcast row", lambda x: x.reshape(3, 4) * x[:4], (12,), ANY),
    ("broadcast col", lambda x: x.reshape(3, 4) / (2.0 + x[:3, None]), (12,), POS),
    ("broadcast scalar traced", lambda x: x * x[0] - x[1], (12,), ANY),
    ("broadcast const", lambda x: x.reshape(3, 4) * np.arange(4.0), (12,), ANY),
    ("where", lambda x: np.where(x > 0, x ** 2, np.sin(x)), (12,), ANY),
    ("where broadcast", lambda x: np.where(_mask.reshape(3, 4), x.reshape(3, 4), 2.0 * x[:4]),
     (12,), ANY),
    ("clip", lambda x: np.clip(x, -0.7, 0.9) * x, (12,), ANY),
    ("clip traced bounds", lambda x: np.clip(x[:6], x[6:] - 1.0, x[6:] + 1.0), (12,), ANY),
    # -- non-differentiable ones only scale a differentiable part
    ("sign", lambda x: np.sign(x) * x ** 2, (12,), ANY),
    ("floor", lambda x: np.floor(3 * x) * x, (12,), ANY),
    ("ceil", lambda x: np.ceil(3 * x) * x, (12,), ANY),
    ("round", lambda x: np.round(3 * x) * x + np.round(x, 1), (12,), ANY),
    ("comparisons", lambda x: (x > 0.1) * x + (x <= 0.1) * x ** 2 + (x == x) * x, (12,), ANY),
    # -- reductions
    ("sum", lambda x: np.sum(x ** 2), (12,), ANY),
    ("sum axis0", lambda x: np.sin(x.reshape(3, 4)).sum(axis=0), (12,), ANY),
    ("sum axis1 keepdims", lambda x: x.reshape(3, 4).sum(axis=1, keepdims=True) * x.reshape(3, 4),
     (12,), ANY),
    ("sum axes", lambda x: np.sum(x.reshape(2, 3, 2) ** 2, axis=(0, 2)), (12,), ANY),
    ("mean", lambda x: np.mean(x.reshape(3, 4) ** 3, axis=1), (12,), ANY),
    ("prod", lambda x: np.prod(x), (12,), ANY),
    ("prod axis", lambda x: np.prod(x.reshape(3, 4), axis=1), (12,), ANY),
    ("prod with zero", lambda x: np.prod(x * np.array([0.0] + [1.0] * 11)), (12,), ANY),
    ("max", lambda x: np.max(x) * x, (12,), ANY),
    ("max axis", lambda x: np.max(x.reshape(3, 4) ** 2, axis=0), (12,), ANY),
    ("min axis keepdims", lambda x: x.reshape(3, 4).min(axis=1, keepdims=True) * x.reshape(3, 4),
     (12,), ANY),
    ("var", lambda x: np.var(x.reshape(3, 4), axis=1), (12,), ANY),
    ("sum where= initial=", lambda x: np.sum(x.reshape(3, 4) ** 2, axis=1, where=_mask.reshape(3, 4),
                                            initial=1.5) + (x ** 3).sum(where=x > 0), (12,), ANY),
    ("mean var std where=", lambda x: np.mean(x.reshape(3, 4) ** 2, axis=0, where=_mask.reshape(3, 4))
     + x.reshape(4, 3).var(axis=1, where=_mask.reshape(4, 3))
     * np.std(x.reshape(3, 4), where=_mask.reshape(3, 4), ddof=1), (12,), ANY),
    ("var std correction=", lambda x: np.var(x.reshape(3, 4), axis=1, correction=1)
     + np.std(x.reshape(3, 4), axis=1, correction=0.5), (12,), ANY),
    ("prod where= initial=", lambda x: np.prod(x.reshape(3, 4), axis=1, where=_mask.reshape(3, 4))
     + x.prod(initial=2.0) + np.multiply.reduce(x.reshape(3, 4), axis=0, initial=-1.5)[:3]
     + np.add.reduce(x.reshape(3, 4) ** 2, axis=1, where=_mask.reshape(3, 4)),
     (12,), ANY),
    ("max min where= initial=", lambda x: np.max(x.reshape(3, 4), axis=1, where=_mask.reshape(3, 4),
                                                initial=-0.5) * x.min(initial=0.25)
     + np.maximum.reduce(x.reshape(3, 4) ** 2, axis=1, initial=0.5)
     + np.nanmax(x.reshape(3, 4), axis=1, initial=1.0), (12,), ANY),
    ("var ddof", lambda x: np.var(x, ddof=1) * x, (12,), ANY),
    ("std", lambda x: np.std(x.reshape(3, 4), axis=0), (12,), ANY),
    ("cumsum", lambda x: np.cumsum(x) ** 2, (12,), ANY),
    ("cumsum axis", lambda x: np.cumsum(x.reshape(3, 4), axis=1) ** 2, (12,), ANY),
    ("cumprod", lambda x: np.cumprod(x), (12,), (0.5, 1.5)),
    ("cumprod axis0", lambda x: np.cumprod(x.reshape(3, 4), axis=0), (12,), ANY),
    # -- structure
    ("basic index", lambda x: x[3] * x[1:5] ** 2, (12,), ANY),
    ("strided", lambda x: x[::3] * x[1::3], (12,), ANY),
    ("reversed", lambda x: x[::-1] * x, (12,), ANY),
    ("2d slices", lambda x: x.reshape(3, 4)[1:, ::2] ** 2, (12,), ANY),
    ("int array index", lambda x: x[_idx] ** 2, (12,), ANY),
    ("const mask", lambda x: x[_mask] * x[~_mask].sum(), (12,), ANY),
    ("traced mask", lambda x: np.sum(x[x > 0] ** 3) * x, (12,), ANY),
    ("newaxis ellipsis", lambda x: x.reshape(3, 4)[..., None, 1] * x[None, :3].T, (12,), ANY),
    ("reshape ravel flatten order F methods", lambda x: x.reshape(3, 4, order="F")[0]
     * x.reshape(4, 3).ravel("F")[:4] + x.reshape((2, 6)).flatten(order="F")[3:7], (12,), ANY),
    ("reshape", lambda x: np.reshape(x, (4, 3)) @ np.ones(3) * x[:4], (12,), ANY),
    ("ravel flatten reshape in memory's order (K, A)", lambda x: x.reshape(3, 4).T.ravel("K")
     * x.reshape(3, 4).T.flatten("A") + np.reshape(x.reshape(4, 3).T, 12, order="A") ** 2,
     (12,), ANY),
    ("ravel K of axes permuted, reversed, strided", lambda x: np.concatenate([
        np.transpose(x.reshape(2, 3, 2), (2, 0, 1))[:, :, ::-1].ravel("K"),
        x.reshape(4, 3).T[::2].ravel(order="K")]) ** 2, (12,), ANY),
    ("asfortranarray then ravel K", lambda x: np.asfortranarray(x.reshape(3, 4)).ravel("K")
     * np.asfortranarray(x.reshape(3, 4) * 2.0).reshape(12, order="A"), (12,), ANY),
    ("ravel flatten", lambda x: x.reshape(3, 4).ravel() * x.reshape(4, 3).flatten(), (12,), ANY),
    ("transpose", lambda x: np.transpose(x.reshape(3, 4)) * x.reshape(4, 3), (12,), ANY),
    (".T", lambda x: x.reshape(2, 6).T ** 2, (12,), ANY),
    ("swapaxes", lambda x: np.swapaxes(x.reshape(2, 3, 2), 0, 2) ** 2, (12,), ANY),
    ("moveaxis", lambda x: np.moveaxis(x.reshape(2, 3, 2), 0, -1) * x.reshape(3, 2, 2), (12,), ANY),
    ("expand squeeze", lambda x: np.squeeze(np.expand_dims(x, 0)) ** 2, (12,), ANY),
    ("broadcast_to", lambda x: np.broadcast_to(x[:4], (3, 4)) * x.reshape(3, 4), (12,), ANY),
    ("concatenate", lambda x: np.concatenate([x[:5] ** 2, x[3:], [1.0]]), (12,), ANY),
    ("concatenate axis1", lambda x: np.concatenate([x.reshape(3, 4), x.reshape(3, 4) ** 2], 1),
     (12,), ANY),
    ("stack", lambda x: np.stack([x[:6], x[6:] ** 2], axis=1), (12,), ANY),
    ("hstack", lambda x: np.hstack([x[:6] ** 2, x[6:]]), (12,), ANY),
    ("vstack", lambda x: np.vstack([x[:6], x[6:] * x[:6]]), (12,), ANY),
    ("flip", lambda x: np.flip(x.reshape(3, 4), axis=1) * x.reshape(3, 4), (12,), ANY),
    ("roll", lambda x: np.roll(x, 3) * x, (12,), ANY),
    ("repeat", lambda x: np.repeat(x[:4], 3) * x, (12,), ANY),
    ("tile", lambda x: np.tile(x[:4], 3) * x, (12,), ANY),
    ("diag of vector", lambda x: np.diag(x[:4]) @ x.reshape(4, 3), (12,), ANY),
    ("diag of matrix", lambda x: np.diag(x[:9].reshape(3, 3)) ** 2, (12,), ANY),
    ("diagonal", lambda x: np.diagonal(x.reshape(3, 4), 1) ** 2, (12,), ANY),
    ("trace", lambda x: np.trace(x[:9].reshape(3, 3) ** 2) * x, (12,), ANY),
    ("triu", lambda x: np.triu(x[:9].reshape(3, 3)) ** 2, (12,), ANY),
    ("tril", lambda x: np.tril(x.reshape(3, 4), -1) * x.reshape(3, 4), (12,), ANY),
    ("pad", lambda x: np.pad(x.reshape(3, 4), 1) ** 2, (12,), ANY),
    ("pad edge", lambda x: np.pad(x, (2, 1), mode="edge") ** 2, (12,), ANY),
    ("pad maximum", lambda x: np.pad(x.reshape(3, 4), ((1, 2), (2, 1)), mode="maximum",
                                     stat_length=2) ** 2, (12,), ANY),
    ("pad minimum", lambda x: np.pad(x, 3, mode="minimum") ** 2, (12,), ANY),
    ("pad mean", lambda x: np.pad(x.reshape(3, 4), 2, mode="mean") ** 2, (12,), ANY),
    ("pad median", lambda x: np.pad(x.reshape(4, 3), (1, 2), mode="median", stat_length=3)
     ** 2, (12,), ANY),
    ("pad linear_ramp", lambda x: np.pad(x.reshape(3, 4), ((2, 1), (1, 3)), mode="linear_ramp",
                                         end_values=((0.5, -1.0), (2.0, 0.0))) ** 2, (12,), ANY),
    ("pad reflect odd", lambda x: np.concatenate([
        np.pad(x[:3], (7, 5), mode="reflect", reflect_type="odd") ** 2,
        np.pad(x[3:], 2, mode="reflect", reflect_type="odd")]), (12,), ANY),
    ("pad symmetric odd", lambda x: np.pad(x.reshape(3, 4), ((4, 2), (1, 5)), mode="symmetric",
                                           reflect_type="odd") ** 2, (12,), ANY),
    ("diff", lambda x: np.diff(x) ** 2, (12,), ANY),
    ("diff n2 axis0", lambda x: np.diff(x.reshape(4, 3), n=2, axis=0) ** 2, (12,), ANY),
    ("sort", lambda x: np.sort(x) * np.arange(12.0), (12,), ANY),
    ("sort axis0", lambda x: np.sort(x.reshape(3, 4), axis=0) ** 3, (12,), ANY),
    ("zeros_like setitem", _setitem, (12,), ANY),
    ("ones_like", lambda x: np.ones_like(x) * x ** 2, (12,), ANY),
    ("full_like", lambda x: np.full_like(x, 2.0) ** x, (12,), ANY),
    ("np.array of scalars", _scalar_loop, (12,), ANY),
    ("scalar rules recursion", _scalar_rules, (5,), (0.5, 2.0)),
    ("scalar rules on short vectors", _short_rules, (8,), (0.5, 2.0)),
    ("iterate rows", lambda x: np.array([np.sum(r ** 2) for r in x.reshape(3, 4)]), (12,), ANY),
    # -- products
    ("dot vv", lambda x: np.dot(x[:6], x[6:]), (12,), ANY),
    ("dot mv", lambda x: np.dot(x.reshape(3, 4), x[:4]), (12,), ANY),
    ("dot mm", lambda x: np.dot(x.reshape(3, 4), x.reshape(4, 3)), (12,), ANY),
    ("matmul const left", lambda x: np.arange(24.0).reshape(2, 12) @ x, (12,), ANY),
    ("matmul const right", lambda x: x.reshape(3, 4) @ np.arange(8.0).reshape(4, 2), (12,), ANY),
    ("matmul vm", lambda x: x[:3] @ x.reshape(3, 4), (12,), ANY),
    ("batched matmul", lambda x: np.matmul(x.reshape(3, 2, 2), x.reshape(3, 2, 2) ** 2),
     (12,), ANY),
    # 40 inputs: few non-zeros per seeded direction, the column-sum path of a product
    ("matmul sparse seeds right", lambda x: np.tanh(_W40 @ x) * x[:6], (40,), ANY),
    ("matmul sparse seeds left", lambda x: np.tanh(x.reshape(5, 8) @ _W40[:, :8].T), (40,),
     ANY),
    ("matmul sparse seeds both", lambda x: x.reshape(5, 8) @ x.reshape(8, 5), (40,), ANY),
    # seeds off the diagonal (reversed), and a product with a few elements of x: the
    # sparse product's general loop, not its copy of a row's slice
    ("matmul sparse seeds reversed", lambda x: np.tanh(_W40 @ x[::-1]) * x[:6], (40,), ANY),
    ("matmul sparse seeds scaled", lambda x: np.tanh(_W40[:, :10] @ (3.0 * x[:10])) @ x[10:16],
     (40,), ANY),
    # one direction (gradient, HVP) through 1000 blocks of a product: kernels.SMALL_WORK
    ("matmul one direction, many blocks",
     lambda x: np.tanh(_D1000 @ x.reshape(8, 5)) @ x[:5], (40,), ANY),
    # a right factor past kernels.SMALL_FACTOR entries: the active left factor's rows go
    # through one BLAS product, not loops
    ("matmul large right factor", lambda x: np.sin(x[:27].reshape(3, 9)) @ x.reshape(9, 8),
     (72,), ANY),
    ("batched broadcast matmul", lambda x: x.reshape(3, 2, 2) @ x[:4].reshape(2, 2), (12,), ANY),
    ("vdot", lambda x: np.vdot(x.reshape(3, 4), np.sin(x).reshape(3, 4)), (12,), ANY),
    ("inner", lambda x: np.inner(x.reshape(3, 4), x.reshape(2, 6)[:, :4]), (12,), ANY),
    ("outer", lambda x: np.outer(x[:3], x[3:7]), (12,), ANY),
    ("tensordot", lambda x: np.tensordot(x.reshape(2, 3, 2), x.reshape(3, 2, 2), axes=([1, 2], [0, 1])),
     (12,), ANY),
    ("tensordot int", lambda x: np.tensordot(x.reshape(3, 4), x.reshape(4, 3), axes=1), (12,), ANY),
    ("norm", lambda x: np.linalg.norm(x) * x, (12,), ANY),
    ("norm axis", lambda x: np.linalg.norm(x.reshape(3, 4), axis=1), (12,), ANY),
    ("norm ord1", lambda x: np.linalg.norm(x, 1) * x, (12,), ANY),
    ("norm ord3", lambda x: np.linalg.norm(x, 3) * x, (12,), ANY),
    ("norm fro", lambda x: np.linalg.norm(x.reshape(3, 4), "fro") * x, (12,), ANY),
    # -- np.linalg
    ("det", lambda x: np.linalg.det(_mat3(x)) * x, (12,), ANY),
    ("det pivoting", lambda x: np.linalg.det(x.reshape(3, 4)[:, 1:]), (12,), ANY),
    ("det 6x6", lambda x: np.linalg.det(x[:36].reshape(6, 6) + 2.0 * np.eye(6)) * x[:6],
     (36,), ANY),
    ("det batched", lambda x: np.linalg.det(x.reshape(3, 2, 2)), (12,), ANY),
    ("slogdet", lambda x: np.linalg.slogdet(_mat3(x))[1] * x, (12,), ANY),
    ("slogdet sign batched", lambda x: np.multiply(*np.linalg.slogdet(x.reshape(3, 2, 2))),
     (12,), ANY),
    ("inv", lambda x: np.linalg.inv(_mat3(x)), (12,), ANY),
    ("inv pivoting", lambda x: np.linalg.inv(x.reshape(3, 4)[:, :3]) @ x[:3], (12,), ANY),
    ("inv 4x4", lambda x: np.linalg.inv(x.reshape(4, 4)) @ x[:4], (16,), ANY),
    ("slogdet any sign", lambda x: np.multiply(*np.linalg.slogdet(x.reshape(4, 4))), (16,), ANY),
    ("solve broadcast batch", lambda x: np.linalg.solve(_mat3(x), x.reshape(2, 3, 2) ** 2),
     (12,), ANY),
    ("inv batched", lambda x: np.linalg.inv(x.reshape(3, 2, 2) + 2.0 * np.eye(2)), (12,), ANY),
    ("solve vector", lambda x: np.linalg.solve(_mat3(x), x[9:]), (12,), ANY),
    ("solve matrix const", lambda x: np.linalg.solve(_mat3(x), np.arange(6.0).reshape(3, 2)),
     (12,), ANY),
    ("solve const matrix", lambda x: np.linalg.solve(_A3, x.reshape(3, 4)), (12,), ANY),
    ("solve batched", lambda x: np.linalg.solve(x.reshape(3, 2, 2) + 2.0 * np.eye(2),
                                                x.reshape(3, 2, 2)[:, :, :1] ** 2), (12,), ANY),
    ("solve stacked a vector b", lambda x: np.linalg.solve(
        x[:8].reshape(2, 2, 2) + 2.0 * np.eye(2), x[8:10]), (12,), ANY),
    ("solve stacked a shared b", lambda x: np.linalg.solve(
        x.reshape(3, 2, 2) + 2.0 * np.eye(2), np.sin(x[:4]).reshape(2, 2)), (12,), ANY),
    ("solve pivoting", lambda x: np.linalg.solve(x.reshape(3, 4)[:, 1:], x[:3] ** 2),
     (12,), ANY),
    ("solve a with b", lambda x: np.linalg.solve(_mat3(x), _mat3(x).T), (12,), ANY),
    ("cholesky", lambda x: np.linalg.cholesky(_spd(x)), (12,), ANY),
    ("cholesky lower triangle only", lambda x: np.linalg.cholesky(
        np.tril(_spd(x)) + np.triu(x[:9].reshape(3, 3), 1)), (12,), ANY),
    ("cholesky 5x5", lambda x: np.linalg.cholesky(
        x.reshape(5, 5) @ x.reshape(5, 5).T + np.eye(5)), (25,), ANY),
    ("cholesky upper triangle only", lambda x: np.linalg.cholesky(
        np.triu(_spd(x)) + np.tril(x[:9].reshape(3, 3), -1), upper=True), (12,), ANY),
    ("cholesky upper batched", lambda x: np.linalg.cholesky(
        x.reshape(3, 2, 2) @ np.swapaxes(x.reshape(3, 2, 2), 1, 2) + 0.5 * np.eye(2),
        upper=True), (12,), ANY),
    ("eigvalsh", lambda x: np.linalg.eigvalsh(x.reshape(4, 4)), (16,), ANY),
    ("eigh", lambda x: np.concatenate([np.ravel(p) for p in np.linalg.eigh(x.reshape(4, 4))]),
     (16,), ANY),
    ("eigh upper batched", lambda x: _column_signs_fixed(
        np.linalg.eigh(x.reshape(2, 3, 3), UPLO="U")[1]), (18,), ANY),
    ("eigh vectors scaled", lambda x: _eig_recompose(x.reshape(4, 4)), (16,), ANY),
    ("qr tall", lambda x: np.concatenate([np.ravel(p) for p in np.linalg.qr(x.reshape(4, 3))]),
     (12,), ANY),
    ("qr wide", lambda x: np.concatenate([np.ravel(p) for p in np.linalg.qr(x.reshape(3, 4))]),
     (12,), ANY),
    ("qr r batched", lambda x: np.linalg.qr(x.reshape(2, 3, 2), mode="r"), (12,), ANY),
    ("pinv tall", lambda x: np.linalg.pinv(x.reshape(4, 3)), (12,), ANY),
    ("pinv hermitian lower triangle", lambda x: np.linalg.pinv(
        np.tril(_spd(x)) + np.triu(x[:9].reshape(3, 3), 1), hermitian=True), (12,), ANY),
    ("pinv wide batched", lambda x: np.linalg.pinv(x.reshape(2, 2, 3), rtol=None), (12,), ANY),
    ("lstsq", lambda x: np.concatenate(np.linalg.lstsq(x[:12].reshape(4, 3), x[12:])[:2]),
     (16,), ANY),
    ("lstsq matrix b", lambda x: np.linalg.lstsq(x.reshape(4, 4)[:, :2], x.reshape(4, 4)
                                                  [:, 2:] ** 2)[1], (16,), ANY),
    ("lstsq wide const", lambda x: np.linalg.lstsq(x.reshape(2, 6), np.ones(2))[0], (12,), ANY),
    ("svd values", lambda x: np.linalg.svd(x.reshape(4, 3), compute_uv=False), (12,), ANY),
    ("svd values hermitian lower triangle", lambda x: np.linalg.svd(
        np.tril(x[:9].reshape(3, 3)) + np.triu(x[3:].reshape(3, 3), 1), compute_uv=False,
        hermitian=True), (12,), ANY),
    ("svdvals wide batched", lambda x: np.linalg.svdvals(x.reshape(2, 2, 3)), (12,), ANY),
    ("norm 2", lambda x: np.linalg.norm(x.reshape(4, 3), 2) * x, (12,), ANY),
    ("norm -2", lambda x: np.linalg.norm(x.reshape(3, 4), -2) * x, (12,), ANY),
    ("norm nuc", lambda x: np.linalg.norm(x.reshape(4, 3), "nuc") * x, (12,), ANY),
    ("norm nuc axes keepdims", lambda x: np.linalg.norm(x.reshape(3, 2, 2), "nuc",
                                                        axis=(0, 2), keepdims=True), (12,), ANY),
    ("matrix_norm", lambda x: np.linalg.matrix_norm(x.reshape(2, 2, 3), ord=np.inf), (12,), ANY),
    ("vector_norm", lambda x: np.linalg.vector_norm(x.reshape(3, 4), axis=0, ord=3), (12,), ANY),
    ("vector_norm axis tuples", lambda x: np.concatenate([
        np.linalg.vector_norm(x.reshape(2, 3, 2), axis=(0, 2), ord=1, keepdims=True).ravel(),
        np.linalg.vector_norm(x.reshape(2, 3, 2), axis=(2, 0), ord=3),
        np.linalg.vector_norm(x.reshape(2, 6), axis=(-1, 0))[None]]), (12,), ANY),
    # -- einsum, kron
    ("einsum matmul", lambda x: np.einsum("ij,jk->ik", x.reshape(3, 4), x.reshape(4, 3)),
     (12,), ANY),
    ("einsum implicit", lambda x: np.einsum("ij,kj", x.reshape(3, 4), np.sin(x).reshape(3, 4)),
     (12,), ANY),
    ("einsum full contraction", lambda x: np.einsum("ij,ij->", x.reshape(3, 4),
                                                     np.sin(x).reshape(3, 4)) * x, (12,), ANY),
    ("einsum row dots", lambda x: np.einsum("ij,ij->i", x.reshape(3, 4), x.reshape(3, 4) ** 2),
     (12,), ANY),
    ("dot products batched", lambda x: np.matmul(x.reshape(3, 1, 4), np.cos(x).reshape(3, 4, 1)),
     (12,), ANY),
    ("einsum diagonal", lambda x: np.einsum("ii->i", x[:9].reshape(3, 3)) * x[9:], (12,), ANY),
    ("einsum trace sum", lambda x: np.einsum("ii", x[:9].reshape(3, 3)) * x, (12,), ANY),
    ("einsum batch", lambda x: np.einsum("bij,bjk->bik", x.reshape(3, 2, 2),
                                         x.reshape(3, 2, 2) ** 2), (12,), ANY),
    ("einsum ellipsis", lambda x: np.einsum("...ij,...j->...i", x.reshape(2, 2, 3), x[:3]),
     (12,), ANY),
    ("einsum three", lambda x: np.einsum("ij,jk,k->i", x[:6].reshape(2, 3), x.reshape(3, 4),
                                         np.cos(x[:4])), (12,), ANY),
    ("einsum outer const", lambda x: np.einsum("i,j,ij->ij", x[:3], x[3:7], _A3[:, :1] + 1.0),
     (12,), ANY),
    ("einsum interleaved", lambda x: np.einsum(x.reshape(3, 4), [0, 1], x[:4], [1], [0]),
     (12,), ANY),
    ("kron", lambda x: np.kron(x[:4].reshape(2, 2), x[4:].reshape(2, 4)), (12,), ANY),
    ("kron mixed ndim", lambda x: np.kron(x[:3], x[3:9].reshape(2, 3)), (12,), ANY),
    ("tensordot axes 0", lambda x: np.tensordot(x[:3], x[3:7], axes=0), (12,), ANY),
    ("tensordot negative axes", lambda x: np.tensordot(x.reshape(2, 3, 2), x.reshape(2, 2, 3),
                                                       axes=([-1, 0], [0, 1])), (12,), ANY),
    # -- scipy.special
    ("expit", sc.expit, (12,), (-6.0, 6.0)),
    ("logit", sc.logit, (12,), (0.1, 0.9)),
    ("log_expit", sc.log_expit, (12,), (-6.0, 6.0)),
    ("erf", sc.erf, (12,), ANY),
    ("erfc", sc.erfc, (12,), ANY),
    ("gammaln", sc.gammaln, (12,), (0.2, 15.0)),
    ("gammaln negative", sc.gammaln, (12,), (-2.9, -2.1)),
    ("digamma", sc.digamma, (12,), (0.2, 15.0)),
    ("digamma negative", lambda x: sc.psi(x - 1.0), (12,), (-0.9, -0.1)),
    ("entr", sc.entr, (12,), POS),
    ("xlogy", lambda x: sc.xlogy(*_half(x)), (12,), POS),
    ("xlogy zero weights", lambda x: sc.xlogy(_zeros_ones, x) + sc.xlogy(x, 2.0), (12,), POS),
    ("xlog1py", lambda x: sc.xlog1py(*_half(x)), (12,), POS),
    ("rel_entr", lambda x: sc.rel_entr(*_half(x)), (12,), POS),
    ("logsumexp", lambda x: nsp.logsumexp(x) * x, (12,), ANY),
    ("logsumexp axis", lambda x: nsp.logsumexp(x.reshape(3, 4), axis=1), (12,), ANY),
    ("logsumexp axes keepdims", lambda x: nsp.logsumexp(x.reshape(2, 3, 2), axis=(0, 2),
                                                       keepdims=True) * x.reshape(2, 3, 2),
     (12,), ANY),
    ("np.logaddexp.reduce", lambda x: np.logaddexp.reduce(x.reshape(3, 4), axis=1), (12,),
     ANY),
    ("np.logaddexp2.reduce", lambda x: np.logaddexp2.reduce(x.reshape(3, 4), axis=0,
                                                           keepdims=True), (12,), ANY),
    ("np.fmin.reduce np.fmax.reduce", lambda x: np.fmin.reduce(x.reshape(3, 4), axis=None)
     * np.fmax.reduce(x.reshape(3, 4), axis=1), (12,), ANY),
    ("np.asarray np.array in f", lambda x: np.asarray(x, float)[:6] * np.array(x)[6:]
     + np.asarray([x[0], x[1] ** 2, x[2], x[3], x[4], 1.0]), (12,), ANY),
    ("logsumexp b", lambda x: nsp.logsumexp(x.reshape(3, 4), axis=0, b=np.arange(1.0, 5.0)),
     (12,), ANY),
    ("logsumexp traced b", lambda x: nsp.logsumexp(x[:6], b=x[6:] ** 2) * x, (12,), ANY),
    ("logsumexp return_sign", lambda x: np.multiply(*nsp.logsumexp(
        x.reshape(3, 4), axis=1, b=_signs, return_sign=True)), (12,), ANY),
    ("scipy.special.logsumexp as it is", lambda x: sc.logsumexp(x.reshape(3, 4), axis=1)
     + sc.softmax(x[:3]) + sc.log_softmax(x[3:6] ** 2), (12,), ANY),
    ("gamma", sc.gamma, (12,), (0.2, 5.0)),
    ("gamma negative", sc.gamma, (12,), (-2.9, -2.1)),
    ("poch", lambda x: sc.poch(*_half(x)) + sc.poch(x[:6] - 3.0, 0.5), (12,), POS),
    ("rgamma gammasgn loggamma", lambda x: sc.rgamma(x - 1.0) * sc.gammasgn(x - 1.0)
     + sc.loggamma(x), (12,), POS),
    ("beta binom", lambda x: sc.beta(*_half(x)) + sc.beta(x[:6] - 3.0, x[6:])
     + sc.binom(3.0 * x[:6] + 2.0, x[6:]), (12,), POS),
    ("boxcox and inverse", lambda x: sc.boxcox(x, x[::-1] - 1.0) + sc.boxcox1p(x, 0.7)
     + sc.inv_boxcox(x, x[::-1] - 1.2) + sc.inv_boxcox1p(x, x[0] - 0.5), (12,), POS),
    ("boxcox at lambda 0", lambda x: sc.boxcox(x, (x - x[0]) * 1e-6)
     + sc.inv_boxcox(x, (x[0] - x) * 1e-7), (12,), POS),
    ("exprel powm1 cosm1 softplus", lambda x: sc.exprel(x - 1.25) + sc.powm1(x, x[::-1])
     + sc.cosm1(3.0 * x) + sc.softplus(x), (12,), POS),
    ("ndtr", sc.ndtr, (12,), ANY),
    ("scipy.special log1p expm1 exp2 exp10 cbrt", lambda x: sc.log1p(x) + sc.expm1(x)
     + sc.exp2(x) + sc.exp10(x) + sc.cbrt(x), (12,), POS),
    ("log_ndtr", sc.log_ndtr, (12,), ANY),
    ("log_ndtr tails", sc.log_ndtr, (12,), (-40.0, 10.0)),
    ("betaln", lambda x: sc.betaln(*_half(x)), (12,), POS),
    ("betaln one argument large", lambda x: sc.betaln(x[:6], 60.0 * x[6:] ** 2)
     + sc.betaln(1e3 * x[:6], x[6:]), (12,), POS),
    ("kl_div", lambda x: sc.kl_div(*_half(x)) + sc.kl_div(_zeros_ones[:6], x[6:]), (12,), POS),
    ("huber", lambda x: sc.huber(0.6, x - 1.0) + sc.huber(x, 0.7), (12,), POS),
    ("pseudo_huber", lambda x: sc.pseudo_huber(*_half(x)), (12,), POS),
    # scipy.special by SciPy's values and derivative formulas (special_values.py)
    ("erfinv erfcinv", lambda x: sc.erfinv(x) + sc.erfcinv(x + 1.0), (12,), UNIT),
    ("ndtri", sc.ndtri, (12,), (0.02, 0.98)),
    ("erfcx dawsn", lambda x: sc.erfcx(x) + sc.dawsn(3.0 * x), (12,), ANY),
    ("i0 i0e i1 i1e", lambda x: sc.i0(x) + sc.i0e(x) * sc.i1(x) + sc.i1e(3.0 * x)
     + np.i0(x), (12,), ANY),
    ("k0 k0e k1 k1e", lambda x: sc.k0(x) + sc.k0e(x) * sc.k1(x) + sc.k1e(x), (12,), POS),
    ("j0 j1 y0 y1", lambda x: sc.j0(3.0 * x) + sc.j1(x) * sc.y0(x) + sc.y1(x), (12,), POS),
    ("Bessel functions of an order", lambda x: sc.iv(1.5, x) + sc.ive(0.3, -x) * sc.kv(2.5, x)
     + sc.kve(np.arange(12) / 4.0, x) + sc.jv(0.5, 4.0 * x) + sc.yv(2.0, x), (12,), POS),
    ("Bessel order traced, not differentiated", lambda x: sc.iv(np.floor(x), x), (12,), POS),
    ("gammainc gammaincc", lambda x: sc.gammainc(2.5, x) + sc.gammaincc(
        np.linspace(0.5, 3.0, 12), 2.0 * x), (12,), POS),
    ("betainc", lambda x: sc.betainc(2.0, [[3.5], [0.7]], x.reshape(2, 6) / 2.5), (12,), POS),
    ("stdtr", lambda x: sc.stdtr(4.5, x) + sc.stdtr(np.arange(1, 13), 2.0 * x), (12,), ANY),
    ("softmax", lambda x: nsp.softmax(x), (12,), ANY),
    ("softmax axis", lambda x: nsp.softmax(x.reshape(3, 4), axis=0), (12,), ANY),
    ("log_softmax", lambda x: nsp.log_softmax(x), (12,), ANY),
    ("log_softmax axis", lambda x: nsp.log_softmax(x.reshape(3, 4), axis=-1), (12,), ANY),
    # -- built from the primitives (composites.py)
    ("trapezoid dx axis", lambda x: np.trapezoid(x.reshape(5, 2) ** 2, dx=0.3, axis=0),
     (10,), ANY),
    ("trapezoid x", lambda x: np.trapezoid(np.exp(x.reshape(3, 4)), x=[0, 0.1, 0.3, 1]),
     (12,), ANY),
    ("trapezoid traced x", lambda x: np.trapezoid(x[:6] ** 2, x=np.cumsum(np.exp(x[6:]))),
     (12,), ANY),
    ("polyval traced p", lambda x: np.polyval(x, np.array([0.5, -1.0, 2.0])), (4,), ANY),
    ("polyval traced x", lambda x: np.polyval([1.0, -2.0, 0.5, 3.0], x), (5,), ANY),
    ("cross", lambda x: np.cross(x.reshape(2, 6)[:, :3], x.reshape(2, 6)[:, 3:]), (12,), ANY),
    ("cross axis", lambda x: np.cross(x.reshape(3, 4)[:, :2], np.sin(x.reshape(3, 4)[:, 2:]),
                                      axis=0), (12,), ANY),
    ("convolve", lambda x: np.convolve(x, [1.0, -2.0, 0.5]), (6,), ANY),
    ("convolve same", lambda x: np.convolve(x[:5], np.sin(x[5:]), mode="same"), (8,), ANY),
    ("convolve valid", lambda x: np.convolve(np.exp(x[:3]), x, mode="valid"), (7,), ANY),
    ("correlate", lambda x: np.correlate(x, [0.5, 1.0, -1.0], mode="full"), (6,), ANY),
    ("correlate short a", lambda x: np.correlate(x[:2], x[2:], mode="same"), (6,), ANY),
    # data with a traced kernel longer than SHIFTED_MAX: a Toeplitz matrix's product
    ("convolve data, traced kernel", lambda x: np.concatenate([
        np.convolve(_series, np.sin(x)), np.convolve(np.sin(x), _series, mode="same"),
        np.convolve(_series, x * x, mode="valid")]), (7,), ANY),
    ("correlate data, traced kernel", lambda x: np.correlate(_series, np.exp(x), mode="full")
     + np.correlate(_series, x ** 3, mode="same")[0], (7,), ANY),
    ("matrix_power", lambda x: np.linalg.matrix_power(x.reshape(3, 3), 3), (9,), ANY),
    ("matrix_power negative", lambda x: np.linalg.matrix_power(
        x.reshape(3, 3) + 3 * np.eye(3), -2), (9,), ANY),
    ("average weights axis", lambda x: np.average(x.reshape(2, 3), axis=1,
                                                  weights=[1.0, 2.0, 3.0]), (6,), ANY),
    ("average traced weights", lambda x: np.multiply(*np.average(
        x[:4], weights=np.exp(x[4:]), returned=True)), (8,), ANY),
    ("nan reductions", lambda x: np.stack([
        f(np.where(x > 1.2, np.nan, x).reshape(4, 3), axis=0)
        for f in (np.nansum, np.nanmean, np.nanmax, np.nanmin, np.nanprod)]), (12,), ANY),
    ("ptp", lambda x: np.ptp(x.reshape(4, 3), axis=0), (12,), ANY),
    ("median odd and even", lambda x: np.concatenate([
        np.median(x.reshape(3, 4)[:, :3], axis=1), np.median(x.reshape(3, 4), axis=1)]),
     (12,), ANY),
    ("median keepdims", lambda x: np.median(x.reshape(3, 2) ** 2, keepdims=True) * x,
     (6,), ANY),
    ("quantile", lambda x: np.quantile(x.reshape(5, 2), [0.1, 0.5, 0.9], axis=0), (10,), ANY),
    ("percentile", lambda x: np.percentile(np.exp(x), 30.0) * x, (7,), ANY),
    ("sinc", np.sinc, (12,), ANY),
    ("heaviside", lambda x: np.heaviside(x, 0.5) * x ** 2, (12,), ANY),
    ("interp traced fp", lambda x: np.interp([0.1, 0.45, 0.9, -1.0, 2.0],
                                             [0.0, 0.3, 0.6, 1.0], x), (4,), ANY),
    ("interp traced x", lambda x: np.interp(x, [-1.5, -0.2, 0.4, 1.1],
                                            [1.0, -2.0, 0.5, 3.0], left=-1.0) * x, (12,), ANY),
    ("add.at subtract.at", _assembled, (12,), ANY),
    ("fill_diagonal", lambda x: _filled_diagonal(np.outer(x[:4], x[4:8])), (8,), ANY),
    ("meshgrid", lambda x: np.multiply(*np.meshgrid(x[:3], np.exp(x[3:]))), (7,), ANY),
    ("meshgrid ij sparse", lambda x: np.add(*np.meshgrid(x[:3], x[3:] ** 2, indexing="ij",
                                                         sparse=True)), (7,), ANY),
    ("dstack", lambda x: np.dstack([x[:6].reshape(2, 3), np.sin(x[6:]).reshape(2, 3)]),
     (12,), ANY),
    ("block", lambda x: np.block([[np.outer(x[:2], x[2:4]), x[4:6, None]],
                                  [x[6:9] ** 2]]), (9,), ANY),
    ("multi_dot", lambda x: np.linalg.multi_dot([x[:3], np.outer(x[3:6], x[6:9]), x[9:]]) * x,
     (12,), ANY),
    ("gradient", lambda x: np.gradient(x ** 3, 0.4), (12,), ANY),
    ("gradient edge 2 axes", lambda x: np.stack(np.gradient(np.sin(x).reshape(3, 4), 0.5, 2.0,
                                                            edge_order=2)), (12,), ANY),
    ("gradient coordinates", lambda x: np.gradient(x ** 2, np.cumsum(np.arange(1.0, 13.0))),
     (12,), ANY),
    ("copysign", lambda x: np.copysign(x, x[::-1] - 0.3) * x + np.copysign(x ** 2, -0.0),
     (12,), ANY),
    ("signbit", lambda x: np.where(np.signbit(x - 0.3), x ** 2, np.sin(x)) * x[0], (12,),
     ANY),
    ("scipy.sparse products", lambda x: np.concatenate([
        _SPARSE @ np.sin(x), _SPARSE.dot(x ** 2), _SPARSE * x, x @ _SPARSE,
        (_SPARSE_ARRAY @ np.stack([x, x ** 3], 1)).ravel(),
        (x[None, :] @ _SPARSE_ARRAY.T).ravel()]) * x[0], (12,), ANY),
    ("vander", lambda x: np.vander(x[:4]) @ x[4:8] + np.vander(x[8:], 3, increasing=True)
     .sum(), (12,), ANY),
    ("select", lambda x: np.select([x < -0.5, x > 0.5], [x ** 2, np.exp(x)], default=x),
     (12,), ANY),
    ("piecewise", lambda x: np.piecewise(x, [x < -0.5, x > 0.8], [np.sin, lambda t: t ** 3,
                                                                   lambda t: 2.0 * t]),
     (12,), ANY),
    ("piecewise one condition", lambda x: np.piecewise(x, x < 0, [np.exp, 1.5]) * x,
     (12,), ANY),
    ("add.reduceat", lambda x: np.concatenate([
        np.add.reduceat(x, [0, 5, 5, 9, 3]), np.add.reduceat(x.reshape(3, 4), [0, 2, 1], axis=1)
        .ravel()]) * x[0], (12,), ANY),
    ("maximum and multiply reduceat", lambda x: np.concatenate([
        np.maximum.reduceat(x, [0, 4, 9]), np.multiply.reduceat(x.reshape(4, 3), [0, 3, 1])
        .ravel()]), (12,), ANY),
    ("vectorize", lambda x: np.concatenate([
        np.vectorize(lambda v, d: 0.5 * v * v if abs(v) < d else d * (abs(v) - 0.5 * d))(x, 0.8),
        np.vectorize(lambda a, b: (a * b, a - b))(x[:4], x[4:8])[0]]), (12,), ANY),
    ("apply_along_axis", lambda x: np.apply_along_axis(lambda r: r @ r, 1, x.reshape(2, 3, 2))
     .ravel(), (12,), ANY),
    ("apply_along_axis to arrays", lambda x: np.apply_along_axis(
        lambda r, p: np.outer(r ** p, r[:2]), 0, x.reshape(3, 4), 2).ravel(), (12,), ANY),
    ("cov", lambda x: np.cov(x.reshape(3, 4)) + np.cov(x[:6], x[6:] ** 2, bias=True)[0, 1],
     (12,), ANY),
    ("cov columns", lambda x: np.cov(x.reshape(4, 3), rowvar=False, ddof=0), (12,), ANY),
    ("corrcoef", lambda x: np.corrcoef(x.reshape(3, 4)), (12,), ANY),
    ("cond", lambda x: np.array([np.linalg.cond(x.reshape(3, 3) + 3 * np.eye(3)),
                                 np.linalg.cond(x.reshape(3, 3) + 3 * np.eye(3), -2),
                                 np.linalg.cond(x.reshape(3, 3) + 3 * np.eye(3), "fro")]),
     (9,), ANY),
    ("searchsorted", lambda x: np.take(np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
                                       np.searchsorted([-1.0, 0.0, 1.0], x[:4])) * x[:4]
     + np.searchsorted([-0.5, 0.5], x[4:], side="right") * x[4:] ** 2, (8,), ANY),
    ("argmax", lambda x: x[np.argmax(x)] * x, (12,), ANY),
    ("argsort", lambda x: x[np.argsort(x)] * np.arange(12.0)
     + np.take_along_axis(x.reshape(3, 4), np.argsort(x.reshape(3, 4) ** 2, axis=0), 0).ravel()
     + x.reshape(4, 3).argsort(axis=None)[:12] * x, (12,), ANY),
    ("% // divmod fmod", lambda x: (x % 0.7) * (x[::-1] // 0.3) + np.fmod(x, -0.45) ** 2
     + np.sum(divmod(x, 1.1)[1]) + (2.5 % (x + 3.0)), (12,), ANY),
    ("ufunc out= where=", lambda x: np.divide(x, _zeros_ones, out=np.zeros_like(x),
                                              where=_zeros_ones != 0)
     + np.log(x ** 2, where=x > 0.3, out=np.ones_like(x))
     * np.exp(x, where=_mask, out=np.full_like(x, 2.0))[::-1],
     (12,), ANY),
    ("ufunc where= traced, a constant operand", lambda x: np.multiply(
        x, 2.0, where=x > 0, out=np.zeros_like(x)) + np.subtract(
            1.5, x ** 2, where=x < 0.5, out=np.ones_like(x)), (12,), ANY),
    ("np.insert", lambda x: np.insert(x[:8], [1, 5, 5], x[8:11] ** 2) * np.insert(
        x.reshape(3, 4), 2, x[:3] * 2.0, axis=1).ravel()[:11], (12,), ANY),
    ("np.linspace traced ends", lambda x: np.linspace(x[0], x[1] ** 2, 5) @ x[2:7]
     + np.linspace(x[:3], x[3:6] * x[6:9], 4, endpoint=False, axis=1).ravel(), (12,), ANY),
    ("sliding_window_view partition broadcast_arrays", lambda x: np.sum(
        np.lib.stride_tricks.sliding_window_view(x, 3) ** 2, axis=1)[:5] * np.partition(x, 4)[:5]
     + np.sum(np.broadcast_arrays(x[:5, None], x[5:8] ** 2)[1], axis=1), (12,), ANY),
    ("put_along_axis count_nonzero flatnonzero", lambda x: _put_along(x)
     + np.count_nonzero(x > 0) * x[np.flatnonzero(x > 0.5)[:1]], (12,), ANY),
    ("maximum minimum accumulate", lambda x: np.maximum.accumulate(x) * np.minimum.accumulate(
        x.reshape(3, 4) ** 2, axis=1).ravel(), (12,), ANY),
    ("logaddexp logaddexp2 accumulate", lambda x: np.logaddexp.accumulate(x) * np.logaddexp2
     .accumulate(x.reshape(3, 4) ** 2, axis=1).ravel(), (12,), ANY),
    ("ediff1d", lambda x: np.ediff1d(x.reshape(3, 4) ** 2, to_begin=x[0], to_end=[1.0, 2.0]),
     (12,), ANY),
    ("digitize .flat", lambda x: x * np.digitize(x, [-1.0, 0.1, 0.7])
     + np.digitize(x ** 3, [1.0, 0.0, -0.5], right=True) * x.flat[3] + _flat_write(x),
     (12,), ANY),
    ("nan_to_num", lambda x: x * np.nan_to_num(x ** 3 + _nan_inf, nan=-1.0, posinf=5.0,
                                               neginf=-4.0)
     + np.nan_to_num(x ** 2 - _nan_inf, posinf=3.0, neginf=-2.0), (12,), ANY),
    ("argmin axis", lambda x: np.take_along_axis(
        x.reshape(3, 4), np.argmin(x.reshape(3, 4), axis=1, keepdims=True), axis=1) ** 2,
     (12,), ANY),
    ("bincount", lambda x: np.bincount(_groups, weights=x * x, minlength=6)
     * np.bincount(np.floor(x + 2.0).astype(int))[:4].sum(), (12,), ANY),
    ("unique triu_indices_from", lambda x: np.unique(np.round(x))[:2] * x[:2]
     + x.reshape(3, 4)[np.triu_indices_from(x.reshape(3, 4), 1)][:2] ** 2, (12,), ANY),
    ("diag_indices_from +=", lambda x: _diag_added(np.outer(x[:4], x[4:8]) + 0.0), (12,), ANY),
    ("imag isreal", lambda x: x ** 2 * np.isreal(x) + np.imag(x) + x.imag - np.iscomplex(x),
     (12,), ANY),
    # -- Python control flow
    ("guarded branch", _branchy, (12,), ANY),
    # -- compositions
    ("rosenbrock", lambda x: 100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2, (12,), ANY),
    ("softplus net", lambda x: np.tanh(x.reshape(3, 4) @ np.sin(x[:4])) @ x[4:7], (12,), ANY),
]
if hasattr(np, "cumulative_sum"):     # NumPy 2.1 (matrix_transpose: 2.0)
    CASES.append(("np.matrix_transpose", lambda x: np.matrix_transpose(x.reshape(2, 2, 3))
                  .ravel() * x, (12,), ANY))
    CASES.append(("np.cumulative_sum cumulative_prod", lambda x: np.cumulative_sum(
        x.reshape(3, 4), axis=1, include_initial=True).ravel()[:12] * np.cumulative_prod(
        x * 0.5), (12,), ANY))
if hasattr(np.linalg, "vecdot"):      # NumPy 2.0's array-API names in np.linalg
    _A = np.cos(np.arange(12.0)).reshape(3, 4)
    CASES.append(("np.linalg matmul outer trace diagonal", lambda x: np.linalg.matmul(
        x.reshape(3, 4), x.reshape(4, 3)).ravel()[:4] * np.linalg.outer(x[:2], x[2:4]).ravel()
        + np.linalg.trace(x.reshape(2, 2, 3)[:, :, :2] ** 2, offset=1)[0]
        + np.linalg.diagonal(x.reshape(3, 2, 2)).ravel()[:4], (12,), ANY))
    CASES.append(("np.linalg vecdot tensordot cross matrix_transpose", lambda x: np.concatenate(
        [np.linalg.vecdot(x.reshape(3, 4), _A), np.linalg.vecdot(x.reshape(3, 4), _A, axis=0),
         np.linalg.tensordot(x.reshape(3, 4), _A ** 2, axes=2)[None],
         np.linalg.cross(x[:3], x[3:6])])[5:] * np.linalg.matrix_transpose(x.reshape(6, 2))[0],
                  (12,), ANY))
if hasattr(np, "vecdot"):             # NumPy 2.0 (matvec, vecmat: 2.2)
    CASES.append(("np.vecdot", lambda x: np.vecdot(x.reshape(3, 4), x[8:] ** 2)
                  * np.vecdot(x.reshape(4, 3), _A.T[:, :3], axis=0), (12,), ANY))
if hasattr(np, "matvec"):
    CASES.append(("np.matvec vecmat", lambda x: np.matvec(x.reshape(3, 4), x[:4] ** 2)
                  * np.vecmat(x[:3], _A)[:3], (12,), ANY))
