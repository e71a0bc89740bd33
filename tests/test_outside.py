"""Values a function reads besides its arguments (globals, closures, attributes of self,
functools.partial's arguments) are checked at every replay: a changed one traces again."""
import functools
import types

import numpy as np
import pytest

import numhess as nh
from numhess.traced import TracedFunction

x = np.array([0.3, -0.5, 1.2])
mu = 1.0
SCALE = np.array([1.0, 2.0, 3.0])
calls = 0
seen = []


def penalized(x):
    return x @ x + mu * (np.sum(x) - 1.0) ** 2


def test_a_global_penalty_weight():
    global mu
    h = nh.hessian(penalized)
    try:
        for m in (1.0, 100.0, 1.0):
            mu = m
            np.testing.assert_allclose(h(x), 2 * np.eye(3) + 2 * m, rtol=1e-14)
    finally:
        mu = 1.0


def _scaled(x):
    return np.sum(SCALE * x ** 2)


def test_a_global_array_of_a_helper_changed_in_place():
    g = nh.grad(lambda x: _scaled(x) + 1.0)
    np.testing.assert_allclose(g(x), 2 * SCALE * x)
    SCALE[1] = 7.0
    try:
        np.testing.assert_allclose(g(x), 2 * SCALE * x)
    finally:
        SCALE[1] = 2.0


class Settings:
    lam = 1.0

    @staticmethod
    def weight(x):
        return Settings.lam * x


cfg = __import__("types").SimpleNamespace(lam=1.0, inner=__import__(
    "types").SimpleNamespace(w=np.ones(3)))


def test_values_read_through_a_global_object_or_class():
    """cfg.lam of a global SimpleNamespace, an object in it (cfg.inner.w), a class
    attribute (Settings.lam) and what a class's helper reads are watched: they had been
    fixed at the trace."""
    g = nh.grad(lambda x: cfg.lam * np.sum(cfg.inner.w * x ** 2) + np.sum(Settings.weight(x)))
    try:
        for lam, w, s in ((1.0, 1.0, 1.0), (10.0, 1.0, 1.0), (10.0, 3.0, 1.0), (2.0, 3.0, 5.0)):
            cfg.lam, Settings.lam = lam, s
            cfg.inner.w[:] = w
            np.testing.assert_allclose(g(x), 2 * lam * w * x + s, rtol=1e-14)
    finally:
        cfg.lam, Settings.lam = 1.0, 1.0
        cfg.inner.w[:] = 1.0


def test_closure_values_rebound_and_changed_in_place():
    def make():
        c, w = 2.0, np.ones(3)

        def f(x):
            return c * np.sum(w * x ** 2)

        def set_c(v):
            nonlocal c
            c = v
        return f, set_c, w
    f, set_c, w = make()
    h = nh.hessian(f)
    np.testing.assert_allclose(h(x), 4 * np.eye(3))
    set_c(5.0)
    np.testing.assert_allclose(h(x), 10 * np.eye(3))
    w[2] = 3.0
    np.testing.assert_allclose(h(x), 10 * np.diag([1.0, 1.0, 3.0]))


def test_a_large_closure_matrix_compared_bit_for_bit():
    # past 4096 elements the comparison reads the bits in place: one changed element, or
    # 0.0 become -0.0 (equal as floats, and 1 / A then differs), traces again
    A = np.eye(80)
    A[0, 1] = 0.0
    g = nh.grad(lambda x: np.sum(np.exp(A[:3, :3] @ x)) + 1.0 / A[0, 1])
    tf = g.traced
    with np.errstate(divide="ignore"):
        assert np.isinf(g(x)).sum() == 0 and tf.n_traces == 1
        A[2, 0] = 0.5
        np.testing.assert_allclose(g(x), A[:3, :3].T @ np.exp(A[:3, :3] @ x), rtol=1e-14)
        assert tf.n_traces == 2
        A[0, 1] = -0.0      # the same float, other bits: traced again, to the same gradient
        np.testing.assert_allclose(g(x), A[:3, :3].T @ np.exp(A[:3, :3] @ x), rtol=1e-14)
        assert tf.n_traces == 3
        g(x)
    assert tf.n_traces == 3     # unchanged: the tape replays


