"""Simulate responses from a model's own design: at given parameter values or from the prior.

Parameters are given (and reported in ``df.attrs["params"]``) in one nested format::

    {"b": {"Intercept": 250, "Days": 10},                 # every fixed effect
     "sd": {"Subject": {"Intercept": 25, "Days": 6}},     # every block (group or block name)
     "cor": {"Subject": {("Intercept", "Days"): 0.3}},    # optional; missing pairs are 0
     "sigma": 25}                                         # the family's parameters

A single-term block may give its SD as a number (``"sd": {"g": 0.5}``). Group keys name a
grouping factor (``"Subject"``); when several blocks share one (``(1 | g) + (0 + x | g)``) the
block names (``"g"``, ``"g_2"``) may be used instead.

For one draw ``s`` the simulation is ``r_k = z_k L_k'`` with ``z ~ N(0, 1)`` (levels x q) and
``L_k`` the Cholesky factor of ``diag(sd) cor diag(sd)``; ``eta = X b + offset + sum_k Z_k r_k``,
``mu = linkinv(eta)``, ``y ~ family(mu, theta)`` (``Family.draw``).

Prior draws (``params=None``) use ``pm.draw`` of each prior's ``dist_obj``; the Intercept prior
is on centered predictors (brms's rule), so ``b_Intercept = Intercept - xbar . slopes``.

Scalar parameters are labelled brms-style everywhere in the workflow layer: ``b_<coef>``,
``sd_<block>__<term>``, ``cor_<block>__<term1>__<term2>`` and the family parameter names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pymc as pm

from . import stack
from .formula import split_bar, split_call, variable_names

if TYPE_CHECKING:
    from .design import Design, REBlock
    from .model import Model

PARAM_CLASSES = ("b", "sd", "cor")


# --------------------------------------------------------------------------------------------
# parameter sets: draws-first arrays


@dataclass
class ParamDraws:
    """Parameter values with a leading draws axis (S).

    ``b``: (S, p) over ``design.x_names``; ``sd[block]``: (S, q); ``cor[block]``: (S, q, q);
    ``family[name]``: (S,).
    """

    b: np.ndarray
    sd: dict[str, np.ndarray]
    cor: dict[str, np.ndarray]
    family: dict[str, np.ndarray]

    @property
    def n_draws(self) -> int:
        return int(self.b.shape[0])

    def draw(self, s: int) -> ParamDraws:
        """Draw ``s`` alone (keeping the draws axis, length 1)."""
        sl = slice(s, s + 1)
        return ParamDraws(
            self.b[sl],
            {k: v[sl] for k, v in self.sd.items()},
            {k: v[sl] for k, v in self.cor.items()},
            {k: v[sl] for k, v in self.family.items()},
        )

    def nested(self, design: Design, s: int = 0) -> dict[str, Any]:
        """Draw ``s`` in the nested user format (sd/cor keyed by block name)."""
        out: dict[str, Any] = {
            "b": {c: float(self.b[s, j]) for j, c in enumerate(design.x_names)},
            "sd": {},
            "cor": {},
        }
        for blk in design.blocks:
            out["sd"][blk.name] = {
                t: float(self.sd[blk.name][s, j]) for j, t in enumerate(blk.terms)
            }
            if blk.kind == "lkj":
                c = self.cor[blk.name][s]
                out["cor"][blk.name] = {
                    (blk.terms[j], blk.terms[k]): float(c[j, k])
                    for j in range(blk.q)
                    for k in range(j + 1, blk.q)
                }
        for name, v in self.family.items():
            out[name] = float(v[s])
        return out

    def flat(self, design: Design, s: int = 0) -> dict[str, float]:
        """Draw ``s`` as ``{label: value}`` with the workflow's parameter labels."""
        out = {f"b_{c}": float(self.b[s, j]) for j, c in enumerate(design.x_names)}
        for blk in design.blocks:
            for j, t in enumerate(blk.terms):
                out[f"sd_{blk.name}__{t}"] = float(self.sd[blk.name][s, j])
        for blk in design.blocks:
            if blk.kind == "lkj":
                c = self.cor[blk.name][s]
                for j in range(blk.q):
                    for k in range(j + 1, blk.q):
                        out[f"cor_{blk.name}__{blk.terms[j]}__{blk.terms[k]}"] = float(c[j, k])
        for name, v in self.family.items():
            out[name] = float(v[s])
        return out


def label_class(label: str) -> str:
    """The class of a parameter label: ``"b"``, ``"sd"``, ``"cor"`` or a family parameter."""
    head = label.split("_", 1)[0]
    return head if head in PARAM_CLASSES and "_" in label else label


