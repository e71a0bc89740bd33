"""The values a traced function reads from outside its arguments, so a replay can check
them: a tape holds them as constants, and a penalty weight in a global or a closure
(`mu *= 10` between calls of an optimizer) must not leave it stale.

Read once per trace from the bytecode: the globals and closure cells the function loads,
its default arguments, the attributes of `self` (and of its class) for a method or
callable object, the arguments bound by `functools.partial`, and the same of the Python
functions and methods it reaches that way (helpers in the same module, say; the members
it names of a module of the caller's, `helpers.loss`, or of a global object, whose
methods are followed as self's are). Numbers,
strings, numeric arrays, and lists, tuples and dicts of them are kept (arrays copied)
and compared on every replay, and so is which function a name holds (a user's, NumPy's,
a ufunc: `act = np.tanh` then `np.sin`). A name the
function itself assigns (`global calls; calls += 1`), or a value that changed while it
was traced, is its own state and is not watched. Values reached otherwise (an attribute
of a global object read directly, a function passed as an argument) are not watched.

The same walk finds the globals through which f reaches a library function numhess
stands in for while tracing (`from scipy.linalg import cho_solve`: scipy_hooks.py).
"""
import dis
import functools
import math
import sys
import sysconfig
import types

import numpy as np
import scipy.sparse as sp

DEPTH = 8                   # functions followed from the traced one
# code in these directories is a library's (the standard one, installed packages): not
# followed from the traced function, its module state is not the caller's to change
_LIBRARIES = tuple(sorted({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib",
                                                             "purelib", "platlib")}))
_STORES = {"STORE_GLOBAL", "DELETE_GLOBAL", "STORE_ATTR", "DELETE_ATTR", "STORE_DEREF",
           "DELETE_DEREF"}