def test_attributes_of_self_and_partial_arguments():
    class Model:
        def __init__(self):
            self.weight = 1.0

        def __call__(self, x):
            return self.weight * np.sum(x ** 4)

        def loss(self, x):
            return self.weight * np.sum(x ** 2)
    m = Model()
    h_call, h_loss = nh.hessian(m), nh.hessian(m.loss)
    np.testing.assert_allclose(h_loss(x), 2 * np.eye(3))
    m.weight = 3.0
    np.testing.assert_allclose(h_call(x), 36 * np.diag(x ** 2))
    np.testing.assert_allclose(h_loss(x), 6 * np.eye(3))
    p = functools.partial(lambda x, s: s[0] * np.sum(x ** 2), s=np.array([1.0]))
    hp = nh.hessian(p)
    np.testing.assert_allclose(hp(x), 2 * np.eye(3))
    p.keywords["s"][0] = 4.0
    np.testing.assert_allclose(hp(x), 8 * np.eye(3))


def _counted(x):
    global calls
    calls += 1
    seen.append(len(seen))      # changes while traced: the function's own state
    return np.sum(SCALE * x ** 2) + mu


def test_state_the_function_changes_itself_is_not_watched():
    tf = TracedFunction(_counted)
    for _ in range(4):
        tf.evaluate((x,))
    assert tf.n_traces == 1
    [e] = [e for entries in tf.cache.values() for e in entries]
    assert len(e.outside.watched) == 2         # SCALE and mu, not calls or seen


def test_unchanged_values_replay_without_tracing():
    tf = TracedFunction(penalized)
    for _ in range(3):
        np.testing.assert_allclose(tf.evaluate((x,)).output(), penalized(x))
    assert tf.n_traces == 1


def test_class_attributes_other_methods_defaults_and_dicts():
    class Model:
        scale = 1.0

        def __init__(self):
            self.weight = 1.0

        def energy(self, x):
            return self.weight * self.scale * np.sum(x ** 2)

        def __call__(self, x):
            return self.energy(x)

        @property
        def broken(self):       # never run by the look-up
            raise RuntimeError("a property ran")
    m = Model()
    g = nh.grad(m)
    np.testing.assert_allclose(g(x), 2 * x)
    m.weight = 3.0
    np.testing.assert_allclose(g(x), 6 * x)
    Model.scale = 5.0
    np.testing.assert_allclose(g(x), 30 * x)

    def with_default(x, w=np.array([1.0])):
        return w[0] * np.sum(x ** 2)
    gd = nh.grad(with_default)
    np.testing.assert_allclose(gd(x), 2 * x)
    with_default.__defaults__[0][0] = 4.0
    np.testing.assert_allclose(gd(x), 8 * x)

    settings = {"weight": 1.0}
    gs = nh.grad(lambda x: settings["weight"] * np.sum(x ** 2))
    np.testing.assert_allclose(gs(x), 2 * x)
    settings["weight"] = 2.0
    np.testing.assert_allclose(gs(x), 4 * x)


def _penalty(x):
    return np.sum(x ** 2)


def _uses_penalty(x):
    return _penalty(x) + np.sum(x)


def test_a_global_function_rebound():
    global _penalty
    g = nh.grad(_uses_penalty)
    np.testing.assert_allclose(g(x), 2 * x + 1)
    original = _penalty
    _penalty = lambda x: np.sum(x ** 4)
    try:
        np.testing.assert_allclose(g(x), 4 * x ** 3 + 1)
    finally:
        _penalty = original
    np.testing.assert_allclose(g(x), 2 * x + 1)


act = np.tanh


def _activated(x):
    return np.sum(act(x)) + np.mean(x ** 2)


