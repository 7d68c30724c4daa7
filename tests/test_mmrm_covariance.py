"""Covariance structures of the MMRM (trialeval.mmrm.covariance): each map from its natural
parameters to the visit x visit covariance, checked against matrices written out by hand
(SAS PROC MIXED's definitions of TYPE=UN, TOEP, TOEPH, AR(1), ARH(1), CS, CSH), plus the
properties the fit relies on: free parameters always give a positive definite matrix,
starting values reproduce a covariance of the structure's own family, and the complex-step
derivatives are exact."""

from __future__ import annotations

import numpy as np
import pytest

from trialeval.mmrm.covariance import (
    STRUCTURES,
    Ar1,
    Ar1Heterogeneous,
    CompoundSymmetry,
    CompoundSymmetryHeterogeneous,
    Toeplitz,
    ToeplitzHeterogeneous,
    Unstructured,
    _acf_from_pacf,
    _pacf_from_acf,
    jacobian,
    second_derivatives,
)


def test_unstructured_fills_the_lower_triangle_by_rows():
    # SAS order UN(1,1), UN(2,1), UN(2,2), UN(3,1), UN(3,2), UN(3,3).
    got = Unstructured().covariance([4.0, 1.0, 9.0, -2.0, 0.5, 16.0], 3)
    want = np.array([[4.0, 1.0, -2.0], [1.0, 9.0, 0.5], [-2.0, 0.5, 16.0]])
    np.testing.assert_array_equal(got, want)
    assert Unstructured().names(2) == ["UN(1,1)", "UN(2,1)", "UN(2,2)"]


def test_toeplitz_is_constant_along_diagonals():
    got = Toeplitz().covariance([10.0, 5.0, 2.0, -1.0], 4)
    want = np.array(
        [
            [10.0, 5.0, 2.0, -1.0],
            [5.0, 10.0, 5.0, 2.0],
            [2.0, 5.0, 10.0, 5.0],
            [-1.0, 2.0, 5.0, 10.0],
        ]
    )
    np.testing.assert_array_equal(got, want)


def test_toeplitz_heterogeneous_scales_lag_correlations_by_each_visit_sd():
    got = ToeplitzHeterogeneous().covariance([4.0, 9.0, 16.0, 0.5, 0.25], 3)
    # sd 2, 3, 4; correlation 0.5 at lag 1, 0.25 at lag 2.
    want = np.array([[4.0, 3.0, 2.0], [3.0, 9.0, 6.0], [2.0, 6.0, 16.0]])
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_ar1_decays_geometrically_with_the_lag():
    got = Ar1().covariance([2.0, 0.5], 4)
    want = 2.0 * np.array(
        [
            [1, 0.5, 0.25, 0.125],
            [0.5, 1, 0.5, 0.25],
            [0.25, 0.5, 1, 0.5],
            [0.125, 0.25, 0.5, 1],
        ]
    )
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_ar1_heterogeneous():
    got = Ar1Heterogeneous().covariance([1.0, 4.0, 9.0, -0.5], 3)
    want = np.array([[1.0, -1.0, 0.75], [-1.0, 4.0, -3.0], [0.75, -3.0, 9.0]])
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_compound_symmetry_is_residual_identity_plus_common_covariance():
    got = CompoundSymmetry().covariance([3.0, 2.0], 3)
    want = np.array([[5.0, 2.0, 2.0], [2.0, 5.0, 2.0], [2.0, 2.0, 5.0]])
    np.testing.assert_array_equal(got, want)


def test_compound_symmetry_heterogeneous():
    got = CompoundSymmetryHeterogeneous().covariance([1.0, 4.0, 9.0, 0.5], 3)
    want = np.array([[1.0, 1.0, 1.5], [1.0, 4.0, 3.0], [1.5, 3.0, 9.0]])
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_parameter_counts():
    t = 5
    counts = {name: s.n_params(t) for name, s in STRUCTURES.items()}
    assert counts == {
        "unstructured": 15,
        "toeplitz": 5,
        "toeplitz_heterogeneous": 9,
        "ar1": 2,
        "ar1_heterogeneous": 6,
        "compound_symmetry": 2,
        "compound_symmetry_heterogeneous": 6,
    }