_LOADS = {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_ATTR", "LOAD_METHOD"}
_MISSING = object()


def _watched(v):
    if isinstance(v, np.ndarray) or sp.issparse(v):
        return v.dtype.kind in "biuf"
    if isinstance(v, dict):
        return all(isinstance(k, str) and _watched(e) for k, e in v.items())
    return isinstance(v, (int, float, str, np.number, np.bool_)) or (
        isinstance(v, (tuple, list)) and all(_watched(e) for e in v))


def frozen(v):
    """v as it is now: arrays (scipy.sparse's too), lists and dicts copied (deeply), an
    object of the caller's classes with its attributes (_Attributes), immutable values
    as they are."""
    if isinstance(v, np.ndarray) or sp.issparse(v):
        return v.copy()
    if _callers_object(v):
        return _Attributes(v)
    if isinstance(v, dict):
        return {k: frozen(e) for k, e in v.items()}
    if isinstance(v, (tuple, list)):
        c = type(v)(frozen(e) for e in v)
        return v if isinstance(v, tuple) and all(x is y for x, y in zip(c, v)) else c
    return v


def _callers_object(v):
    """Is v an instance of a class of the caller's code (or a SimpleNamespace), whose
    attributes are its value?"""
    if isinstance(v, types.SimpleNamespace):
        return True
    if not isinstance(getattr(v, "__dict__", None), dict) or isinstance(
            v, (type, types.ModuleType, types.FunctionType, types.MethodType)):
        return False
    name = type(v).__module__
    path = getattr(sys.modules.get(name), "__file__", None)
    return name == "__main__" or path is not None and not path.startswith(_LIBRARIES)


class _Attributes:
    """An object of the caller's (a data class, a SimpleNamespace) as it was: its
    instance attributes, frozen. The same object with one rebound or mutated is another
    value (an argument `d` with `d.y = y + 1` between two fits had replayed the first
    fit's data)."""
    __slots__ = ("type", "attrs")

    def __init__(self, obj):
        self.type, self.attrs = type(obj), frozen(dict(vars(obj)))

    def holds(self, v):
        return type(v) is self.type and same(self.attrs, vars(v))


def _same_bits(a, b):
    """Arrays of one shape and dtype equal bit for bit: their bytes for a small one, for a
    large one their elements as unsigned integers, without a copy (array_equal on floats
    with equal_nan took 3.7 ms for a 1000 x 1000 matrix read from a closure, at every call;
    this 0.23)."""
    if a.size < 4096:
        return a.tobytes() == b.tobytes()
    bits = np.dtype(f"u{a.dtype.itemsize}")
    return np.array_equal(a.view(bits), b.view(bits))


def _stored(m):
    """The arrays a scipy.sparse matrix keeps (CSR's for a format of lists or a dict)."""
    if hasattr(m, "indptr"):        # CSR, CSC, BSR
        return m.data, m.indices, m.indptr
    if hasattr(m, "offsets"):       # DIA
        return m.data, m.offsets
    if hasattr(m, "row"):           # COO
        return m.data, m.row, m.col
    return _stored(m.tocsr())       # LIL, DOK


def same(a, b):
    """Equal values, compared exactly: NaN is itself, -0.0 is not 0.0, types must match
    (this decides whether a tape traced with a still holds for b). scipy.sparse matrices
    are equal when they store the same arrays."""
    if a is b:
        return True
    if isinstance(a, _Attributes) or isinstance(b, _Attributes):
        return a.holds(b) if isinstance(a, _Attributes) else b.holds(a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and _same_bits(a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, (float, np.floating)):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b) or a != a and b != b
    if sp.issparse(a):      # (before dicts: DOK is one)
        return (a.shape == b.shape and a.dtype == b.dtype
                and all(same(u, v) for u, v in zip(_stored(a), _stored(b))))
    if isinstance(a, (tuple, list, dict)):
        try:    # Python's own comparison first: fast for numbers, each element itself first
            if a == b:
                return True
        except ValueError:      # arrays inside: their == is no truth value
            pass                # (and below, NaN is itself)
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:       # an object whose == is not a truth value
        return False


def _names(code, loads, stores):
    """The global and attribute names code (and the functions and comprehensions inside
    it) loads, and the names it stores."""
    for ins in dis.get_instructions(code):
        if ins.opname in _LOADS:
            loads.add(ins.argval)
        elif ins.opname in _STORES:
            stores.add(ins.argval)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _names(c, loads, stores)


class _Found:
    """What _sources collects: watched, (getter, value) pairs; rebinds, (globals, name)
    pairs whose value is a key of stand_ins (by id: values need not be hashable)."""
    __slots__ = ("watched", "rebinds", "stand_ins")

    def __init__(self, stand_ins):
        self.watched, self.rebinds, self.stand_ins = [], [], stand_ins


def _sources(f, depth, seen, out):
    """(getter, value) for every watched value f reads; functions found are followed."""
    if depth > DEPTH:
        return
    if isinstance(f, functools.partial):
        if id(f) not in seen:
            seen.add(id(f))
            for v in (*f.args, *f.keywords.values()):
                _add(lambda v=v: v, v, depth, seen, out)
            _sources(f.func, depth + 1, seen, out)
        return
    obj = None
    if isinstance(f, types.MethodType):
        f, obj = f.__func__, f.__self__
    elif not isinstance(f, types.FunctionType) and isinstance(
            getattr(type(f), "__call__", None), types.FunctionType):
        f, obj = type(f).__call__, f
    if not isinstance(f, types.FunctionType) or depth and f.__code__.co_filename.startswith(
            _LIBRARIES) or (f, id(obj)) in seen:
        return
    seen.add((f, id(obj)))      # (a bound method is made anew at each look-up)
    if (f.__module__ or "").split(".")[0] == "numhess":     # a wrapper: the function in it
        for cell in f.__closure__ or ():
            if callable(_contents(cell)):
                _sources(cell.cell_contents, depth + 1, seen, out)
        return
    loads, stores = set(), set()
    _names(f.__code__, loads, stores)
    g = f.__globals__
    for name in loads - stores:
        if name in g:
            if id(g[name]) in out.stand_ins:
                out.rebinds.append((g, name))
            _add(lambda name=name: g.get(name, _MISSING), g[name], depth, seen, out)
            _members(g[name], loads - stores, depth, seen, out)
    for name, cell in zip(f.__code__.co_freevars, f.__closure__ or ()):
        if name not in stores:
            _add(lambda cell=cell: _contents(cell), _contents(cell), depth, seen, out)
            _members(_contents(cell), loads - stores, depth, seen, out)
    for i, v in enumerate(f.__defaults__ or ()):        # a mutable default mutated
        _add(lambda i=i: f.__defaults__[i], v, depth, seen, out)
    for name, v in (f.__kwdefaults__ or {}).items():
        _add(lambda name=name: f.__kwdefaults__.get(name, _MISSING), v, depth, seen, out)
    if obj is not None:         # self's attributes, its class's, and its other methods
        for name in loads - stores:
            v = _attribute(obj, name)
            if isinstance(v, types.FunctionType):
                _sources(types.MethodType(v, obj), depth + 1, seen, out)
            elif v is not _MISSING:
                _add(lambda name=name: _attribute(obj, name), v, depth, seen, out)


def _members(v, names, depth, seen, out):
    """What f reaches through a global or closure cell that is a module of the caller's
    (`helpers.loss`) or an object (`model.loss`): the members it names, as if they were
    globals."""
    if isinstance(v, types.ModuleType):
        path = getattr(v, "__file__", None)      # (none: a built-in module)
        if path is None or path.startswith(_LIBRARIES):
            return
        d = vars(v)
        for name in names & d.keys():
            if id(d[name]) in out.stand_ins:
                out.rebinds.append((d, name))
            _add(lambda name=name: d.get(name, _MISSING), d[name], depth + 1, seen, out)
    elif not isinstance(v, (type, types.FunctionType, np.ndarray)):
        for name in names:
            method = _attribute(v, name)
            if isinstance(method, types.FunctionType):
                _sources(types.MethodType(method, v), depth + 1, seen, out)


def _add(get, v, depth, seen, out):
    if _watched(v):
        out.watched.append((get, frozen(v)))
    elif callable(v) and not isinstance(v, type):
        out.watched.append((get, v))    # the same callable: a rebound name traces again
        _sources(v, depth + 1, seen, out)


class Outside:
    """The watched values of f, read before a trace; `unchanged()` is the replay's check.
    rebinds: the (globals, name) pairs that hold a key of stand_ins (ids of functions)."""
    __slots__ = ("watched", "rebinds")

    def __init__(self, f, stand_ins=()):
        found = _Found(stand_ins)
        _sources(f, 0, set(), found)
        self.watched, self.rebinds = found.watched, found.rebinds

    def settle(self):
        """After the trace: what f changed itself while running is its own state."""
        self.watched = tuple((get, v) for get, v in self.watched if same(get(), v))

    def unchanged(self):
        for get, v in self.watched:
            now = get()
            # the same object: an immutable value (arrays and lists are kept as copies)
            if now is not v and not same(now, v):
                return False
        return True


def _attribute(obj, name):
    """obj.name as stored, in obj or its classes, without running a property or a
    descriptor's code."""
    for d in (getattr(obj, "__dict__", {}), *(vars(c) for c in type(obj).__mro__)):
        if name in d:
            return d[name]
    return _MISSING


def _contents(cell):
    try:
        return cell.cell_contents
    except ValueError:          # a cell not bound yet, or emptied
        return _MISSING