def test_a_global_or_closure_holding_a_library_function_rebound():
    """Which ufunc or library function a name holds is watched too (an activation
    switched between runs had replayed the old one's tape)."""
    global act
    import scipy.special
    g = nh.grad(_activated)
    try:
        for fn, d in ((np.tanh, 1 - np.tanh(x) ** 2), (np.sin, np.cos(x)),
                      (scipy.special.expit, scipy.special.expit(x) *
                       (1 - scipy.special.expit(x)))):
            act = fn
            np.testing.assert_allclose(g(x), d + 2 * x / 3, rtol=1e-14)
    finally:
        act = np.tanh
    reduce = np.mean
    f = lambda x: reduce(x ** 2)
    g = nh.grad(f)
    np.testing.assert_allclose(g(x), 2 * x / 3, rtol=1e-14)
    reduce = np.sum
    np.testing.assert_allclose(g(x), 2 * x, rtol=1e-14)
    assert g.traced.n_traces == 2


def test_an_object_argument_is_its_attributes():
    """An object of the caller's classes passed as an argument is compared by its
    attributes: rebound or changed in place, they trace again (a second fit with
    `d.y` changed had replayed the first fit's data); unchanged, the tape replays."""
    import dataclasses
    import types

    class Data:
        def __init__(self, X, y):
            self.X, self.y = X, y

    @dataclasses.dataclass
    class Fields:
        X: np.ndarray
        y: np.ndarray
    loss = lambda b, d: np.sum((d.X @ b - d.y) ** 2)
    X = np.array([[1.0, 0.5], [0.2, 1.0], [1.0, 1.0]])
    b = np.array([0.3, -0.2])
    for make in (Data, types.SimpleNamespace, Fields):
        d = make(X=X.copy(), y=np.array([1.0, 2.0, 0.5]))
        g = nh.grad(loss)
        for change in (lambda: None, lambda: setattr(d, "y", d.y + 1.0),
                       lambda: d.X.__setitem__((0, 0), 3.0)):
            change()
            np.testing.assert_allclose(g(b, d), 2 * d.X.T @ (d.X @ b - d.y), rtol=1e-14)
        g(b, d)
        assert g.traced.n_traces == 3


SCALE_OF_STATIC = 2.0


class _Base:
    def __init__(self, w):
        self._w = w

    @property
    def w(self):
        return self._w

    def loss(self, x):
        return np.sum(self.w * x ** 2)


class _Derived(_Base):
    @staticmethod
    def scale():
        return SCALE_OF_STATIC

    def loss(self, x):
        return super().loss(x) * self.scale()

    __call__ = loss


class _Slots:
    __slots__ = ("a",)

    def __init__(self, a):
        self.a = a


class _Config:
    k = 2.0


class _Params(dict):
    pass


class _Node:
    def __init__(self, a, parent=None):
        self.a, self.parent, self.children = a, parent, []
        if parent is not None:
            parent.children.append(self)


