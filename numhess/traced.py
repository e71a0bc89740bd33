"""A user function, traced on demand and replayed: argument checks, the tape cache, guards."""
import collections
import copy
import sys
import threading
import types
from collections import OrderedDict

import numpy as np

from .outside import Outside, frozen, same
from .scipy_hooks import BY_ID, taking_traced_arrays
from .tape import TapeBuilder
from .tracer import (COMPILED_ONLY, LIBRARY_OBJECT_ARRAY, NDARRAY_ONLY, OBJECT_ARRAY,
                     Tracer, TraceError, converter_in, held_object_array, lift)


def normalize_argnums(argnums):
    if isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool):
        return (int(argnums),), False
    if isinstance(argnums, (tuple, list)) and argnums and all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in argnums):
        nums = tuple(int(a) for a in argnums)
        if len(set(nums)) != len(nums):
            raise ValueError(f"argnums must not repeat an argument, got {argnums!r}")
        return nums, True
    raise TypeError(f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}")


def as_input(x, name="input"):
    """A differentiated argument as a float64 array (lists, ints and bools are converted)."""
    if isinstance(x, Tracer):
        raise TraceError("numhess: nested transforms (a numhess transform inside a traced "
                         "function) are not supported")
    if isinstance(x, (np.matrix, np.ma.MaskedArray)):
        # their arithmetic differs from ndarray's (matrix `*`, masked-out entries), which
        # a trace on plain arrays would silently not follow
        raise TypeError(f"numhess: {name} is a {type(x).__name__}; pass a plain ndarray "
                        "(np.asarray(x), or x.filled(...) for a masked array)")
    arr = np.asarray(x)
    if arr.dtype.kind == "c":
        raise TypeError(f"numhess: complex {name} is not supported (got dtype {arr.dtype})")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"numhess: {name} must be numeric, got dtype {arr.dtype}")
    return np.array(arr, dtype=np.float64)   # a copy: the caller's array is never touched


def _same_statics(a, b):
    for x, y in zip(a, b):
        if x is not y and not same(x, y):
            return False
    return True


_F64 = np.dtype(np.float64)


def read_input(x, what, i=None):
    """x as a float64 array to read from: a float64 ndarray as it is (numhess only reads
    it), anything else checked and converted by as_input (named `what` or `what i`)."""
    if type(x) is np.ndarray and x.dtype is _F64:
        return x
    return as_input(x, what if i is None else f"{what} {i}")


RECYCLE_MIN = 1 << 17     # elements: smaller value buffers come from malloc's free lists
# Tapes kept: at most `maxsize` a function, and past the newest, about this much memory (a
# function traced again at every call, np.interp of x at n = 10^5, had kept 32 tapes, 2.3
# GB), and as much over the functions jvp and vjp keep.
CACHE_BYTES = 1 << 29
_spare_lock = threading.Lock()


def _spare_refs(entry):
    """The references to entry.spare, counted the same way every time: compared with the
    count of a spare nothing else holds (measured below, so whatever the interpreter
    counts for the local and the argument cancels out)."""
    buf = entry.spare
    return sys.getrefcount(buf)


class Entry:
    """One traced tape with what it takes to read its results, and what was derived from
    it once (the Hessian's colouring)."""
    __slots__ = ("tape", "statics", "out_shape", "aux_tree", "derived", "spans", "out_off",
                 "out_size", "spare", "outside")

    def __init__(self, tape, statics, out_shape, aux_tree, in_shapes, outside=None):
        self.tape, self.statics, self.out_shape, self.aux_tree = tape, statics, out_shape, aux_tree
        self.outside = outside      # what f read besides its arguments, or None
        self.derived = {}
        # (start, stop, shape) of each differentiated argument within the flat inputs
        self.spans, start = [], 0
        for shape in in_shapes:
            stop = start + int(np.prod(shape))
            self.spans.append((start, stop, shape))
            start = stop
        out = tape.out_slots[0]
        self.out_off, self.out_size = int(tape.off[out]), int(tape.size[out])
        self.spare = None

    def nbytes(self):
        """About what the entry holds: its tape, and a spare value buffer."""
        return self.tape.packed.nbytes + 16 * self.tape.total

    def value_buffer(self):
        """(A buffer for the tape's values, whether it lacks the tape's constants). A
        large one is kept and handed out again once nothing refers to it (every result
        of the call that filled it dropped), with its constants (nothing else writes
        them): a fresh one costs its page faults at every call, 5 ms for the 64 MB of the
        tape of a 10^6-variable Rosenbrock function."""
        total = self.tape.total
        if total < RECYCLE_MIN:
            return np.empty(total), True
        with _spare_lock:
            if self.spare is None or _spare_refs(self) > _FREE_SPARE_REFS:
                self.spare = np.empty(total)
                return self.spare, True
            return self.spare, False


