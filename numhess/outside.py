"""The values a traced function reads from outside its arguments, so a replay can check
them: a tape holds them as constants, and a penalty weight in a global or a closure
(`mu *= 10` between calls of an optimizer) must not leave it stale.

Read once per trace from the bytecode: the globals and closure cells the function loads,
its default arguments, the attributes of `self` (and of its class) for a method or
callable object, the arguments bound by `functools.partial`, and the same of the Python
functions and methods it reaches that way (helpers in the same module, say; the members
it names of a module of the caller's, `helpers.loss`, or of a global object, whose
methods are followed as self's are; the function an `np.vectorize` calls). The names
watched in globals and objects are those any function reached loads (a helper reading
`c.lam` of the `cfg` its caller passed it), and the string constants that could be
names (`getattr(cfg, "lam")`), and the modules of the caller's it imports inside
(`import config`; `from config import lam`). Every value is kept (arrays, containers,
sets and deques copied, objects as snapshots, other values as they are) and compared
on every replay (by value; a library's object by identity, then its own ==), and so is
which function or class a name holds (a user's, NumPy's, a ufunc: `act = np.tanh` then
`np.sin`). A name the
function itself assigns (`global calls; calls += 1`), or a value that changed while it
was traced, is its own state and is not watched. Values reached otherwise (an attribute
of a library's object, a function passed as an argument) are not watched.

The same walk finds the globals through which f reaches a library function numhess
stands in for while tracing (`from scipy.linalg import cho_solve`: scipy_hooks.py).
"""
import array
import collections
import copy
import dis
import enum
import functools
import importlib
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
    """Is v a value a replay compares, kept frozen: anything but a function or a class
    (compared by identity, and followed: _add), a module or an object of the caller's
    classes (the members f names are: _members)? Numbers, strings, arrays and
    containers by value (a container's functions by identity, its objects as
    snapshots), other values by identity, then by their own == (an Enum member, a
    slice, a Path, a Fraction; a dict of settings holding one, a Generator or an
    activation function had gone unwatched whole: its weight changed, the tape stayed)."""
    return not (callable(v) or isinstance(v, types.ModuleType) or _callers_object(v))


def _copied(v):
    """A copy of a mutable container of a library's type that frozen keeps as itself
    otherwise (a set, a deque, a bytearray, an array.array), or None."""
    if type(v) is set:
        return set(v)
    if type(v) is collections.deque:
        return collections.deque((frozen(e) for e in v), v.maxlen)
    if type(v) in (bytearray, array.array):
        return copy.copy(v)
    return None


def frozen(v, seen=None):
    """v as it is now: arrays (scipy.sparse's too), lists, tuples, dicts, sets and deques
    copied (deeply), an object, class or module of the caller's code or a container of
    a class of its own (a namedtuple, a dict subclass) as a _Snapshot, immutable values
    as they are. An object met again inside itself is kept as it is (compared by
    identity)."""
    if isinstance(v, np.ndarray) or sp.issparse(v):
        return v.copy()
    plain = type(v) in (dict, list, tuple)
    if not plain and not (isinstance(v, (dict, list, tuple)) or _callers_object(v)
                          or _callers_namespace(v)):
        c = _copied(v)
        return v if c is None else c
    seen = set() if seen is None else seen
    if id(v) in seen:
        return v
    seen.add(id(v))
    try:
        if not plain:
            return _Snapshot(v, seen)
        if type(v) is dict:
            return {k: frozen(e, seen) for k, e in v.items()}
        c = [frozen(e, seen) for e in v]
        if type(v) is list:
            return c
        return v if all(x is y for x, y in zip(c, v)) else tuple(c)
    finally:
        seen.discard(id(v))


def _callers_object(v):
    """Is v an instance of a class of the caller's code (or a SimpleNamespace), whose
    attributes are its value? (An Enum member is a value of its own.)"""
    if isinstance(v, types.SimpleNamespace):
        return True
    if isinstance(v, (type, types.ModuleType, types.FunctionType, types.MethodType,
                      np.ndarray, enum.Enum)) or not (hasattr(v, "__dict__") or
                                           hasattr(type(v), "__slots__")):
        return False
    return _callers_class(type(v))