def test_static_arguments_compared_as_what_they_hold():
    """namedtuples, dict and list subclasses, objects with __slots__, a class attribute
    of an argument's class, objects that refer to themselves: each compared by what it
    holds (they had crashed, or replayed stale tapes); a bool index list is not the int
    one it equals, nor -0.0 0.0."""
    import collections
    Cfg = collections.namedtuple("Cfg", "a b")
    g = nh.grad(lambda x, c: np.sum(c.a * x ** 2 + c.b * x))
    np.testing.assert_allclose(g(x, Cfg(2.0, 1.0)), 4 * x + 1)
    np.testing.assert_allclose(g(x, Cfg(2.0, 1.0)), 4 * x + 1)
    assert g.traced.n_traces == 1
    np.testing.assert_allclose(g(x, Cfg(3.0, 1.0)), 6 * x + 1)
    index = nh.grad(lambda x, i: np.sum(x[i] ** 2))
    np.testing.assert_allclose(index(x, [1, 0, 1]), [2 * x[0], 4 * x[1], 0.0])
    np.testing.assert_allclose(index(x, [True, False, True]), [2 * x[0], 0.0, 2 * x[2]])
    sign = nh.grad(lambda x, z: np.sum(np.arctan2(z[0], -1.0) * x ** 2))
    np.testing.assert_allclose(sign(x, (-0.0,)), -2 * np.pi * x)
    np.testing.assert_allclose(sign(x, (0.0,)), 2 * np.pi * x)
    by_a = nh.grad(lambda x, o: np.sum(o.a * x ** 2))
    for holder, change in ((_Slots(2.0), lambda o: setattr(o, "a", 5.0)),
                           (_Node(2.0, _Node(1.0)), lambda o: setattr(o, "a", 5.0))):
        np.testing.assert_allclose(by_a(x, holder), 4 * x)
        change(holder)
        np.testing.assert_allclose(by_a(x, holder), 10 * x)
    for holder, key in ((_Params(a=2.0), "a"), (type("Coefs", (list,), {})([2.0]), 0)):
        h = nh.grad(lambda x, p: np.sum(p[key] * x ** 2))
        np.testing.assert_allclose(h(x, holder), 4 * x)
        holder[key] = 5.0
        np.testing.assert_allclose(h(x, holder), 10 * x)
    cls = nh.grad(lambda x, c: np.sum(c.k * x ** 2))
    np.testing.assert_allclose(cls(x, _Config()), 4 * x)
    _Config.k = 5.0
    try:
        np.testing.assert_allclose(cls(x, _Config()), 10 * x)
    finally:
        _Config.k = 2.0
    cyclic = {"a": 2.0}
    cyclic["self"] = cyclic
    np.testing.assert_allclose(nh.grad(lambda x, d: np.sum(d["a"] * x ** 2))(x, cyclic), 4 * x)
    labels = np.array(["abc"] * 5000)
    lab = nh.grad(lambda x, s: np.sum(x ** 2) * (s[0] == "abc"))
    for _ in range(2):
        np.testing.assert_allclose(lab(x, labels), 2 * x)


def test_what_a_method_reaches_through_properties_static_methods_and_super():
    """self's property (its getter's reads), a static method's globals, a parent's method
    through super(), and a slot of self are watched."""
    global SCALE_OF_STATIC
    model = _Derived(2.0)
    g = nh.grad(model)
    np.testing.assert_allclose(g(x), 8 * x)
    model._w = 5.0
    np.testing.assert_allclose(g(x), 20 * x)
    SCALE_OF_STATIC = 1.0
    try:
        np.testing.assert_allclose(g(x), 10 * x)
    finally:
        SCALE_OF_STATIC = 2.0


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")     # (np.matrix's own)
def test_matrix_and_masked_data():
    """An np.matrix among the data keeps its own arithmetic (a static argument, not a
    parameter traced as a plain array: A ** 2 is its matrix power); a masked array is
    refused, where its mask had been dropped."""
    A = np.asmatrix(np.arange(64.0).reshape(8, 8) / 64)
    f = lambda v, A: np.sum(np.asarray(A ** 2) @ v ** 2)
    v = np.linspace(-1.0, 1.0, 8)
    np.testing.assert_allclose(nh.grad(f)(v, A), 2 * v * np.asarray(A ** 2).sum(0))
    with pytest.raises(TypeError, match="MaskedArray"):
        nh.grad(lambda v, M: np.sum(M * v))(v, np.ma.masked_array(np.ones(80)))


def test_a_failing_call_leaves_data_as_parameters():
    """A call with data of a wrong shape raises, and later calls still load the data as
    parameters (it had fallen back to constants for good: a trace per new batch)."""
    f = lambda w, X: np.sum(np.tanh(X @ w))
    g, w = nh.grad(f), np.ones(4)
    X = np.arange(400.0).reshape(100, 4) / 400
    g(w, X)
    with pytest.raises(ValueError):
        g(w, np.ones((100, 5)))
    assert g.traced.use_params
    g(w, X + 1.0)
    assert g.traced.n_traces == 3      # the first, and the failing call's two tries


settings = {"lam": 1.0, "act": np.tanh, 0: None}
ops = [np.sin, 1.0]