_FREE_SPARE_REFS = _spare_refs(types.SimpleNamespace(spare=np.empty(1)))


class Replay:
    """The result of evaluating a traced function at one point: the buffers the sweeps use
    (xin: the inputs' values, Tape.run_forward)."""
    __slots__ = ("entry", "tape", "vals", "ivals", "xin", "held")

    def __init__(self, entry, vals, ivals, xin, held=()):
        self.entry, self.tape, self.vals, self.ivals, self.xin = entry, entry.tape, vals, \
            ivals, xin
        self.held = held      # parameters the sweeps read in place (Tape.run_forward)

    spans = property(lambda s: s.entry.spans)
    out_off = property(lambda s: s.entry.out_off)
    out_size = property(lambda s: s.entry.out_size)
    in_shapes = property(lambda s: [shape for _, _, shape in s.entry.spans])

    @property
    def out_slot(self):
        return self.tape.out_slots[0]

    def output(self):
        o = self.entry.out_off
        return self.vals[o:o + self.entry.out_size].reshape(self.entry.out_shape).copy()

    def aux(self):
        return _unflatten(self.entry.aux_tree, self.tape, self.vals)

    def loaded(self, params):
        """Whether the parameter arrays hold the values this evaluation loaded (never,
        for a tape that reads some in place: a forward sweep costs less than comparing
        them, and reads them as they are now)."""
        return not self.tape.in_place and all(
            np.array_equal(p.reshape(-1), self.vals[o:o + size], equal_nan=True)
            for (o, size), p in zip(self.tape.param_spans, params))

    def split_inputs(self, flat, lead=()):
        """Cut an array whose trailing axis runs over all inputs into one block per input."""
        return [flat[..., a:b].reshape(lead + shape) for a, b, shape in self.entry.spans]


def _static_key(s):
    return (type(s), s.shape, s.dtype) if isinstance(s, np.ndarray) else type(s)


PARAM_MIN_SIZE = 64   # float arrays at least this large are parameters, not constants


def is_param(a):
    """A large float array among the extra arguments (a data matrix, say) is loaded into
    the tape at every call like x, but not differentiated: comparing it by value on
    every call, and keeping a copy in the tape, would cost more than the sweeps."""
    # (not a matrix or a masked array, whose arithmetic is their own: a matrix is static,
    # a masked array raises)
    return isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.size >= PARAM_MIN_SIZE \
        and not isinstance(a, (np.matrix, np.ma.MaskedArray))


def _naming_converter(err):
    """The error in err's chain that names the library function that converted a traced
    array (scipy.stats' logpdf: NumPy then tried an object array, whose errors came
    last), or None."""
    while err is not None:
        if getattr(err, "names_converter", False):
            return err
        err = err.__cause__ or err.__context__
    return None


def _refused_in(b, err):
    """The TraceError of the conversion refused to the call err came from (compiled
    code's own error in its place), or None."""
    tb = err.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame, instruction, error = b.refused or (None, None, None)
    return error if frame is tb.tb_frame and instruction == tb.tb_lasti else None


