"""nh.functional: torch.autograd.functional's names, shapes and tuple semantics."""
import numpy as np
import pytest

import numhess as nh
from numhess import functional as F
from test_rules import assert_close, central_diff

X = np.array([0.3, -1.2, 0.7, 2.0])
Y = np.array([[0.5, -0.4], [1.1, 0.2], [-0.3, 0.9]])


def f(x):
    return np.sum(np.sin(x) * x ** 2)


def g(x, y):                            # two inputs, scalar output
    return np.sum(x ** 2) * np.sum(y ** 3) + x[0] * y[1, 1]


def r(x, y):                            # two inputs, two outputs
    return np.exp(x[:3])[:, None] * y, np.sum(x * x[::-1])


def test_reachable_from_the_package():
    assert nh.functional.hessian is F.hessian


# ---------------------------------------------------------------- hessian
def test_hessian_single_input():
    H = F.hessian(f, X)
    assert H.shape == (4, 4)
    assert_close(H, nh.hessian(f)(X), rtol=1e-14)


def test_hessian_tuple_inputs_nested_blocks():
    H = F.hessian(g, (X, Y))
    assert isinstance(H, tuple) and all(isinstance(row, tuple) for row in H)
    assert [[b.shape for b in row] for row in H] == [[(4, 4), (4, 3, 2)],
                                                     [(3, 2, 4), (3, 2, 3, 2)]]
    ref = nh.hessian(g, argnums=(0, 1))(X, Y)
    for i in range(2):
        for j in range(2):
            assert_close(H[i][j], ref[i][j], rtol=1e-14)
    assert_close(H[0][1], H[1][0].transpose(2, 0, 1), rtol=1e-14)


def test_hessian_one_tuple_input_stays_a_tuple():
    H = F.hessian(f, (X,))
    assert isinstance(H, tuple) and len(H) == 1 and H[0][0].shape == (4, 4)


def test_hessian_needs_a_single_element():
    with pytest.raises(ValueError, match="single element"):
        F.hessian(lambda x: x ** 2, X)
    with pytest.raises(ValueError, match="single element"):
        F.hessian(lambda x: (np.sum(x), np.sum(x)), X)
    assert F.hessian(lambda x: np.sum(x ** 3, keepdims=True), X).shape == (4, 4)


# ---------------------------------------------------------------- jacobian
@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_jacobian_shapes_and_values(strategy):
    J = F.jacobian(lambda x: np.sin(x) * x[0], X, strategy=strategy)
    assert_close(J, central_diff(lambda x: np.sin(x) * x[0], X))
    J = F.jacobian(r, (X, Y), strategy=strategy)       # tuple outputs x tuple inputs
    assert [[b.shape for b in row] for row in J] == [[(3, 2, 4), (3, 2, 3, 2)],
                                                     [(4,), (3, 2)]]
    assert_close(J[0][0], nh.jacfwd(lambda x: r(x, Y)[0])(X), rtol=1e-14)
    assert_close(J[1][0], 2 * X[::-1], rtol=1e-14)
    assert_close(J[1][1], np.zeros((3, 2)))
    J = F.jacobian(lambda x: (x, np.sum(x)), X, strategy=strategy)  # tuple outputs only
    assert isinstance(J, tuple) and J[0].shape == (4, 4) and J[1].shape == (4,)
    J = F.jacobian(g, (X, Y), strategy=strategy)       # tuple inputs only
    assert isinstance(J, tuple) and J[0].shape == (4,) and J[1].shape == (3, 2)


def test_jacobian_bad_strategy():
    with pytest.raises(ValueError, match="forward-mode"):
        F.jacobian(f, X, strategy="sideways")