def _callers_namespace(v):
    """Is v a class or a module of the caller's code (an argument `f(x, config)`: its
    values are compared, not its identity)?"""
    if isinstance(v, type):
        return _callers_class(v)
    return isinstance(v, types.ModuleType) and _callers_module(v)


def _callers_module(m):
    path = getattr(m, "__file__", None)      # (none: a built-in module)
    return path is not None and not path.startswith(_LIBRARIES)


def _callers_class(c):
    """Is class c defined in the caller's code (not an installed library's)?"""
    name = c.__module__
    path = getattr(sys.modules.get(name), "__file__", None)
    return name == "__main__" or path is not None and not path.startswith(_LIBRARIES)


def _items(v):
    """A dict's values, a list's or tuple's elements, else nothing."""
    return v.values() if isinstance(v, dict) else v if isinstance(v, (list, tuple)) else ()


def _elements(v):
    """A container's elements, or None."""
    return dict(v) if isinstance(v, dict) else list(v) if isinstance(v, (list, tuple)) \
        else None


def _attributes(v):
    """v's instance attributes (its __dict__ and its slots), and the numbers, arrays,
    ... its classes hold (a class attribute changed is a changed value too); a class's
    or module's own names."""
    if isinstance(v, (type, types.ModuleType)):
        return {k: a for k, a in vars(v).items() if not k.startswith("__")}
    d = dict(getattr(v, "__dict__", None) or {})
    for c in type(v).__mro__[:-1]:       # (not object's)
        for name, a in vars(c).items():
            if isinstance(a, types.MemberDescriptorType):      # a slot: no user code runs
                d.setdefault(name, getattr(v, name, _MISSING))
            elif not name.startswith("__") and name not in d and _watched(a):
                d[name] = a
    return d


class _Snapshot:
    """An object of the caller's (a data class, a dataclass, a SimpleNamespace, one with
    __slots__), a class or module of the caller's, or a container of a class of its own,
    as it was: its identity (a class or module), its type, its elements and its
    attributes, frozen. The same object with one rebound or mutated is another value (an
    argument `d` with `d.y = y + 1` between two fits had replayed the first fit's data;
    a namedtuple had not been copied at all; `f(x, config)` with `config.lam` changed
    had replayed the old weight)."""
    __slots__ = ("type", "obj", "items", "attrs")

    def __init__(self, obj, seen):
        self.type = type(obj)
        self.obj = obj if isinstance(obj, (type, types.ModuleType)) else None
        self.items = frozen(_elements(obj), seen)
        self.attrs = frozen(_attributes(obj), seen)

    def holds(self, v):
        return type(v) is self.type and (self.obj is None or v is self.obj) and \
            same(self.items, _elements(v)) and same(self.attrs, _attributes(v))


