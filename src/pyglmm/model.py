"""``pg.Model``: the user-facing object that runs the pipeline

    formula -> (parse) -> design -> priors/family -> compile (PyMC) -> fit (NUTS)

Each stage is a pure function in its own module; the Model only holds their results.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import pandas as pd
import pymc as pm

from . import kernel as kernel_mod
from .compile import CompiledModel, build_model, resolve_parameterization
from .compile.parameterization import INTEGRATED
from .design import Design, as_frame, build_design, build_distributional_design
from .design.build import drop_aliased_columns
from .design.categorical import categorical_design
from .errors import ArgumentError, UnsupportedModelError
from .families import Family
from .families import family as get_family
from .families.additions import check_additions
from .families.categorical import categorical_response
from .families.ordinal import ordinal_response, threshold_design
from .families.validation import ResponseError
from .formula import BrmsFormula, ParsedFormula, parse_formula, quote_columns
from .formula.additions import parse_response
from .formula.distributional import MvFormula
from .formula.measurement import refuse_me_with_dpars
from .formula.multivariate import multivariate_formula
from .information import block_information, cheap_point_fit
from .init import initvals_from_lmm
from .marginal import add_conditional_effects
from .model_checks import (
    _changes_likelihood,
    _check_fit_arguments,
    _check_row_level_blocks,
    _default_low_rank,
    _latent_only,
)
from .model_mv import setup_multivariate
from .priors import PriorSet, build_priors
from .results.fit import Fit
from .sampling import attach_data, run_sampler
from .workflow import plots, simulation


class Model:
    """A mixed model from an lme4/brms formula and a DataFrame.

    >>> model = pg.Model("Reaction ~ Days + (Days | Subject)", df)
    >>> fit = model.fit(draws=1000, tune=1000, chains=4, seed=1)

    ``family``: a name (``"gaussian"``) or :func:`pg.family` object. ``priors``: overrides by
    class and group/term (see :mod:`pyglmm.priors`). ``parameterization``: ``"auto"``
    (default: marginal for a gaussian model's block with most levels, else centered or
    non-centered by how much the data say about each level at the point estimate, see
    :meth:`resolve`), ``"marginal"``, ``"laplace"`` (a GLMM's block with most levels
    integrated out approximately, in the kernel only: see :meth:`fit`),
    ``"centered"``, ``"noncentered"``, or a dict block/group name -> one of those (checked
    when the model is built). ``missing``:
    ``"drop"`` (rows with missing values in used columns are dropped, with a warning that
    counts them) or ``"raise"``. ``data2``: named matrices the formula refers to (brms's
    ``data2``), the known covariances of ``(1 | gr(g, cov = A))`` and
    ``gr(a:b, cov = kron(U, V))`` (:mod:`pyglmm.design.levelcov`). ``mecor``: whether the
    latent true values of several ``me(x, sdx)`` terms are correlated (an LKJ prior, class
    ``corme``; brms's ``set_mecor``, default True); ``mecor=False`` makes them independent.
    ``me()`` models are sampled by the PyMC model (no kernel, no block integrated out) and
    have no :meth:`optimize`.

    Several responses (``"mvbind(y1, y2) ~ x + (1 |p| g)"`` or ``pg.bf(...) + pg.bf(...)``,
    :mod:`pyglmm.model_mv`): ``family`` may then list one family per response, and
    ``rescor`` (default: on for gaussian responses) correlates their residuals.

    ``formula`` may be a ``pg.bf(...)`` (:class:`~pyglmm.formula.BrmsFormula`): the main
    formula plus formulas of the family's distributional parameters (``"sigma ~ x + (1 | g)"``,
    brms's distributional regression, :mod:`pyglmm.design.distributional`); ``self.bf`` keeps
    it (None for a plain formula). Such a model is sampled by its PyMC model (no kernel, no
    marginal block) and has no point fit.
    """

    def __init__(
        self,
        formula: str | BrmsFormula | MvFormula,
        data: pd.DataFrame,
        family: str | Family | Sequence[str | Family] | Mapping[str, str | Family] = "gaussian",
        priors: Mapping[str, Any] | None = None,
        parameterization: str | Mapping[str, str] = "auto",
        missing: Literal["drop", "raise"] = "drop",
        data_name: str | None = None,
        data2: Mapping[str, Any] | None = None,
        mecor: bool = True,
        rescor: bool | None = None,
    ) -> None:
        data = as_frame(data)  # a dict of columns works as in pandas
        self.data = data
        self.data2: dict[str, Any] | None = None if data2 is None else dict(data2)
        self.data_name = data_name or str(data.attrs.get("name", "data"))
        self._compiled: dict[str, CompiledModel] = {}
        self._point: tuple[Any] | None = None  # (cheap point fit or None,), once computed
        self.parameterization = parameterization
        mvf = multivariate_formula(formula)
        if mvf is not None:  # several responses (model_mv.py)
            setup_multivariate(self, mvf, family, priors, parameterization, missing, data2, rescor)
            return
        if rescor is not None:
            raise ArgumentError("rescor is for multivariate models (mvbind(...) or bf() + bf())")
        if isinstance(formula, MvFormula) or not isinstance(family, (str, Family)):
            raise ArgumentError("a list or dict of families is for multivariate models")
        self.bf: BrmsFormula | None = formula if isinstance(formula, BrmsFormula) else None
        text = formula.formula if isinstance(formula, BrmsFormula) else formula
        self.family: Family = get_family(family)
        # names Python cannot read (dotted, keywords, backticks) become Q("..."); the formula
        # keeps the text the user wrote
        parsed = parse_formula(quote_columns(text, data.columns))
        self.formula: ParsedFormula = replace(parsed, formula=text)
        frame, labels = data, None
        if self.bf is not None and self.bf.dpars:
            self.family.check_dpars(self.bf.dpar_names)
            dpars = {
                name: replace(parse_formula(quote_columns(t, data.columns)), formula=t)
                for name, t in self.bf.dpars
            }
            refuse_me_with_dpars(self.formula, dpars)
            self.design: Design = build_distributional_design(
                self.formula, dpars, data, missing=missing, data2=data2
            )
        else:
            if self.family.thresholds:  # ordinal: the categories' codes (families.ordinal)
                frame, labels = ordinal_response(data, self.formula.response, self.family.name)
            elif self.family.categorical:  # codes 1..K and the categories' names
                frame, labels = categorical_response(data, self.formula.response)
            self.design = drop_aliased_columns(
                build_design(self.formula, frame, missing=missing, data2=data2, mecor=mecor)
            )
        has_rate = parse_response(self.formula.response).term("rate") is not None
        check_additions(self.design.additions, self.family, has_rate)
        try:
            self.family.validate(self.design.y, self.design.trials)
        except ResponseError as err:  # name the rows as the user's data does (after any drop)
            raise err.located(self.design.index) from None
        if self.family.thresholds:
            self.design = threshold_design(self.design, labels, self.family.name)
        elif self.family.categorical and labels is not None:  # one predictor per category
            self.design = categorical_design(self.design, labels)
        _check_row_level_blocks(self.design, self.family)
        self.prior_set: PriorSet = build_priors(self.design, self.family, priors)
        # the priors as given (Fit.update refits with them; the defaults follow the new data)
        self.user_priors: dict[str, Any] = dict(priors or {})
        resolve_parameterization(  # checks it
            parameterization,
            self.design.blocks,
            self.family,
            latent_only=_latent_only(self.design),
            distributional=self.distributional,
        )

    @property
    def distributional(self) -> bool:
        """Whether a family parameter has its own formula (``pg.bf``)."""
        return self.design.distributional

    def _cheap_point_fit(self) -> Any | None:
        """The point estimates for the ``"auto"`` parameterization and ``init="auto"`` (REML,
        or glmer's nAGQ = 0 stage: :func:`pyglmm.information.point_estimates`), computed once
        when it is cheap (:func:`pyglmm.information.cheap_point_fit`), else None (always for a
        distributional model or one with ``me()`` terms, which have no point fit)."""
        if self.distributional or self.design.me is not None:  # (me: no point fit either)
            return None
        if _changes_likelihood(self.design):  # (the point fits ignore weights, cens, ...)
            return None
        if self._point is None:
            self._point = (cheap_point_fit(self.design, self.family),)
        return self._point[0]

    def resolve(self, parameterization: str | Mapping[str, str] | None = None) -> dict[str, str]:
        """Each block's parameterization for ``parameterization`` (default: the model's), as
        :meth:`fit` samples it: ``"auto"`` decides each latent block by the information the
        data carry about its levels at the point estimate (:mod:`pyglmm.information`) when
        :meth:`optimize` covers the model and it has at most 250,000 rows, else by rows per
        level (:func:`~pyglmm.compile.resolve_parameterization`)."""
        spec = self.parameterization if parameterization is None else parameterization
        uses_auto = (
            spec == "auto"
            or (isinstance(spec, str) and spec in INTEGRATED)
            or (isinstance(spec, Mapping) and "auto" in spec.values())
        )
        information = None
        if uses_auto and self.design.blocks:
            point = self._cheap_point_fit()
            if point is not None:
                information = block_information(self.design, self.family, point)
        return resolve_parameterization(
            spec,
            self.design.blocks,
            self.family,
            information,
            latent_only=_latent_only(self.design),
            distributional=self.distributional,
        )

    # --- inspection ----------------------------------------------------------------------
    @property
    def priors(self) -> pd.DataFrame:
        """Every prior the model uses, brms ``get_prior`` style."""
        return self.prior_set.table()

    def compile(self, parameterization: str | Mapping[str, str] | None = None) -> CompiledModel:
        """The PyMC model (cached per parameterization), each block parameterized as
        :meth:`resolve` says."""
        resolved = self.resolve(parameterization)
        key = repr(sorted(resolved.items()))
        if key not in self._compiled:
            self._compiled[key] = build_model(self.design, self.prior_set, self.family, resolved)
        return self._compiled[key]

    @property
    def pymc_model(self) -> pm.Model:
        """The ``pm.Model`` for the default parameterization."""
        return self.compile().model

    def code(self, parameterization: str | Mapping[str, str] | None = None) -> str:
        """A readable listing of the PyMC model :meth:`fit` builds (``pymc_model``). A model
        that the compiled-once kernel covers (gaussian, and the common GLMMs: see :meth:`fit`)
        is sampled through :mod:`pyglmm.kernel` instead, the same posterior from the same
        density written in numba."""
        return self.compile(parameterization).code

    def graph(self, parameterization: str | Mapping[str, str] | None = None) -> Any:
        """The PyMC model graph (``pm.model_to_graphviz``): a ``graphviz.Digraph`` whose
        ``.source`` is the DOT text; a notebook draws it, which needs Graphviz's ``dot``
        program. Needs the ``graphviz`` Python package (``pip install "pyglmm[graph]"``)."""
        try:
            import graphviz  # noqa: F401
        except ImportError as err:
            raise ImportError(
                "Model.graph() needs the graphviz Python package: "
                'pip install graphviz (or pip install "pyglmm[graph]"); drawing the graph '
                "also needs Graphviz's dot program (e.g. apt-get install graphviz)"
            ) from err
        return pm.model_to_graphviz(self.compile(parameterization).model)

    def __repr__(self) -> str:
        d = self.design
        groups = ", ".join(f"{b.group}: {b.n_levels} levels x {b.q}" for b in d.blocks)
        return (
            f"<pyglmm.Model {d.formula.formula!r} family={self.family.name} n={d.n_obs} "
            f"p={len(d.x_names)} [{groups}]>"
        )

    # --- fitting -------------------------------------------------------------------------
    def fit(
        self,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        seed: int | None = None,
        sampler: str = "nutpie",
        progressbar: bool = True,
        parameterization: str | Mapping[str, str] | None = None,
        target_accept: float = 0.8,
        cores: int | None = None,
        log_likelihood: bool | str = "auto",
        warn: bool = True,
        init: Literal["auto", "reml", "laplace"] | None = "auto",
        low_rank_mass_matrix: bool | None = None,
        kernel: bool | None = None,
    ) -> Fit:
        """Sample the posterior with NUTS and return a :class:`~pyglmm.Fit`.

        ``sampler``: ``"nutpie"`` (default), ``"pymc"``, or the JAX samplers ``"numpyro"`` and
        ``"blackjax"`` (``pip install "pyglmm[jax]"``; they run on a GPU with a CUDA jaxlib).

        Warnings (divergences, R-hat > 1.01, ESS < 100 per chain) are issued unless ``warn=False``.
        The pointwise log-likelihood is stored for ``loo`` unless it would exceed 5e7 values
        (``log_likelihood=True`` forces it).

        ``init``: ``"auto"`` (default) starts the chains (jittered) from the point estimates
        of a non-gaussian model (glmer's ``nAGQ = 0`` stage,
        :func:`pyglmm.information.point_estimates`) when that fit is cheap (the family has
        one, at most 250,000 rows; it is computed once per model and also serves ``"auto"``'s
        parameterization) and not singular (an SD of 0 is the neck of a funnel), else where
        the sampler starts by itself; ``None`` always starts where the sampler starts by
        itself; ``"reml"`` / ``"laplace"`` (either name works for either family) always use
        the point estimates of :meth:`optimize` (the Laplace fit). ``fit.timing["point_init"]``
        is 1.0 when the chains started at the point estimates; ``fit.timing["point_fit"]`` is
        the seconds until the point fit and the parameterization were done. As measured
        (``bench/run.py``, 4 x 1000 + 1000): on cbpp, epilepsy, epilepsy + ``(1 | obs)`` and
        VerbAgg the Laplace start gave 0.96-2.1 times the min bulk ESS of the sampler's own
        start (1.07-2.2 times its ESS per second of wall time), with R-hat <= 1.006 and no
        divergences either way (the ``nAGQ = 0`` start that replaced it is within 0.45
        standard errors of it in every fixed effect on these models). A gaussian model keeps
        the sampler's start: nutpie sets its first mass matrix from the gradient at the start,
        which is near 0 at a mode (on an 8-level gaussian model, 2 x 500 draws, the REML start
        gave R-hat 1.02 and a third of the tail ESS).

        A block sampled with ``"marginal"`` has its effects ``r_<block>`` drawn afterwards from
        their exact conditional posterior given each draw (seeded from ``seed``), so
        ``ranef``/``coef``/``predict``/``loo`` work as for latent blocks.

        ``"laplace"`` (GLMMs of the kernel; nutpie and the kernel only): the block's effects
        are integrated out by the Laplace approximation inside the log density
        (:mod:`pyglmm.kernel.laplace`), so NUTS samples only the fixed effects, the family
        parameter and the scales, and ``r_<block>`` is drawn afterwards from the Gaussian
        approximation of its conditional posterior at each draw (seeded from ``seed``). Both
        are approximate: see ``docs/laplace.md`` for the measured error (when it is safe);
        it is never the default.

        ``low_rank_mass_matrix`` (nutpie): adapt a diagonal plus low-rank mass matrix. It
        captures ridges between parameters (the intercept and a non-centered block's effects:
        on the epilepsy Poisson model, non-centered, it raised the bulk ESS of the fixed
        effects threefold). Its adaptation costs grow quickly with the number of parameters
        (measured on epilepsy + ``(1 | obs)``, about 300 parameters: 35 s of sampling instead
        of 3.4 s on nutpie 0.16.8, 188 s instead of 1.2 s per chain on 0.16.11), while
        hierarchical centering on the fixed effects and group-level predictors removes the
        ridges it is for. Default (None): on when some block is latent and the model has at
        most :data:`~pyglmm.model_checks.LOW_RANK_MAX_PARAMETERS` (250) sampled parameters,
        else off (a 3-term correlated block of 60 levels, 189 parameters, needs it: R-hat 1.026
        without).

        ``kernel`` (nutpie): a gaussian(identity) model (any blocks, at most one
        ``"marginal"``), or a bernoulli/binomial (logit, probit, cloglog), Poisson or negative
        binomial (log) model with latent blocks, whose priors have kernel densities is sampled
        with the compiled-once log-density of :mod:`pyglmm.kernel` instead of compiling the
        PyMC model (0.02 s instead of 8-40 s; same posterior). Default (None): used when the
        model is in its scope; ``True`` requires it (ValueError naming the reason otherwise);
        ``False`` always compiles the PyMC model. ``fit.timing["kernel"]`` is 1.0 when the
        kernel sampled, 0.0 when the PyMC model did.
        """
        settings = dict(locals())  # the call's arguments, for Fit.update (the first statement)
        for key in ("self", "draws", "tune", "chains", "sampler"):
            del settings[key]
        _check_fit_arguments(draws, tune, chains, sampler, target_accept, init)
        t0 = time.perf_counter()
        resolved = self.resolve(parameterization)
        point = None
        if init == "auto":  # a singular fit's SD of 0 is the neck of a funnel: no start there
            point = None if self.family.is_gaussian_identity else self._cheap_point_fit()
            point = None if point is None or point.is_singular() else point
        elif init is not None:
            point = self.optimize()
        point_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        # the engine is chosen first: the PyMC model is built only when it is what samples
        km = self._kernel_model(resolved, sampler, kernel)
        if km is None:
            compiled = self.compile(resolved)
        build = time.perf_counter() - t0
        initvals = None
        if point is not None:
            initvals = initvals_from_lmm(self.design, point, resolved)
            if km is None:  # the PyMC model's free variables only (e.g. a mixed-prior LKJ block)
                free = {rv.name for rv in compiled.model.free_RVs}
                initvals = {k: v for k, v in initvals.items() if k in free}
        sampler_kwargs: dict[str, Any] = dict(
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            progressbar=progressbar,
            target_accept=target_accept,
            cores=cores,
            initvals=initvals,
            low_rank_mass_matrix=(
                _default_low_rank(self.design, resolved)
                if low_rank_mass_matrix is None
                else low_rank_mass_matrix
            ),
        )
        if km is None:
            result = run_sampler(compiled, sampler=sampler, **sampler_kwargs)
        else:
            result = kernel_mod.sample(km, **sampler_kwargs)
        timing = {
            "point_fit": point_fit,
            "build": build,
            **result.timing,
            "kernel": float(km is not None),
            "point_init": float(initvals is not None),
        }
        for name, value in resolved.items():
            if value == "marginal":
                t0 = time.perf_counter()
                add_conditional_effects(result.idata, self.design, name, seed=seed)
                timing["conditional_effects"] = time.perf_counter() - t0
        timing["log_likelihood"] = attach_data(
            result.idata, self.design, self.family, log_likelihood
        )
        fit = Fit(
            self,
            result.idata,
            draws=draws,
            tune=tune,
            chains=chains,
            sampler=sampler,
            parameterization=resolved,
            timing=timing,
            settings=settings,
        )
        if warn:
            fit.check()
        return fit

    # --- workflow (see pyglmm.workflow.simulation and .plots) -------------------------------
    simulate = simulation.simulate
    prior_predictive = simulation.prior_predictive
    plot_prior_predictive = plots.plot_prior_predictive

    def _kernel_model(
        self, resolved: dict[str, str], sampler: str, kernel: bool | None
    ) -> kernel_mod.KernelModel | None:
        """The kernel of ``fit(kernel=...)`` (see :meth:`fit`), or None for the PyMC model."""
        laplace = [name for name, value in resolved.items() if value == "laplace"]
        only = (
            f"parameterization 'laplace' (block {laplace[0]!r}) runs only in the kernel"
            if laplace
            else ""
        )
        if kernel is False:
            if laplace:
                raise ArgumentError(f"{only}; kernel=False asks for the PyMC model")
            return None
        if sampler != "nutpie":
            if kernel or laplace:
                what = only if laplace else "kernel=True"
                raise ArgumentError(f"{what}: it needs sampler='nutpie' (got {sampler!r})")
            return None
        km = kernel_mod.kernel_model(self.design, self.prior_set, self.family, resolved)
        if isinstance(km, str):
            if kernel or laplace:
                what = only if laplace else "kernel=True"
                raise ArgumentError(f"{what}, but this model has no kernel: {km}")
            return None
        return km

    def optimize(
        self, reml: bool | None = None, nagq: int = 1, information: str | None = None
    ) -> Any:
        """Point estimates as lme4 computes them.

        gaussian(identity): REML (default) or ML (``reml=False``), as ``lmer``; returns an
        :class:`~pyglmm.lmm.LmmFit`. Other families (bernoulli, binomial, poisson, negative
        binomial, gamma): maximum likelihood as ``glmer``, with the Laplace approximation
        (``nagq=1``, the default), ``nagq=0`` (fixed effects profiled inside PIRLS: faster,
        slightly less accurate) or adaptive Gauss-Hermite quadrature with ``nagq`` nodes
        (``nagq > 1``, one scalar random-effect term); returns a
        :class:`~pyglmm.lmm.GlmmFit`. The negative binomial's and the gamma's shape are
        estimated with the rest (``glmer.nb``'s theta). ``information``: the Laplace
        approximation's weights, ``"expected"`` (glmer's Fisher weights; the default except
        for the gamma) or ``"observed"`` (glmmTMB's exact Hessian; the gamma's default); they
        coincide for canonical links.

        A model with distributional formulas (``pg.bf``) has no point fit:
        :class:`~pyglmm.UnsupportedModelError`.
        """
        if self.design.me is not None:
            raise UnsupportedModelError(
                "model.optimize() does not cover me() terms (latent predictors measured with "
                "error): their latent values are sampled only; use model.fit()"
            )
        if self.design.mv is not None:
            raise UnsupportedModelError("model.optimize() does not cover multivariate models")
        if _changes_likelihood(self.design):
            assert self.design.additions is not None
            raise UnsupportedModelError(
                f"model.optimize() does not cover the addition terms "
                f"{self.design.additions.describe()} (lme4's weights= are precision weights, "
                "not brms's likelihood weights); use model.fit()"
            )
        if self.distributional:
            what = (
                "family 'categorical' (no point fit: one linear predictor per category)"
                if self.design.categorical
                else f"distributional parameters ({', '.join(p.name for p in self.design.dpars)}"
                " with a formula, pg.bf)"
            )
            raise UnsupportedModelError(
                f"model.optimize() (REML/ML point fit) does not support {what}; sample the "
                "model with model.fit()"
            )
        if self.family.is_gaussian_identity:
            if nagq != 1:
                raise ArgumentError(
                    "nagq is for GLMMs (a linear mixed model's likelihood is exact); "
                    f"got nagq={nagq!r} for a gaussian model"
                )
            from .lmm import fit_lmm

            return fit_lmm(self.design, reml=True if reml is None else reml)
        if reml:
            raise ArgumentError(
                f"REML is for gaussian models; a {self.family.name} model is fitted by "
                "maximum likelihood (drop reml=True)"
            )
        from .lmm import fit_glmm

        return fit_glmm(
            self.design, self.family, nagq=nagq, data_name=self.data_name, information=information
        )
