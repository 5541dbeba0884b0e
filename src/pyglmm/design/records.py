"""Stage 2: turn a :class:`~pyglmm.formula.ParsedFormula` and a DataFrame into design records.

The fixed-effect matrix comes from patsy (treatment contrasts, stateful ``scale``/``center``,
``C(x, levels=...)``, ``I()``, ``np.log``). Each random-effect term becomes one small frozen
:class:`REBlock` in the spirit of MixedModels.jl's ``ReMat``: integer codes per row over the
*observed* levels, and the block's dense ``n x q`` columns. The ``n x (levels * q)`` matrix Z is
never formed: the linear predictor is

    eta_i = X_i b + sum_k  Z_k[i, :] . r_k[codes_k[i], :]

Everything data-dependent (patsy design infos, factor levels, scale/center constants) is kept in
the records so :meth:`Design.transform` builds the same columns for new data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError as DesignError  # defined in errors, raised here
from ..formula import (
    ParsedFormula,
)
from . import terms as _terms
from .additions import Additions, new_log_rate
from .blocks import BlockKind, block_kind
from .frame import (
    as_frame,
    check_columns,
    check_finite_columns,
    format_counts,
    na_counts,
    patsy_frame,
    rebuild_columns,
    rhs_variables,
)
from .levelcov import LevelCovariance
from .measurement import MeasurementError, add_placeholders
from .response import new_trials
from .smooths import SMOOTH_LEVEL, SmoothColumns, SmoothPart


@dataclass(frozen=True, eq=False)
class StackedInfo:
    """The design state of a block merged from several terms (brms's ``|ID|``,
    :mod:`pyglmm.design.ids`): one patsy DesignInfo per term, whose columns are side by side
    in the block's ``Z``."""

    parts: tuple[Any, ...]


def rebuild_block_columns(info: Any, frame: pd.DataFrame, what: str) -> np.ndarray:
    """A block's ``Z`` on new data from its design state (a DesignInfo or a
    :class:`StackedInfo`)."""
    if isinstance(info, StackedInfo):
        return np.hstack([rebuild_block_columns(p, frame, what) for p in info.parts])
    if isinstance(info, SmoothColumns):
        return info.columns(frame)
    return rebuild_columns(info, frame, what)


CovKind = str  # a stored block-kind name, a key of pyglmm.design.blocks.KINDS


@dataclass(frozen=True, eq=False)
class REBlock:
    """One random-effect block ``(expr | group)``.

    ``name``: unique block name used for PyMC variables (``sd_<name>``, ``r_<name>``); equal
    to ``group`` unless several blocks share a grouping factor (then ``g``, ``g_2``, ...).
    ``group``: grouping factor as printed (``"Subject"``, ``"a:b"``).
    ``levels``: observed level names, in order of ``codes``.
    ``codes``: int64 array (n,), the level index of each row.
    ``Z``: float64 array (n, q), the block's columns; ``terms`` their names (q,), with the
    intercept named ``"Intercept"``.
    ``kind``: the stored name of the block's covariance kind, ``"lkj"`` for a correlated
    multi-column ``|`` block, ``"diag"`` for ``||`` or a single column; :attr:`covariance`
    is the kind object (:mod:`pyglmm.design.blocks`).
    ``design_info``: patsy DesignInfo of ``Z`` (to rebuild it on new data).
    ``level_cov``: the known covariance among the levels of a ``gr(g, cov = ...)`` block
    (:mod:`pyglmm.design.levelcov`), else None.
    ``dpar``: the linear predictor the block feeds, ``""`` for the mean's, ``"sigma"`` for a
    distributional formula's (``pg.bf``). ``col_dpars``: one such name per column for a block
    whose columns feed different predictors (brms's ``|ID|`` across ``mu`` and ``sigma``,
    :mod:`pyglmm.design.ids`; ``dpar`` is then its first column's), else empty.
    ``block_id``: brms's correlation ID of the terms it was built from (``"p"`` of
    ``(1 |p| g)``), else ``""``.
    """

    name: str
    group: str
    levels: tuple[str, ...]
    codes: np.ndarray
    Z: np.ndarray
    terms: tuple[str, ...]
    kind: CovKind
    design_info: Any = field(repr=False, default=None)
    level_cov: LevelCovariance | None = field(repr=False, default=None)
    dpar: str = ""
    col_dpars: tuple[str, ...] = ()
    block_id: str = ""

    def __post_init__(self) -> None:
        block_kind(self.kind)  # DesignError for an unknown kind

    @property
    def column_dpars(self) -> tuple[str, ...]:
        """The linear predictor of each column (``""``: the mean's)."""
        return self.col_dpars or (self.dpar,) * self.q

    @property
    def spans_dpars(self) -> bool:
        """Whether the block's columns feed more than one linear predictor."""
        return len(set(self.column_dpars)) > 1

    def columns_of(self, dpar: str) -> np.ndarray:
        """Positions of the columns that enter the linear predictor of ``dpar`` (``""``: the
        mean): ``eta_dpar += sum_{j in columns_of(dpar)} Z[i, j] r[codes[i], j]``."""
        return np.flatnonzero(np.asarray(self.column_dpars, dtype=object) == dpar)

    @property
    def covariance(self) -> BlockKind:
        """The block's covariance kind (:mod:`pyglmm.design.blocks`)."""
        return block_kind(self.kind)

    @property
    def is_smooth(self) -> bool:
        """Whether the block is the penalized part of a smooth term (``s(x)``)."""
        return self.covariance.smooth

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def q(self) -> int:
        return len(self.terms)


