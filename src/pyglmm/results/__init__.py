"""Stage 5, results: what a sampled model reports.

``diagnostics``: the summary statistics of one parameter's draws and the limits the warnings
use; ``params``: the one enumeration of a model's scalar parameters, with a stable key and the
brms label; ``fit``: :class:`~pyglmm.Fit`; ``predict``: predictions and new-level effects.
"""