def posterior_params(posterior: Any, design: Design, family_params: tuple[str, ...]) -> dict:
    """``{label: draws (chains x draws)}`` for every scalar parameter of a posterior."""
    out: dict[str, np.ndarray] = {}
    if design.x_names:
        b = np.asarray(posterior["b"].values)
        for j, c in enumerate(design.x_names):
            out[f"b_{c}"] = b[..., j]
    for blk in design.blocks:
        sd = np.asarray(posterior[f"sd_{blk.name}"].values)
        for j, t in enumerate(blk.terms):
            out[f"sd_{blk.name}__{t}"] = sd[..., j]
    for blk in design.blocks:
        if blk.kind == "lkj":
            cor = np.asarray(posterior[f"cor_{blk.name}"].values)
            for j in range(blk.q):
                for k in range(j + 1, blk.q):
                    out[f"cor_{blk.name}__{blk.terms[j]}__{blk.terms[k]}"] = cor[..., j, k]
    for name in family_params:
        out[name] = np.asarray(posterior[name].values)
    return out


# --------------------------------------------------------------------------------------------
# from the prior


def draw_prior(model: Model, draws: int = 1, seed: Any = None) -> ParamDraws:
    """``draws`` parameter sets from ``model.prior_set`` (one compiled ``pm.draw`` call)."""
    design, ps = model.design, model.prior_set
    names = list(design.x_names)
    dists: list[Any] = []
    keys: list[tuple[str, ...]] = []
    if ps.intercept is not None:
        dists.append(ps.intercept.dist_obj())
        keys.append(("Intercept",))
    for c in names:
        if c != "Intercept":
            dists.append(ps.b[c].dist_obj())
            keys.append(("b", c))
    for blk in design.blocks:
        for t in blk.terms:
            dists.append(ps.sd[blk.name][t].dist_obj())
            keys.append(("sd", blk.name, t))
        if blk.kind == "lkj":
            eta = ps.cor[blk.name].params.get("eta", 1.0)
            dists.append(stack.lkj_corr_matrix_dist(blk.q, eta))
            keys.append(("cor", blk.name))
    for name, p in ps.family.items():
        dists.append(p.dist_obj())
        keys.append(("family", name))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    values = pm.draw(dists, draws=draws, random_seed=rng) if dists else []
    if len(dists) == 1:
        values = [values]
    # pm.draw drops the draws axis when draws == 1
    got = {
        k: np.asarray(v, dtype=float)[None] if draws == 1 else np.asarray(v, dtype=float)
        for k, v in zip(keys, values, strict=True)
    }

    b = np.zeros((draws, len(names)))
    for j, c in enumerate(names):
        if c != "Intercept":
            b[:, j] = got[("b", c)]
    if ps.intercept is not None:
        i0 = names.index("Intercept")
        slopes = [j for j in range(len(names)) if j != i0]
        xbar = design.X[:, slopes].mean(axis=0) if slopes else np.zeros(0)
        b[:, i0] = got[("Intercept",)] - b[:, slopes] @ xbar
    sd = {
        blk.name: np.column_stack([got[("sd", blk.name, t)] for t in blk.terms])
        for blk in design.blocks
    }
    cor = {
        blk.name: got[("cor", blk.name)] if blk.kind == "lkj" else _eye(draws, blk.q)
        for blk in design.blocks
    }
    fam = {name: got[("family", name)] for name in ps.family}
    return ParamDraws(b, sd, cor, fam)


def _eye(draws: int, q: int) -> np.ndarray:
    return np.broadcast_to(np.eye(q), (draws, q, q)).copy()


# --------------------------------------------------------------------------------------------
# from given values


def _number(value: Any, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"params{where} must be a number, got {value!r}") from None
    if not np.isfinite(out):
        raise ValueError(f"params{where} must be finite, got {value!r}")
    return out


def _block_spec(
    spec: Any, cls: str, blk: REBlock, design: Design
) -> tuple[Any, str] | tuple[None, None]:
    """The entry of ``params[cls]`` for ``blk`` (by block name, else by group name)."""
    if not isinstance(spec, Mapping):
        return None, None
    if blk.name in spec:
        return spec[blk.name], blk.name
    if blk.group in spec:
        return spec[blk.group], blk.group
    return None, None


