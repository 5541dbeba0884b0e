"""brms's data-scaled default priors of the Intercept and the slopes, mixed into the families
whose response scale sets them (identity link: the response itself; a positive response: its
link scale)."""

from __future__ import annotations

import numpy as np

from ..priors import r_mad


class _IdentityScaled:
    """brms's data-scaled defaults on an identity link: Intercept centered at median(y),
    scale max(2.5, mad(y)), slope scale sd(y); ``_response_scale`` maps y to the link scale."""

    link: str

    def _response_scale(self, y: np.ndarray) -> np.ndarray:
        return y

    def default_center(self, y: np.ndarray, trials: np.ndarray | None) -> float:
        return float(np.median(self._response_scale(y))) if self.link == "identity" else 0.0

    def default_scale(self, y: np.ndarray, trials: np.ndarray | None) -> float:
        return max(2.5, r_mad(self._response_scale(y))) if self.link == "identity" else 2.5

    def slope_scale(self, y: np.ndarray) -> float:
        s = float(np.std(self._response_scale(y)))
        return s if self.link == "identity" and s > 0 else 1.0


class _LogScaled:
    """brms's data-scaled Intercept prior on the link scale of a positive response
    (``def_scale_prior``): location ``median(link(y))`` and scale ``max(2.5, mad(link(y)))``,
    with ``y = 0`` replaced by 0.1 under the log link (and 1/y with the inverse link)."""

    link: str

    def _link_y(self, y: np.ndarray) -> np.ndarray:
        if self.link == "log":
            return np.log(np.where(y == 0, 0.1, y))
        if self.link == "sqrt":
            return np.sqrt(y)
        if self.link == "inverse":
            return 1.0 / np.where(y == 0, 0.1, y)
        return np.asarray(y, dtype=float)  # identity

    def default_center(self, y: np.ndarray, trials: np.ndarray | None) -> float:
        return float(np.median(self._link_y(y)))

    def default_scale(self, y: np.ndarray, trials: np.ndarray | None) -> float:
        return max(2.5, r_mad(self._link_y(y)))