class Layer:
    def __init__(self, w):
        self.w = w


class Net:
    def __init__(self):
        self.layer = Layer(np.ones(3))
        self.layers = [Layer(np.ones(3))]

    def loss(self, x):
        return np.sum(self.layer.w * x ** 2) + np.sum(self.layers[0].w * x ** 4)


class Holder:
    def __init__(self):
        self._lam = 1.0

    @property
    def lam(self):
        return self._lam


holder = Holder()
registry = {"net": Layer(np.ones(3))}


def _weighted_by(c, x):         # reads c.lam of whatever its caller passes
    return c.lam * np.sum(x ** 2)


def test_containers_with_functions_and_objects_of_the_callers_classes():
    """A dict holding a function (or None, an int key), a list holding a function, a
    dict of objects: watched whole, their functions followed."""
    g = nh.grad(lambda x: settings["lam"] * np.sum(settings["act"](x)) + ops[1] * np.sum(
        ops[0](x)) + np.sum(registry["net"].w * x))
    def want():
        return settings["lam"] * (1 - np.tanh(x) ** 2) + ops[1] * (
            np.cos(x) if ops[0] is np.sin else -np.sin(x)) + registry["net"].w
    np.testing.assert_allclose(g(x), want(), rtol=1e-14)
    try:
        settings["lam"] = 10.0
        np.testing.assert_allclose(g(x), want(), rtol=1e-14)
        ops[0] = np.cos
        np.testing.assert_allclose(g(x), want(), rtol=1e-14)
        registry["net"].w = 3 * np.ones(3)
        np.testing.assert_allclose(g(x), want(), rtol=1e-14)
    finally:
        settings["lam"], ops[0], registry["net"].w = 1.0, np.sin, np.ones(3)


def test_objects_reached_through_self_helpers_properties_and_names_as_strings():
    net = Net()
    g = nh.grad(net.loss)
    g(x)
    net.layer.w = 3 * np.ones(3)
    net.layers[0].w = 2 * np.ones(3)
    np.testing.assert_allclose(g(x), 6 * x + 8 * x ** 3, rtol=1e-14)
    helped = nh.grad(lambda x: _weighted_by(cfg, x))          # cfg.lam, read by the helper
    by_property = nh.grad(lambda x: holder.lam * np.sum(x ** 2))
    by_string = nh.grad(lambda x: getattr(cfg, "lam") * np.sum(x ** 2))
    for t in (helped, by_property, by_string):
        np.testing.assert_allclose(t(x), 2 * x, rtol=1e-14)
    try:
        cfg.lam, holder._lam = 5.0, 5.0
        for t in (helped, by_property, by_string):
            np.testing.assert_allclose(t(x), 10 * x, rtol=1e-14)
    finally:
        cfg.lam, holder._lam = 1.0, 1.0


def test_a_vectorized_function_is_followed():
    scale = 2.0
    vf = np.vectorize(lambda t: scale * t ** 2)
    g = nh.grad(lambda x: np.sum(vf(x)))
    np.testing.assert_allclose(g(x), 4 * x, rtol=1e-14)
    scale = 5.0
    np.testing.assert_allclose(g(x), 10 * x, rtol=1e-14)


class _Norm(__import__("enum").Enum):
    L2 = 2
    L4 = 4


NORM = _Norm.L2
ROI = slice(0, 2)
SETTINGS = {"lam": 1.0, "out": __import__("pathlib").Path("results"), "idx": {0, 1},
            "rng": np.random.default_rng(0), "roi": slice(0, 3)}


def _by_norm(x):
    return SETTINGS["lam"] * np.sum(x[ROI] ** NORM.value)