# ---------------------------------------------------------------- products
def test_hvp_and_vhp():
    v = np.array([1.0, -2.0, 0.5, 3.0])
    out, hv = F.hvp(f, X, v)
    assert out.shape == () and out == pytest.approx(f(X))
    assert_close(hv, nh.hessian(f)(X) @ v, rtol=1e-13)
    out2, vh = F.vhp(f, X, v)
    assert_close(vh, hv, rtol=1e-14)
    out, hv = F.hvp(g, (X, Y), (v, np.ones((3, 2))))
    H = nh.hessian(g, argnums=(0, 1))(X, Y)
    assert_close(hv[0], H[0][0] @ v + np.tensordot(H[0][1], np.ones((3, 2)), 2), rtol=1e-13)
    assert hv[1].shape == (3, 2)


def test_vjp_and_jvp_follow_torch_structure():
    out, vj = F.vjp(r, (X, Y), (np.ones((3, 2)), np.array(2.0)))
    assert isinstance(out, tuple) and out[0].shape == (3, 2) and out[1].shape == ()
    J = F.jacobian(r, (X, Y))
    assert_close(vj[0], np.tensordot(np.ones((3, 2)), J[0][0], 2) + 2 * J[1][0])
    assert_close(vj[1], np.tensordot(np.ones((3, 2)), J[0][1], 2) + 2 * J[1][1])
    out, jv = F.jvp(r, (X, Y), (np.ones(4), np.zeros((3, 2))))
    assert_close(jv[0], J[0][0].sum(axis=-1))
    assert_close(jv[1], J[1][0].sum())
    out, vj = F.vjp(f, X)                    # v=None: a single-element output
    assert_close(vj, nh.grad(f)(X), rtol=1e-14)
    out, jv = F.jvp(lambda x: np.sin(x), np.array([0.5]))   # v=None: a single-element input
    assert_close(jv, np.cos([0.5]), rtol=1e-14)


def test_v_none_and_shape_errors():
    with pytest.raises(ValueError, match="v can only be None"):
        F.vjp(lambda x: x * 2, X)
    with pytest.raises(ValueError, match="v can only be None"):
        F.hvp(f, X)
    with pytest.raises(ValueError, match="shape"):
        F.hvp(f, X, np.ones(3))
    with pytest.raises(ValueError, match=r"1 part\(s\) for 2 input"):
        F.jvp(g, (X, Y), (np.ones(4),))


def test_create_graph_and_bad_func():
    with pytest.raises(NotImplementedError, match="create_graph"):
        F.hessian(f, X, create_graph=True)
    with pytest.raises(TypeError, match="callable"):
        F.jacobian(3, X)
    with pytest.raises(TypeError, match="as a tuple"):
        F.jacobian(g, [X, Y])


# ---------------------------------------------------------------- strict
def test_strict_names_the_independent_pair():
    h = lambda x, y: (x * 0.0 + np.sum(y), np.floor(x))
    with pytest.raises(ValueError, match="output 1 does not depend on input 0"):
        F.jacobian(h, (X, X), strict=True)
    J = F.jacobian(h, (X, X))                # not strict: zero blocks
    assert_close(J[1][0], np.zeros((4, 4)))
    with pytest.raises(ValueError, match="do not depend on input 1"):
        F.hessian(lambda x, y: np.sum(x ** 2) + np.sum(np.zeros_like(y)), (X, X), strict=True)
    with pytest.raises(ValueError, match="output 1 does not depend on any input"):
        F.jvp(lambda x: (x ** 2, np.ones(2)), X, np.ones(4), strict=True)
    with pytest.raises(ValueError, match="do not depend on input 0"):
        F.vjp(lambda x: np.sum(np.sign(x)), X, strict=True)


def test_strict_passes_structural_dependence():
    # x * 0 is structurally linked to x (as in torch), so strict accepts it
    F.jacobian(lambda x, y: x * 0.0 + y, (X, X), strict=True)
    F.hessian(g, (X, Y), strict=True)
    F.hvp(f, X, np.ones(4), strict=True)


def test_repeated_calls_reuse_the_trace():
    counter = []

    def h(x):
        counter.append(1)                   # runs at trace time only
        return np.sum(x ** 4)

    for k in range(5):
        F.hessian(h, X + k)
    assert len(counter) == 1