def _same_bits(a, b):
    """Arrays of one shape and dtype equal bit for bit: their bytes for a small one, for a
    large one their elements as unsigned integers, without a copy (array_equal on floats
    with equal_nan took 3.7 ms for a 1000 x 1000 matrix read from a closure, at every call;
    this 0.23)."""
    if a.size < 4096 or a.dtype.itemsize not in (1, 2, 4, 8):   # (strings, complex)
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
    if isinstance(a, _Snapshot) or isinstance(b, _Snapshot):
        return a.holds(b) if isinstance(a, _Snapshot) else b.holds(a)
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
    # (not Python's ==, which takes True for 1 and -0.0 for 0.0: an index list of bools
    # had replayed the tape of the integers')
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(a[k] is b[k] or same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list, collections.deque)):
        return len(a) == len(b) and all(x is y or same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:       # an object whose == is not a truth value
        return False


def _names(code, loads, stores, imports):
    """The global and attribute names code (and the functions and comprehensions inside
    it) loads, and the names it stores; a string constant that could be a name counts
    as loaded (`getattr(cfg, "lam")`, `vars(cfg)["lam"]`, `globals()["lam"]`)."""
    for ins in dis.get_instructions(code):
        if ins.opname in _LOADS or ins.opname == "IMPORT_FROM":
            loads.add(ins.argval)
        elif ins.opname in _STORES:
            stores.add(ins.argval)
        elif ins.opname == "IMPORT_NAME":       # (`import config` inside f: a module)
            imports.add(ins.argval)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _names(c, loads, stores, imports)
        elif isinstance(c, str) and c.isidentifier():
            loads.add(c)


class _Found:
    """What _sources collects: watched, (getter, value) pairs; rebinds, (globals, name)
    pairs whose value is a key of stand_ins (by id: values need not be hashable); loads
    and stores, the names every function it followed loads and stores. names: the
    names whose values are watched, in globals and objects (None: each function's own)."""
    __slots__ = ("watched", "rebinds", "stand_ins", "loads", "stores", "names")

    def __init__(self, stand_ins, names=None):
        self.watched, self.rebinds, self.stand_ins = [], [], stand_ins
        self.loads, self.stores, self.names = set(), set(), names


def _sources(f, depth, seen, out):
    """(getter, value) for every watched value f reads; functions found are followed."""
    if depth > DEPTH:
        return
    if isinstance(f, np.vectorize):        # (the Python function it calls per element)
        f = f.pyfunc
    elif not isinstance(f, types.FunctionType) and isinstance(
            getattr(f, "__wrapped__", None), types.FunctionType):
        f = f.__wrapped__                  # functools.lru_cache's, cache's
    if isinstance(f, functools.partial):
        if id(f) not in seen:
            seen.add(id(f))
            for v in (*f.args, *f.keywords.values()):
                _add(lambda v=v: v, v, depth, seen, out)
                _members(v, out.names or set(), depth, seen, out)   # (partial(loss, model))
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
    loads, stores, imports = set(), set(), set()
    _names(f.__code__, loads, stores, imports)
    out.loads |= loads
    out.stores |= stores
    names = loads - stores if out.names is None else out.names
    g = f.__globals__
    for name in names:
        if name in g:
            if id(g[name]) in out.stand_ins:
                out.rebinds.append((g, name))
            _add(lambda name=name: g.get(name, _MISSING), g[name], depth, seen, out)
            _members(g[name], names, depth, seen, out)
    for m in filter(None, map(_imported, imports)):
        _members(m, names, depth, seen, out)
    for name, cell in zip(f.__code__.co_freevars, f.__closure__ or ()):
        if name not in stores:
            _add(lambda cell=cell: _contents(cell), _contents(cell), depth, seen, out)
            _members(_contents(cell), names, depth, seen, out)
    for i, v in enumerate(f.__defaults__ or ()):        # a mutable default mutated
        _add(lambda i=i: f.__defaults__[i], v, depth, seen, out)
    for name, v in (f.__kwdefaults__ or {}).items():
        _add(lambda name=name: f.__kwdefaults__.get(name, _MISSING), v, depth, seen, out)
    if obj is not None:         # self's attributes, its class's, and its other methods
        for name in names:
            v = _attribute(obj, name)
            if isinstance(v, types.FunctionType):     # its bases' too (super().name)
                for c in type(obj).__mro__:
                    if isinstance(vars(c).get(name), types.FunctionType):
                        _sources(types.MethodType(vars(c)[name], obj), depth + 1, seen, out)
            elif isinstance(v, property) and isinstance(v.fget, types.FunctionType):
                # (what its getter reads of self)
                _sources(types.MethodType(v.fget, obj), depth + 1, seen, out)
            elif isinstance(v, (staticmethod, classmethod)):
                _sources(v.__func__ if isinstance(v, staticmethod) else
                         types.MethodType(v.__func__, type(obj)), depth + 1, seen, out)
            elif v is not _MISSING:
                _add(lambda name=name: _attribute(obj, name), v, depth, seen, out)
                _members(v, names, depth, seen, out)      # (self.layer.w)


def _members(v, names, depth, seen, out):
    """What f reaches through a global or closure cell that is a module of the caller's
    (`helpers.loss`) or an object (`model.loss`): the members it names, as if they were
    globals."""
    if isinstance(v, types.ModuleType):
        if not _callers_module(v):
            return
        d = vars(v)
        for name in names & d.keys():
            if id(d[name]) in out.stand_ins:
                out.rebinds.append((d, name))
            _add(lambda name=name: d.get(name, _MISSING), d[name], depth + 1, seen, out)
    elif not isinstance(v, (types.FunctionType, np.ndarray)) and depth <= DEPTH:
        # an object's methods, as self's; and of an object or class of the caller's, the
        # values f names (`cfg.lam` of a global SimpleNamespace or class had been fixed
        # at the trace), and the objects it names, followed (`cfg.model.lam`)
        mine = _callers_object(v) or isinstance(v, type) and _callers_class(v)
        if mine:
            if id(v) in seen:
                return
            seen.add(id(v))
        for name in names:
            a = _attribute(v, name)
            if isinstance(a, types.FunctionType):     # (a class's: called as C.helper)
                _sources(a if isinstance(v, type) else types.MethodType(a, v), depth + 1,
                         seen, out)
            elif isinstance(a, (staticmethod, classmethod)):     # (C.helper, C.build)
                _sources(a.__func__ if isinstance(a, staticmethod) else types.MethodType(
                    a.__func__, v if isinstance(v, type) else type(v)), depth + 1, seen, out)
            elif isinstance(a, property) and isinstance(a.fget, types.FunctionType) and \
                    not isinstance(v, type):
                _sources(types.MethodType(a.fget, v), depth + 1, seen, out)
            elif mine and _watched(a):
                _add(lambda name=name: _attribute(v, name), a, depth + 1, seen, out)
            elif mine and a is not _MISSING:
                _members(a, names, depth + 1, seen, out)


def _add(get, v, depth, seen, out):
    if _watched(v):
        out.watched.append((get, frozen(v)))
        for e in _items(v):
            if callable(e) and not isinstance(e, type):     # ({"act": activation})
                _sources(e, depth + 1, seen, out)
    elif callable(v):       # the same function or class: a rebound name traces again
        out.watched.append((get, v))
        if not isinstance(v, type):
            _sources(v, depth + 1, seen, out)


class Outside:
    """The watched values of f, read before a trace; `unchanged()` is the replay's check.
    rebinds: the (globals, name) pairs that hold a key of stand_ins (ids of functions)."""
    __slots__ = ("watched", "rebinds")

    def __init__(self, f, stand_ins=()):
        """Walks f's code, then again watching every name any function it reached loads,
        in every global, closure and object (a helper reading `c.lam` of the `cfg` its
        caller passed it), until no new name turns up."""
        found = _Found(stand_ins)
        _sources(f, 0, set(), found)
        for _ in range(DEPTH):
            names = found.loads - found.stores
            found = _Found(stand_ins, names)
            _sources(f, 0, set(), found)
            if found.loads - found.stores <= names:
                break
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
    """obj.name as stored, in obj or its classes (a slot's value), without running a
    property or a descriptor's code."""
    for d in (getattr(obj, "__dict__", {}), *(vars(c) for c in type(obj).__mro__)):
        if name in d:
            if isinstance(d[name], types.MemberDescriptorType):
                return getattr(obj, name, _MISSING)
            return d[name]
    return _MISSING


def _imported(name):
    """The module f imports by that name (imported now, as f would: at its first trace it
    may not be yet), or None (a relative import; one that fails)."""
    try:
        return sys.modules.get(name) or importlib.import_module(name)
    except Exception:     # (f's own import raises it again, where f would)
        return None


def _contents(cell):
    try:
        return cell.cell_contents
    except ValueError:          # a cell not bound yet, or emptied
        return _MISSING