def test_values_of_any_type_are_watched():
    """An Enum member, a slice, a dict holding a Path, a set or a Generator beside the
    weight: each compared (such a dict had gone unwatched whole, the others too)."""
    global NORM, ROI
    g = nh.grad(_by_norm)
    np.testing.assert_allclose(g(x), [2 * x[0], 2 * x[1], 0.0])
    NORM, ROI = _Norm.L4, slice(1, 3)
    SETTINGS["lam"] = 3.0
    try:
        np.testing.assert_allclose(g(x), [0.0, 12 * x[1] ** 3, 12 * x[2] ** 3])
    finally:
        NORM, ROI, SETTINGS["lam"] = _Norm.L2, slice(0, 2), 1.0
    np.testing.assert_allclose(g(x), [2 * x[0], 2 * x[1], 0.0])


def test_modules_classes_and_containers_of_a_library_type_as_arguments(tmp_path,
                                                                       monkeypatch):
    """A module or class of the caller's passed in, a module f imports inside, a set, a
    deque or an array.array changed in place: compared by what they hold (all had
    replayed the old values)."""
    import array
    import collections
    (tmp_path / "numhess_test_cfg.py").write_text("lam = 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import numhess_test_cfg as cfg

    def imported(x):
        from numhess_test_cfg import lam
        return lam * np.sum(x ** 2)

    by_lam = nh.grad(lambda x, c: c.lam * np.sum(x ** 2))
    inside = nh.grad(imported)
    np.testing.assert_allclose(by_lam(x, cfg), 2 * x)
    np.testing.assert_allclose(inside(x), 2 * x)
    cfg.lam = 4.0
    np.testing.assert_allclose(by_lam(x, cfg), 8 * x)
    np.testing.assert_allclose(inside(x), 8 * x)
    Holder = type("Holder", (), {"lam": 1.0})
    np.testing.assert_allclose(by_lam(x, Holder), 2 * x)
    Holder.lam = 5.0
    np.testing.assert_allclose(by_lam(x, Holder), 10 * x)
    first = nh.grad(lambda x, c: max(c) * np.sum(x ** 2))
    for held, change in (({1.0}, lambda s: s.add(3.0)),
                         (collections.deque([1.0]), lambda d: d.appendleft(3.0)),
                         (array.array("d", [1.0]), lambda a: a.insert(0, 3.0))):
        np.testing.assert_allclose(first(x, held), 2 * x)
        change(held)
        np.testing.assert_allclose(first(x, held), 6 * x)


K_STATIC = 1.0


class _Cubic:
    k = 1.0

    @staticmethod
    def scaled(z):
        return K_STATIC * z ** 3

    @classmethod
    def by_class(cls, z):
        return cls.k * z ** 3


@functools.lru_cache(maxsize=None)
def _coefficients(m):
    return np.arange(1.0, m + 1.0) * K_STATIC


def test_partial_objects_static_and_class_methods_and_cached_helpers():
    """An object bound by functools.partial (by position or keyword), a staticmethod or
    classmethod called through its class or an instance, and a helper behind lru_cache
    had had the values they read unwatched: changed, the old gradient came back."""
    global K_STATIC
    m = types.SimpleNamespace(k=1.0)
    loss = lambda model, x: model.k * np.sum(x ** 3)
    grads = [nh.grad(functools.partial(loss, m)),
             nh.grad(functools.partial(lambda x, model: loss(model, x), model=m)),
             nh.grad(lambda x: np.sum(_Cubic.scaled(x))),
             nh.grad(lambda x: np.sum(_Cubic.by_class(x))),
             nh.grad(lambda x: np.sum(_Cubic().by_class(x))),
             nh.grad(lambda x: np.sum(_coefficients(3) * x ** 3) / 6.0)]
    y = np.array([1.0, 1.0, 1.0])
    try:
        for k in (1.0, 3.0):
            m.k = _Cubic.k = K_STATIC = k
            _coefficients.cache_clear()
            for g in grads[:-1]:
                np.testing.assert_allclose(g(x), 3 * k * x ** 2, rtol=1e-14)
            np.testing.assert_allclose(grads[-1](y), k * np.array([0.5, 1.0, 1.5]), rtol=1e-14)
    finally:
        K_STATIC = _Cubic.k = 1.0
        _coefficients.cache_clear()
