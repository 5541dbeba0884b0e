"""Stage 5: the fitted model, its brms-style tables and its sampling diagnostics.

All tables are computed from ``fit.idata.posterior`` (chains x draws): ``Estimate`` is the
posterior mean, ``Est.Error`` the posterior SD, the interval the equal-tailed 2.5%/97.5%
quantiles; ``Rhat`` is the rank-normalized split R-hat and ``Bulk_ESS``/``Tail_ESS`` the
effective sample sizes of Vehtari et al. (2021), all from ArviZ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from .. import stack
from ..errors import SamplingWarning as SamplingWarning  # issued by Fit.check

if TYPE_CHECKING:
    pass


STAT_COLUMNS = ["Estimate", "Est.Error", "Q2.5", "Q97.5"]


SUMMARY_COLUMNS = ["Estimate", "Est.Error", "l-95% CI", "u-95% CI", "Rhat", "Bulk_ESS", "Tail_ESS"]


RHAT_LIMIT = 1.01


ESS_LIMIT = 400


def describe(draws: np.ndarray) -> dict[str, float]:
    """Mean, SD, 95% equal-tailed interval, R-hat, bulk and tail ESS of chains x draws."""
    flat = draws.reshape(-1)
    q_lo, q_hi = np.quantile(flat, [0.025, 0.975])
    if np.ptp(flat) == 0:
        rhat, bulk, tail = np.nan, np.nan, np.nan
    else:
        rhat = stack.rhat(draws)
        bulk = stack.ess_bulk(draws)
        tail = stack.ess_tail(draws)
    return {
        "Estimate": float(flat.mean()),
        "Est.Error": float(flat.std(ddof=1)),
        "Q2.5": float(q_lo),
        "Q97.5": float(q_hi),
        "Rhat": rhat,
        "Bulk_ESS": bulk,
        "Tail_ESS": tail,
    }


def rank_bins(n_sims: int, n_ranks: int) -> int:
    """Histogram bins for SBC ranks: about 5 simulations per bin, between 5 and 20 bins, at
    most the L + 1 possible ranks."""
    return int(max(1, min(20, max(5, n_sims // 5), n_ranks + 1)))


def _uniform_pvalue(ranks: np.ndarray, n_ranks: int) -> float:
    """Chi-square test that ranks (0..L) are uniform, over :func:`rank_bins` bins."""
    n = ranks.size
    bins = rank_bins(n, n_ranks)
    bins = min(bins, max(1, n // 5))  # at least ~5 expected per bin for the chi-square
    if n < 10 or bins < 2:
        return float("nan")
    counts = np.histogram(ranks, bins=bins, range=(0, n_ranks + 1))[0]
    return float(stats.chisquare(counts).pvalue)