class TracedFunction:
    """f with the arguments `argnums` differentiated; traces per shape and guard outcome."""

    def __init__(self, f, argnums=0, has_aux=False, maxsize=32):
        """has_aux: None for a transform that has no such option (jvp, hvp)."""
        if not callable(f):
            raise TypeError(f"numhess: expected a function, got {type(f).__name__}")
        self.f = f
        self.argnums, self.multi = normalize_argnums(argnums)
        self.has_aux = has_aux
        self.maxsize = maxsize
        self.cache = OrderedDict()     # key -> list of Entry
        self.lock = threading.Lock()
        self.n_traces = 0
        self._positions = {}           # number of arguments -> (differentiated, others)
        self.use_params = True         # off once a trace needed the data as constants
        # A repeated key skips the lock and the LRU update: it is the most recent already,
        # since any other key's look-up replaces _hot. A stale snapshot (another thread
        # just traced) can only cost a redundant trace.
        self._hot = None

    def positions(self, nargs):
        """(differentiated positions, the other positions) for a call with nargs arguments."""
        got = self._positions.get(nargs)
        if got is None:
            for i in self.argnums:
                if i >= nargs or i < -nargs:
                    raise ValueError(f"argnums={i} is out of range for a call with {nargs} "
                                     "positional arguments")
            nums = tuple(i % nargs for i in self.argnums)
            if len(set(nums)) != len(nums):
                raise ValueError("argnums names the same argument twice")
            got = self._positions[nargs] = (nums, tuple(j for j in range(nargs)
                                                        if j not in nums))
        return got

    def evaluate(self, args, lean=False, output=True, again=None):
        """Replay the function at args (tracing first when no cached tape fits).

        This runs on every call of every transform, so it is kept lean: a float64 array is
        read in place (never written, so not copied), and the key and statics are built in
        one pass over the extra arguments. lean: the caller only takes a gradient or HVP,
        and without output not f's value either (Tape.run_forward). again: a Replay at
        the same inputs, returned as it is if its tape still fits args (the same statics,
        nothing read from outside changed, the parameters hold the values it loaded)."""
        nums, others = self._positions.get(len(args)) or self.positions(len(args))
        if len(nums) == 1:
            v = read_input(args[nums[0]], "argument", nums[0])
            inputs, shapes = (v,), (v.shape,)
            x = v if v.ndim == 1 else v.reshape(-1)
        else:
            inputs = [read_input(args[i], "argument", i) for i in nums]
            x = np.concatenate([v.reshape(-1) for v in inputs])
            shapes = tuple([v.shape for v in inputs])
        statics, pnums, params = None, (), ()
        if others:    # (a call with no other argument skips this, the common case)
            statics, params, pn = [None] * len(args), [], []
            skey = statics.copy()
            for j in others:
                a = args[j]
                if self.use_params and is_param(a):
                    pn.append(j)
                    params.append(a)
                    skey[j] = a.shape       # a tape holds its parameters' shapes
                elif isinstance(a, np.ma.MaskedArray):    # (its mask would be dropped)
                    raise TypeError(f"numhess: argument {j} is a MaskedArray, which a trace "
                                    "would read without its mask; pass m.filled(...)")
                else:
                    statics[j], skey[j] = a, _static_key(a)
            pnums = tuple(pn)
            key = (shapes, pnums, tuple(skey))
        else:
            key = shapes    # a tuple of shapes never equals a 3-tuple key above
        hot = self._hot      # the last key looked up and its entries, read without the lock
        if hot is not None and hot[0] == key:
            entries = hot[1]
        else:
            with self.lock:
                entries = self.cache.get(key)
                if entries:
                    self.cache.move_to_end(key)
                    entries = list(entries)
                    self._hot = (key, entries)
        for e in entries or ():
            if others and not _same_statics(e.statics, statics):
                continue
            if e.outside is not None and not e.outside.unchanged():
                self._drop(key, e)      # a global or closure value changed: stale for good
                continue
            if again is not None and again.entry is e and again.loaded(params):
                return again
            try:
                vals, ivals, xin, held = e.tape.run_forward(x, params, *e.value_buffer(),
                                                            lean, output)
            except np.linalg.LinAlgError:
                # traced again: a guard failing first (expm's squarings), or f's own
                # `except LinAlgError:` to run (else the trace raises it)
                continue

            if not e.tape.guards or e.tape.guards_hold(vals):
                return Replay(e, vals, ivals, xin, held)
        statics = tuple(frozen(s) for s in statics) if others else (None,) * len(args)
        try:
            e = self._trace(args, nums, inputs, pnums, statics)
        except (NotImplementedError, TypeError, ValueError):
            if not pnums:
                raise
            self.use_params = False    # the function needs its data as constants
            try:
                return self.evaluate(args, lean, output)
            except (NotImplementedError, TypeError, ValueError):
                self.use_params = True     # not for that reason: a bad call is no verdict
                raise
        if e.tape.caught:      # its branch is f's except: a tape for this point alone
            return Replay(e, *e.tape.run_forward(x, params, *e.value_buffer(), lean, output))
        with self.lock:
            self._hot = None
            self.cache.setdefault(key, []).append(e)
            self.cache.move_to_end(key)
            while (kept := sum(len(v) for v in self.cache.values())) > self.maxsize or \
                    kept > 1 and self.nbytes() > CACHE_BYTES:    # (the oldest first: not e)
                k0 = next(iter(self.cache))
                self.cache[k0].pop(0)
                if not self.cache[k0]:
                    del self.cache[k0]
        return Replay(e, *e.tape.run_forward(x, params, *e.value_buffer(), lean, output))

    def nbytes(self):
        return sum(e.nbytes() for entries in self.cache.values() for e in entries)

    def _drop(self, key, e):
        with self.lock:
            self._hot = None
            if e in self.cache.get(key, ()):
                self.cache[key].remove(e)
                if not self.cache[key]:
                    del self.cache[key]

    def _trace(self, args, nums, inputs, pnums, statics):
        self.n_traces += 1
        params = [np.asarray(args[j], dtype=np.float64) for j in pnums]
        b = TapeBuilder([v.ravel() for v in inputs], [p.ravel() for p in params])
        call = list(args)
        for i, slot, v in zip(nums, b.inputs, inputs):
            call[i] = Tracer(b, slot, v.copy())
        for j, slot, p in zip(pnums, b.params, params):
            call[j] = Tracer(b, slot, p.copy())
        outside = Outside(self.f, BY_ID)
        try:
            with np.errstate(all="ignore"), taking_traced_arrays(outside.rebinds):
                res = self.f(*call)
        except (TypeError, ValueError) as err:
            named = _naming_converter(err) or _refused_in(b, err)
            if named is not None:   # (NumPy tried other ways, whose errors say less)
                raise TraceError(str(named)) from err
            if held_object_array(err.__traceback__) or "for the input types" in str(err):
                hint = converter_in(err.__traceback__)     # in a library: not f's list
                raise TraceError((LIBRARY_OBJECT_ARRAY if hint else OBJECT_ARRAY) + hint
                                 ) from err
            if isinstance(err, TypeError) and "Tracer" in str(err):   # (not 'Tracer', ...)
                raise TraceError(COMPILED_ONLY.format(err) + converter_in(err.__traceback__)
                                 ) from err
            cut = err.__cause__ or err.__context__
            if isinstance(cut, TraceError):     # NumPy's ValueError while converting one
                raise TraceError(str(cut)) from err     # (np.float64(x[0]), out[0] = x[0])
            raise
        except AttributeError as err:   # (name and obj: Python 3.10 on)
            if isinstance(getattr(err, "obj", None), Tracer) and hasattr(np.ndarray, err.name):
                raise TraceError(NDARRAY_ONLY.format(err.name) + converter_in(err.__traceback__)
                                 ) from err
            raise
        finally:
            b.refused = None        # (its frame holds f's locals)
        outside.settle()
        aux_tree = None
        if self.has_aux:
            if not (isinstance(res, tuple) and len(res) == 2):
                raise ValueError("has_aux=True requires the function to return a pair "
                                 "(output, aux)")
            res, aux_tree = res[0], _flatten(b, res[1])
        if res is None:
            raise TypeError("numhess: the function returned None; it must return an array "
                            "or a number")
        try:
            out = lift(b, res)
        except TypeError as err:
            pair = " (a pair (output, aux)? pass has_aux=True)" if isinstance(
                res, tuple) and len(res) == 2 and self.has_aux is False else ""
            raise TypeError(f"numhess: the function returned {type(res).__name__}, which is "
                            f"not an array of numbers ({err}){pair}") from None
        if out.dtype == np.bool_:
            raise TypeError("numhess: the function returned booleans; derivatives need a "
                            "float output")
        aux_slots = [] if aux_tree is None else _slots(aux_tree)
        tape = b.finish([out.slot] + aux_slots)
        return Entry(tape, statics, out.shape, aux_tree, [v.shape for v in inputs],
                     outside if outside.watched else None)


