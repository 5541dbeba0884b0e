"""The summary statistics of one parameter's draws and the limits the warnings use.

:func:`describe` gives brms's columns from chains x draws: ``Estimate`` (posterior mean),
``Est.Error`` (posterior SD), the equal-tailed 2.5%/97.5% quantiles, ``Rhat`` (rank-normalized
split R-hat) and ``Bulk_ESS``/``Tail_ESS`` (Vehtari et al. 2021; through :mod:`pyglmm.stack`, so
on either ArviZ). :data:`RHAT_LIMIT` and :data:`ESS_PER_CHAIN` are the thresholds of
:meth:`pyglmm.Fit.check`; :func:`rank_bins` and :func:`uniform_pvalue` are the SBC rank
histogram and its chi-square test.
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


ESS_PER_CHAIN = 100  # Stan's and brms's rule: bulk and tail ESS of at least 100 per chain


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


def uniform_pvalue(ranks: np.ndarray, n_ranks: int) -> float:
    """Chi-square test that ranks (0..L) are uniform, over :func:`rank_bins` bins."""
    n = ranks.size
    bins = rank_bins(n, n_ranks)
    bins = min(bins, max(1, n // 5))  # at least ~5 expected per bin for the chi-square
    if n < 10 or bins < 2:
        return float("nan")
    counts = np.histogram(ranks, bins=bins, range=(0, n_ranks + 1))[0]
    return float(stats.chisquare(counts).pvalue)