def test_partial_autocorrelations_round_trip_and_match_the_ar2_recursion():
    # AR(2) with partial autocorrelations (a1, a2): rho1 = a1, rho2 = a1^2 + a2 (1 - a1^2),
    # rho3 = phi1 rho2 + phi2 rho1 with phi1 = a1 (1 - a2), phi2 = a2 (Box & Jenkins).
    a1, a2 = 0.6, -0.3
    rho = _acf_from_pacf([a1, a2, 0.0])
    phi1, phi2 = a1 * (1 - a2), a2
    np.testing.assert_allclose(
        rho, [a1, a1**2 + a2 * (1 - a1**2), phi1 * (a1**2 + a2 * (1 - a1**2)) + phi2 * a1]
    )
    np.testing.assert_allclose(_pacf_from_acf(rho), [a1, a2, 0.0], atol=1e-14)


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_every_free_vector_gives_a_positive_definite_covariance(name):
    structure = STRUCTURES[name]
    rng = np.random.default_rng(7)
    for t in (2, 3, 5):
        for _ in range(20):
            u = rng.normal(scale=2.0, size=structure.n_params(t))
            sigma = structure.covariance(structure.natural(u, t), t)
            np.testing.assert_allclose(sigma, sigma.T)
            assert np.linalg.eigvalsh(sigma).min() > 0


@pytest.mark.parametrize(
    ("name", "theta"),
    [
        ("unstructured", [4.0, 1.0, 9.0, -2.0, 0.5, 16.0]),
        ("toeplitz", [10.0, 5.0, 2.0]),
        ("toeplitz_heterogeneous", [4.0, 9.0, 16.0, 0.5, 0.25]),
        ("ar1", [2.0, 0.5]),
        ("ar1_heterogeneous", [1.0, 4.0, 9.0, -0.5]),
        ("compound_symmetry", [3.0, 2.0]),
        ("compound_symmetry_heterogeneous", [1.0, 4.0, 9.0, 0.5]),
    ],
)
def test_starting_values_recover_a_covariance_of_the_structure(name, theta):
    structure = STRUCTURES[name]
    sigma = structure.covariance(theta, 3)
    recovered = structure.natural(structure.start(sigma), 3)
    np.testing.assert_allclose(recovered, theta, rtol=1e-12, atol=1e-12)


def test_complex_step_derivatives_match_the_analytic_ones():
    variance, rho, t = 2.0, 0.6, 4
    lag = np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
    d = jacobian(lambda v: Ar1().covariance(v, t), np.array([variance, rho]))
    np.testing.assert_allclose(d[0], rho**lag, rtol=1e-15)
    np.testing.assert_allclose(d[1], variance * lag * rho ** np.maximum(lag - 1, 0), rtol=1e-14)
    d2 = second_derivatives(Ar1(), np.array([variance, rho]), t)
    np.testing.assert_allclose(d2[0, 0], 0.0, atol=1e-9)
    np.testing.assert_allclose(d2[0, 1], lag * rho ** np.maximum(lag - 1, 0), rtol=1e-8)
    want = variance * lag * (lag - 1) * rho ** np.maximum(lag - 2, 0)
    np.testing.assert_allclose(d2[1, 1], want, rtol=1e-7, atol=1e-9)


def test_linear_structures_have_no_second_derivatives():
    linear = sorted(name for name, s in STRUCTURES.items() if s.linear)
    assert linear == ["compound_symmetry", "toeplitz", "unstructured"]
    assert second_derivatives(Toeplitz(), np.array([1.0, 0.3]), 2) is None