class Memo:
    """What make() builds for a function and the call's shape of arguments (f, *rest),
    kept for the last `size` of them: the transforms that take f at each call (jvp, vjp
    and numhess.functional's) trace it once, not at every call. Functions are told apart
    by identity (a bound method by its object's and function's): two callables equal
    by their own __eq__ may compute different things."""

    def __init__(self, size=64):
        """make() returns what has a method nbytes() (the tapes it holds)."""
        self.size, self.built, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, f, rest, make):
        bound = isinstance(f, types.MethodType)
        key = ((id(f.__self__), id(f.__func__)) if bound else id(f), *rest)
        with self.lock:
            got = self.built.get(key)      # (the function kept: its ids stay its own)
            if got is None or not (got[0] is f or bound and got[0] == f):
                got = self.built[key] = (f, make())
                while len(self.built) > self.size or len(self.built) > 1 and sum(
                        v.nbytes() for _, v in self.built.values()) > CACHE_BYTES:
                    self.built.popitem(last=False)
            self.built.move_to_end(key)
        return got[1]


# ---------------------------------------------------------------- aux pytrees
class _Leaf:
    __slots__ = ("slot", "shape", "is_bool")

    def __init__(self, t):
        self.slot, self.shape, self.is_bool = t.slot, t.shape, t.dtype == np.bool_