@dataclass(frozen=True, eq=False)
class NewData:
    """Design of new data built with the training state (see :meth:`Design.transform`).

    ``codes[name]`` holds -1 for levels not seen in training; ``labels[name]`` the level name
    of each row (seen or not), so new levels can be told apart. ``trials``: binomial trials
    when the new data hold the columns of ``trials(n)`` or ``cbind(s, f)``, else None.
    """

    X: np.ndarray
    Z: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    offset: np.ndarray | None
    index: pd.Index
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    trials: np.ndarray | None = None
    dpar_X: dict[str, np.ndarray] = field(default_factory=dict)

    def x_of(self, dpar: str = "") -> np.ndarray:
        """The fixed-effect matrix of the mean (``dpar=""``) or of a distributional parameter."""
        return self.X if not dpar else self.dpar_X[dpar]


@dataclass(frozen=True, eq=False)
class DparPart:
    """The fixed part of a distributional parameter's formula (``bf(..., "sigma ~ x")``):
    ``X`` (n, p) over ``x_names`` (``"Intercept"``, ``"x"``; reported with the parameter's
    prefix, :attr:`labels`), its patsy state for new data, and the parsed formula (response:
    the parameter's name). Its blocks are in :attr:`Design.blocks` with ``dpar`` set."""

    name: str
    formula: ParsedFormula
    X: np.ndarray
    x_names: tuple[str, ...]
    x_design_info: Any = field(repr=False, default=None)
    x_order: np.ndarray | None = field(repr=False, default=None)

    @property
    def has_intercept(self) -> bool:
        return "Intercept" in self.x_names

    @property
    def labels(self) -> tuple[str, ...]:
        """brms's names of the coefficients: ``sigma_Intercept``, ``sigma_x``."""
        return tuple(f"{self.name}_{c}" for c in self.x_names)


@dataclass(frozen=True, eq=False)
class MvPart:
    """The responses of a multivariate model (:mod:`pyglmm.design.multivariate`).

    ``responses``: brms's names (``y1``), in order; ``texts``: the left sides as written;
    ``Y``: (n, R) with NaN where a response is missing (only without ``rescor``: each response's
    likelihood takes its observed rows, :meth:`observed`); ``families``: one
    :class:`~pyglmm.families.Family` per response; ``rescor``: whether the gaussian responses'
    residuals are correlated (one MvNormal per row); ``trials``: binomial trials per response
    (or None); ``n_missing``: rows kept for other responses but left out of this one's
    likelihood; ``text``: the formula as written.
    """

    responses: tuple[str, ...]
    texts: tuple[str, ...]
    Y: np.ndarray
    families: tuple[Any, ...]
    rescor: bool
    trials: tuple[np.ndarray | None, ...]
    n_missing: tuple[int, ...]
    text: str

    @property
    def shared_params(self) -> tuple[str, ...]:
        """Family parameters shared by every response: ``nu`` of student responses with
        ``rescor`` (one multivariate Student-t, brms's), else none."""
        if self.rescor and all(f.name == "student" for f in self.families):
            return ("nu",)
        return ()

    def family_params(self) -> tuple[tuple[str, int, str], ...]:
        """(name, response position, family parameter) of every scalar family parameter, in
        brms's order: ``sigma_y1``, ``sigma_y2``, ...; a shared parameter (:attr:`shared_params`)
        once, under its own name (``nu``, response position -1), after the others."""
        shared = self.shared_params
        out = [
            (f"{p}_{resp}", k, p)
            for k, resp in enumerate(self.responses)
            for p in self.families[k].params
            if p not in shared
        ]
        return (*out, *((p, -1, p) for p in shared))

    def param_var(self, k: int, param: str) -> str:
        """The posterior variable of response ``k``'s family parameter: ``sigma_y1``, or a
        shared parameter's own name (``nu``)."""
        return param if param in self.shared_params else f"{param}_{self.responses[k]}"

    def observed(self, k: int) -> np.ndarray:
        """Row positions where response ``k`` is observed."""
        return np.flatnonzero(~np.isnan(self.Y[:, k]))

    def index_of(self, resp: str) -> int:
        """The position of response ``resp`` (:class:`DesignError` naming the responses)."""
        if resp not in self.responses:
            raise DesignError(
                f"unknown response {resp!r}; the responses are {list(self.responses)}"
            )
        return self.responses.index(resp)