def params_from_dict(model: Model, params: Mapping[str, Any]) -> ParamDraws:
    """Validate the nested parameter dict (see the module docstring) into one draw."""
    design, family = model.design, model.family
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict, got {type(params).__name__}")
    allowed = {*PARAM_CLASSES, *family.params}
    unknown = sorted(str(k) for k in set(params) - allowed)
    if unknown:
        raise ValueError(f"unknown params key(s) {unknown}; known: {sorted(allowed)}")

    # fixed effects: all required
    b_spec = params.get("b", {} if not design.x_names else None)
    if not isinstance(b_spec, Mapping):
        raise ValueError(
            f"params['b'] must be a dict of every fixed effect: {list(design.x_names)}"
        )
    extra = sorted(str(k) for k in set(b_spec) - set(design.x_names))
    if extra:
        raise ValueError(
            f"params['b'] names unknown coefficient(s) {extra}; known: {list(design.x_names)}"
        )
    missing = [c for c in design.x_names if c not in b_spec]
    if missing:
        raise ValueError(f"params['b'] is missing coefficient(s) {missing}")
    b = np.array([[_number(b_spec[c], f"['b'][{c!r}]") for c in design.x_names]])

    # group keys
    keys = {blk.name for blk in design.blocks} | {blk.group for blk in design.blocks}
    for cls in ("sd", "cor"):
        spec = params.get(cls)
        if spec is None:
            continue
        if not isinstance(spec, Mapping):
            raise ValueError(f"params[{cls!r}] must be a dict keyed by group: {sorted(keys)}")
        bad = sorted(str(k) for k in set(spec) - keys)
        if bad:
            raise ValueError(f"params[{cls!r}] names unknown group(s) {bad}; known: {sorted(keys)}")

    sd: dict[str, np.ndarray] = {}
    cor: dict[str, np.ndarray] = {}
    used_terms: dict[tuple[str, str], set[str]] = {}
    for blk in design.blocks:
        entry, key = _block_spec(params.get("sd"), "sd", blk, design)
        if entry is None:
            raise ValueError(
                f"params['sd'] is missing group {blk.group!r} (terms {list(blk.terms)})"
            )
        if not isinstance(entry, Mapping):
            if blk.q != 1:
                raise ValueError(
                    f"params['sd'][{key!r}] must be a dict over terms {list(blk.terms)}"
                )
            entry = {blk.terms[0]: entry}
        if key == blk.group and key != blk.name:
            shared = [b for b in design.blocks if b.group == blk.group]
            if len(shared) > 1 and any(
                t in other.terms for other in shared if other is not blk for t in blk.terms
            ):
                raise ValueError(
                    f"group {blk.group!r} has several blocks with a common term "
                    f"({', '.join(b.name for b in shared)}); key params['sd'] by block name"
                )
        used_terms.setdefault(("sd", str(key)), set()).update(entry)
        values = []
        for t in blk.terms:
            if t not in entry:
                raise ValueError(f"params['sd'][{key!r}] is missing term {t!r}")
            v = _number(entry[t], f"['sd'][{key!r}][{t!r}]")
            if v < 0:
                raise ValueError(f"params['sd'][{key!r}][{t!r}] must be >= 0, got {v}")
            values.append(v)
        sd[blk.name] = np.array([values])

        c = np.eye(blk.q)
        centry, ckey = _block_spec(params.get("cor"), "cor", blk, design)
        if centry is not None:
            if not isinstance(centry, Mapping):
                raise ValueError(
                    f"params['cor'][{ckey!r}] must be a dict {{(term1, term2): value}}"
                )
            for pair, value in centry.items():
                if not (isinstance(pair, tuple) and len(pair) == 2):
                    raise ValueError(
                        f"params['cor'][{ckey!r}] keys must be (term1, term2) pairs, got {pair!r}"
                    )
                if pair[0] not in blk.terms or pair[1] not in blk.terms:
                    if (
                        ckey == blk.group
                        and len([b for b in design.blocks if b.group == blk.group]) > 1
                    ):
                        continue  # belongs to another block of the group (checked below)
                    raise ValueError(
                        f"params['cor'][{ckey!r}] pair {pair!r}: terms must be among "
                        f"{list(blk.terms)}"
                    )
                if pair[0] == pair[1]:
                    raise ValueError(f"params['cor'][{ckey!r}] pair {pair!r} repeats a term")
                v = _number(value, f"['cor'][{ckey!r}][{pair!r}]")
                if not -1 <= v <= 1:
                    raise ValueError(f"params['cor'][{ckey!r}][{pair!r}] must be in [-1, 1]")
                if v != 0 and blk.kind != "lkj":
                    raise ValueError(
                        f"block {blk.name!r} is uncorrelated ('||' or one term): "
                        f"params['cor'][{ckey!r}][{pair!r}] must be 0"
                    )
                j, k = blk.terms.index(pair[0]), blk.terms.index(pair[1])
                c[j, k] = c[k, j] = v
                used_terms.setdefault(("cor", str(ckey)), set()).add(str(pair))
            try:
                np.linalg.cholesky(c)
            except np.linalg.LinAlgError:
                raise ValueError(
                    f"params['cor'][{ckey!r}] is not a valid correlation matrix "
                    "(not positive definite)"
                ) from None
        cor[blk.name] = c[None]

    # terms named under a group key that no block of the group has
    for (cls, key), terms in used_terms.items():
        if cls != "sd":
            continue
        known = {t for b in design.blocks if key in (b.name, b.group) for t in b.terms}
        bad = sorted(str(t) for t in set(terms) - known)
        if bad:
            raise ValueError(
                f"params['sd'][{key!r}] names unknown term(s) {bad}; known: {sorted(known)}"
            )
    cor_spec = params.get("cor")
    if isinstance(cor_spec, Mapping):
        for key, entry in cor_spec.items():
            if not isinstance(entry, Mapping):
                continue
            known = {t for b in design.blocks if key in (b.name, b.group) for t in b.terms}
            for pair in entry:
                if isinstance(pair, tuple) and not set(pair) <= known:
                    raise ValueError(
                        f"params['cor'][{key!r}] pair {pair!r}: terms must be among {sorted(known)}"
                    )

    fam: dict[str, np.ndarray] = {}
    for name in family.params:
        if name not in params:
            raise ValueError(f"params is missing the family parameter {name!r}")
        v = _number(params[name], f"[{name!r}]")
        if v <= 0 and name in ("sigma", "shape", "phi", "nu"):
            raise ValueError(f"params[{name!r}] must be > 0, got {v}")
        fam[name] = np.array([v])
    return ParamDraws(b, sd, cor, fam)