def _flatten(b, tree):
    if isinstance(tree, Tracer):
        return _Leaf(tree)
    if isinstance(tree, np.ndarray) and tree.dtype == object:
        return _Leaf(lift(b, tree))
    if isinstance(tree, (tuple, list, dict)):
        return _rebuilt(tree, lambda t: _flatten(b, t))
    if _holds_tracer(tree):
        raise TypeError(f"numhess: aux holds traced values in a {type(tree).__name__} "
                        "object, whose values would be the first call's at every call: put "
                        "them in tuples, lists or dicts")
    return tree


def _holds_tracer(v, depth=0):
    """Does v hold a Tracer: in its attributes (its __dict__ or slots) or elements (a
    deque, a set), to a few levels down?"""
    if isinstance(v, Tracer):
        return True
    if depth > 3 or isinstance(v, (str, bytes, np.ndarray, type)):
        return False
    held = list((getattr(v, "__dict__", None) or {}).values())
    for c in type(v).__mro__:
        slots = vars(c).get("__slots__", ())
        held += [getattr(v, name, None) for name in ((slots,) if isinstance(slots, str)
                                                     else slots)]
    if isinstance(v, (dict, tuple, list, set, frozenset, collections.deque)):
        held += list(v.values() if isinstance(v, dict) else v)
    return any(_holds_tracer(e, depth + 1) for e in held)


def _rebuilt(tree, fn):
    """The container tree with fn applied to its items, of tree's own type (a namedtuple,
    an OrderedDict)."""
    if isinstance(tree, dict):
        new = {k: fn(v) for k, v in tree.items()}
        if type(tree) is dict:
            return new
        same = copy.copy(tree)       # (of its type, a defaultdict with its factory)
        same.update(new)
        return same
    items = [fn(t) for t in tree]
    return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)


def _slots(tree):
    if isinstance(tree, _Leaf):
        return [tree.slot]
    if isinstance(tree, (tuple, list)):
        return [s for t in tree for s in _slots(t)]
    if isinstance(tree, dict):
        return [s for t in tree.values() for s in _slots(t)]
    return []


def _unflatten(tree, tape, vals):
    if isinstance(tree, _Leaf):
        v = tape.value(vals, tree.slot).reshape(tree.shape).copy()
        return v.astype(bool) if tree.is_bool else v
    if isinstance(tree, (tuple, list, dict)):
        return _rebuilt(tree, lambda t: _unflatten(t, tape, vals))
    # a constant of the trace: a copy each call, as the caller may change it
    return tree.copy() if isinstance(tree, np.ndarray) else tree