@dataclass(frozen=True, eq=False)
class Design:
    """All numeric inputs of a model, plus the state to rebuild them for new data.

    ``y``: response (n,); ``response``: its formula text.
    ``X``: fixed-effect matrix (n, p); ``x_names``: column names (intercept ``"Intercept"``).
    ``blocks``: one :class:`REBlock` per expanded random term.
    ``trials``: binomial trial counts (n,) or None; ``offset``: (n,) or None.
    ``index``: the rows of the input DataFrame that were used.
    ``n_dropped``: rows dropped for missing values in used columns.
    ``x_design_info``/``offset_design_info``: patsy DesignInfos used by :meth:`transform`.
    ``stored_n_obs``: the number of observations of a design whose data arrays were removed
    (a fit saved with ``data=False``, see :mod:`pyglmm.persist`); None when they are present.
    ``me``: the ``me(x, sdx)`` terms (:mod:`pyglmm.design.measurement`), or None.
    ``dpars``: the fixed parts of the distributional parameters' formulas (``pg.bf``), empty
    for a model of the mean only; their blocks are among ``blocks`` (``REBlock.dpar``).
    ``categories``: an ordinal response's categories (``y`` holds their codes 1..K; no
    ``Intercept`` column, thresholds take its place: :mod:`pyglmm.families.ordinal`), or ().
    ``categorical``: a categorical response's categories (``y`` holds their codes 1..K, the
    first the reference), whose linear predictors are ``dpars`` named ``mu<category>``, each
    with the formula's right-hand side (the main part is then empty:
    :mod:`pyglmm.design.categorical`), or ().
    ``mv``: the responses of a multivariate model (:class:`MvPart`), whose linear predictors
    are ``dpars`` named after the responses (the main part is then empty), else None.
    ``additions``: brms's addition terms that change the likelihood (``weights``, ``se``,
    ``cens``, ``trunc``; :mod:`pyglmm.design.additions`), or None; ``rate()`` is in
    ``offset``.
    ``smooths``: the smooth terms (:mod:`pyglmm.design.smooths`): their unpenalized columns
    are the last columns of ``X`` before ``x_order`` (new data: :meth:`transform` appends
    them), their penalized parts are blocks of kind ``"smooth"``.
    """

    formula: ParsedFormula
    y: np.ndarray
    response: str
    X: np.ndarray
    x_names: tuple[str, ...]
    blocks: tuple[REBlock, ...]
    index: pd.Index
    n_dropped: int = 0
    trials: np.ndarray | None = None
    offset: np.ndarray | None = None
    x_design_info: Any = field(repr=False, default=None)
    x_order: np.ndarray | None = field(repr=False, default=None)
    offset_design_info: Any = field(repr=False, default=None)
    stored_n_obs: int | None = field(repr=False, default=None)
    me: MeasurementError | None = field(repr=False, default=None)
    dpars: tuple[DparPart, ...] = ()
    categories: tuple[str, ...] = ()
    mv: MvPart | None = field(repr=False, default=None)
    additions: Additions | None = field(repr=False, default=None)
    smooths: tuple[SmoothPart, ...] = field(repr=False, default=())
    categorical: tuple[str, ...] = ()

    @property
    def fixed_params(self) -> tuple[str, ...]:
        """Family parameters the model lacks (``sigma`` under brms's ``se(s)``)."""
        return () if self.additions is None else self.additions.fixed_params

    @property
    def distributional(self) -> bool:
        """Whether a family parameter has its own formula (``pg.bf``)."""
        return bool(self.dpars)

    def dpar(self, name: str) -> DparPart:
        """The :class:`DparPart` of parameter ``name``."""
        return next(p for p in self.dpars if p.name == name)

    def x_of(self, dpar: str = "") -> np.ndarray:
        """The fixed-effect matrix of the mean (``dpar=""``) or of a distributional parameter."""
        return self.X if not dpar else self.dpar(dpar).X

    def mean_blocks(self) -> tuple[REBlock, ...]:
        """The blocks with a column in the mean's linear predictor (all, without
        distributional formulas; a block spanning ``mu`` and ``sigma`` is among them)."""
        return tuple(b for b in self.blocks if "" in b.column_dpars)

    @property
    def n_obs(self) -> int:
        return int(self.y.shape[0]) if self.stored_n_obs is None else self.stored_n_obs

    @property
    def has_data(self) -> bool:
        """False for a design without its data arrays (``stored_n_obs`` set): it transforms
        new data, but holds no fitted rows."""
        return self.stored_n_obs is None

    @property
    def has_intercept(self) -> bool:
        return "Intercept" in self.x_names

    def transform(self, data: pd.DataFrame, random: bool = True) -> NewData:
        """Build X, Z and codes for new rows with the training levels/contrasts/constants.

        The response is not needed. Unseen levels of a grouping factor get code -1; unseen
        levels of a categorical predictor and missing values raise :class:`DesignError`.
        ``random=False``: the fixed part only (no grouping or random-term columns needed;
        ``Z``, ``codes`` and ``labels`` are empty).
        """
        data = as_frame(data)
        names = rhs_variables(self.formula, random)
        for part in self.dpars:
            names += [n for n in rhs_variables(part.formula, random) if n not in names]
        check_columns(names, data)
        counts = na_counts(data, names)
        if counts:
            raise DesignError(f"missing values in new data: {format_counts(counts)}")
        frame = patsy_frame(data, names)
        check_finite_columns(frame, names, "new data")
        frame = add_placeholders(frame, self.formula.me, data)  # observed x as the true values
        X = rebuild_columns(self.x_design_info, frame, "fixed effects")
        if self.smooths:
            X = np.hstack([X, *(part.fixed(frame) for part in self.smooths)])
        if self.x_order is not None:
            X = X[:, self.x_order]
        Z: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        labels: dict[str, np.ndarray] = {}
        built: dict[int, np.ndarray] = {}  # blocks of (1 | a/b/c) share their design info
        groups: _terms.GroupCache = {}
        for block in self.blocks:
            if not random and not block.is_smooth:
                continue
            key = id(block.design_info)
            if key not in built:
                built[key] = rebuild_block_columns(
                    block.design_info, frame, f"random-effect block {block.name!r}"
                )
            Z[block.name] = built[key].copy()
            if block.is_smooth:  # one level
                codes[block.name] = np.zeros(len(frame), dtype=np.int64)
                labels[block.name] = np.full(len(frame), SMOOTH_LEVEL, dtype=object)
                continue
            group = tuple(block.group.split(":"))
            new_codes, new_names = _terms.group_codes(frame, group, groups)
            lookup = pd.Index(block.levels).get_indexer(pd.Index(new_names)).astype(np.int64)
            codes[block.name] = lookup[new_codes]
            labels[block.name] = np.asarray(new_names, dtype=object)[new_codes]
        offset = None
        if self.offset_design_info is not None:
            offset = rebuild_columns(self.offset_design_info, frame, "offset").sum(axis=1)
        if self.additions is not None and self.additions.rate_text:
            log_rate = new_log_rate(self.additions.rate_text, data)
            offset = log_rate if offset is None else offset + log_rate
        trials = new_trials(self.response, data) if self.trials is not None else None
        dpar_X = {}
        for part in self.dpars:
            xd = rebuild_columns(part.x_design_info, frame, f"fixed effects of {part.name}")
            dpar_X[part.name] = xd if part.x_order is None else xd[:, part.x_order]
        return NewData(X, Z, codes, offset, data.index, labels, trials, dpar_X)