# --------------------------------------------------------------------------------------------
# the simulation itself


def draw_effects(
    design: Design, pd_: ParamDraws, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Random effects per block: (S, levels, q) with covariance diag(sd) cor diag(sd)."""
    out: dict[str, np.ndarray] = {}
    for blk in design.blocks:
        sd, cor = pd_.sd[blk.name], pd_.cor[blk.name]
        cov = sd[:, :, None] * cor * sd[:, None, :]
        # a tiny jitter so zero SDs (or |cor| = 1) still factorize
        chol = np.linalg.cholesky(cov + 1e-12 * np.eye(blk.q))
        z = rng.standard_normal((pd_.n_draws, blk.n_levels, blk.q))
        out[blk.name] = np.einsum("sqk,slk->slq", chol, z)
    return out


def linear_predictor(design: Design, b: np.ndarray, effects: dict[str, np.ndarray]) -> np.ndarray:
    """eta (S x n) from coefficients (S x p) and effects per block (S x levels x q)."""
    eta = b @ design.X.T
    if design.offset is not None:
        eta = eta + design.offset
    for blk in design.blocks:
        r = effects[blk.name][:, blk.codes, :]  # S x n x q
        eta = eta + np.einsum("snq,nq->sn", r, blk.Z)
    return np.asarray(eta)


def draw_responses(
    model: Model, pd_: ParamDraws, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Simulated responses (S x n) and the effects drawn for them."""
    design, family = model.design, model.family
    effects = draw_effects(design, pd_, rng)
    eta = linear_predictor(design, pd_.b, effects)
    with np.errstate(over="ignore"):
        mu = family.linkinv_np(eta)
    trials = None if design.trials is None else design.trials[None, :]
    try:
        y = family.draw(rng, mu, pd_.family, trials)
    except ValueError as err:
        raise ValueError(
            f"cannot draw {family.name} responses (means up to {np.nanmax(mu):.3g}): {err}; "
            "the parameters (or priors) imply extreme values"
        ) from None
    return np.asarray(y, dtype=float), effects


def _response_columns(design: Design) -> tuple[str, str | None, str | None]:
    """(successes/response column, failures column or None, trials column or None), or a
    ValueError when the response is not a bare column."""
    text = design.response
    parts = split_bar(text)
    head = parts[0]
    trials_col = None
    for extra in parts[1:]:
        call = split_call(extra)
        if call is not None and call[0] == "trials":
            trials_col = call[1][0].strip()
    failures = None
    call = split_call(head)
    if call is not None and call[0] == "cbind" and len(call[1]) == 2:
        head, failures = (s.strip() for s in call[1])
    for part in (head, failures):
        if part is not None and (not part.isidentifier() or variable_names(part) != [part]):
            raise ValueError(
                f"simulate() writes the simulated response into the data, so the response must "
                f"be a bare column (or cbind(s, f) / s | trials(n) of bare columns); "
                f"{text!r} is a transformation: create the transformed column first "
                f"(e.g. df['log_y'] = np.log(df['y'])) and use it in the formula"
            )
    return head, failures, trials_col


class RanefFrames(dict):  # type: ignore[type-arg]
    """``df.attrs["ranef"]``: group -> DataFrame. A dict whose ``==`` compares the frames with
    ``DataFrame.equals``, so pandas can compare attrs (``pd.concat`` of simulated data sets)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping) or set(self) != set(other):
            return False
        return all(
            isinstance(other[k], pd.DataFrame) and v.equals(other[k]) for k, v in self.items()
        )

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]


def model_data(model: Model, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of the model's data the design uses (``data`` overrides ``model.data``)."""
    if data is None:
        data = getattr(model, "data", None)
    if data is None:
        raise ValueError(
            "this Model does not keep its data (model.data); pass data= (the DataFrame the "
            "model was built from)"
        )
    index = model.design.index
    if len(data) == len(index) and data.index.equals(index):
        return data
    if not data.index.is_unique:
        raise ValueError("the model's data has a non-unique index and rows were dropped")
    return data.loc[index]


def _frame(
    model: Model,
    base: pd.DataFrame,
    y: np.ndarray,
    pd_: ParamDraws,
    effects: dict[str, np.ndarray],
) -> pd.DataFrame:
    design = model.design
    head, failures, _ = _response_columns(design)
    df = base.copy()
    df.attrs = {}
    discrete = model.family.name in ("bernoulli", "binomial", "poisson", "negativebinomial")
    values = y.astype(np.int64) if discrete else y
    df[head] = values
    if failures is not None:
        assert design.trials is not None
        df[failures] = (design.trials - y).astype(np.int64)
    ranef = RanefFrames()
    for blk in design.blocks:
        r = effects[blk.name][0]
        cols = {}
        for j, t in enumerate(blk.terms):
            cols[t] = r[:, j]
        part = pd.DataFrame(cols, index=pd.Index(list(blk.levels), name="level"))
        if blk.group in ranef:
            prev = ranef[blk.group]
            part.columns = [c if c not in prev.columns else f"{blk.name}:{c}" for c in part.columns]
            ranef[blk.group] = pd.concat([prev, part], axis=1)
        else:
            ranef[blk.group] = part
    df.attrs["ranef"] = ranef
    df.attrs["params"] = pd_.nested(design)
    return df


def simulate(
    model: Model,
    params: Mapping[str, Any] | None = None,
    n: int = 1,
    seed: Any = None,
    data: pd.DataFrame | None = None,
) -> list[pd.DataFrame] | pd.DataFrame:
    """Simulated data sets from the model's own design (``model.simulate``).

    ``params``: the nested dict of the module docstring, or None to draw the parameters from
    the model's priors (a new draw per data set). Returns the rows of the data the design used
    with the response column replaced by simulated values (``cbind(s, f)``: both columns;
    ``s | trials(n)``: ``s``), with ``df.attrs["ranef"]`` (group -> DataFrame levels x terms of
    the drawn effects) and ``df.attrs["params"]`` (the parameters used, nested format, sd/cor
    keyed by block name). ``n > 1`` gives a list. ``data`` defaults to ``model.data``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    _response_columns(model.design)  # fail early on a transformed response
    base = model_data(model, data)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if params is None:
        draws = draw_prior(model, n, rng)
    else:
        one = params_from_dict(model, params)
        draws = ParamDraws(
            np.repeat(one.b, n, axis=0),
            {k: np.repeat(v, n, axis=0) for k, v in one.sd.items()},
            {k: np.repeat(v, n, axis=0) for k, v in one.cor.items()},
            {k: np.repeat(v, n, axis=0) for k, v in one.family.items()},
        )
    out = []
    for s in range(n):
        this = draws.draw(s)
        y, effects = draw_responses(model, this, rng)
        out.append(_frame(model, base, y[0], this, effects))
    return out[0] if n == 1 else out


def prior_predictive(model: Model, draws: int = 500, seed: Any = None) -> np.ndarray:
    """Prior-predictive responses, draws x n (``model.prior_predictive()``): parameters and
    random effects drawn from the priors, responses from the family."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    params = draw_prior(model, draws, rng)
    y, _ = draw_responses(model, params, rng)
    return y
