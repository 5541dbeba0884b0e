"""The same seed gives the same draws in two fresh processes, on every sampling path (#14):
the compiled-once kernel, the PyMC model through nutpie, PyMC's own NUTS, a Poisson model
(through the GLMM kernel and through PyMC/nutpie), and the JAX samplers (numpyro,
blackjax). Each process fits them and prints a digest of the posterior draws."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import hashlib, json, warnings
    import numpy as np
    import pyglmm as pg

    warnings.simplefilter("ignore")
    sleep = pg.datasets.load("sleepstudy")
    kw = dict(draws=100, tune=100, chains=2, seed=7, progressbar=False, warn=False)
    gauss = pg.Model("Reaction ~ Days + (Days | Subject)", sleep)
    counts = sleep.assign(n=np.round(sleep["Reaction"] / 10).astype(int))
    pois = pg.Model("n ~ Days + (1 | Subject)", counts, family="poisson")
    fits = {{{fits}}}
    out = {{}}
    for name, fit in fits.items():
        post = fit.posterior
        h = hashlib.sha256()
        for var in sorted(post.data_vars):
            h.update(var.encode())
            h.update(np.ascontiguousarray(post[var].values).tobytes())
        out[name] = h.hexdigest()
    print(json.dumps(out))
    """
)

PATHS = {
    "kernel": "gauss.fit(**kw)",
    "pymc_nutpie": "gauss.fit(kernel=False, **kw)",
    "pymc_sampler": 'gauss.fit(sampler="pymc", **kw)',
    "poisson": "pois.fit(kernel=False, **kw)",
    "poisson_kernel": "pois.fit(**kw)",
}

# JAX: a chain per host device (chain_method "parallel", two cores) as the default picks it
JAX_PATHS = {
    "numpyro": 'gauss.fit(sampler="numpyro", **kw)',
    "blackjax": 'gauss.fit(sampler="blackjax", **kw)',
}


def _digests_in_two_processes(paths: dict[str, str]) -> list[dict[str, str]]:
    fits = ", ".join(f"{name!r}: {call}" for name, call in paths.items())
    script = SCRIPT.format(fits=fits)
    digests = []
    for _ in range(2):
        res = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=900
        )
        assert res.returncode == 0, res.stderr[-2000:]
        digests.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return digests


@pytest.mark.slow
def test_the_same_seed_gives_the_same_draws_in_fresh_processes():
    first, second = _digests_in_two_processes(PATHS)
    assert first == second
    assert set(first) == set(PATHS)


@pytest.mark.slow
def test_the_jax_samplers_give_the_same_draws_in_fresh_processes():
    for module in ("jax", "numpyro", "blackjax"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (extra pyglmm[jax])")
    first, second = _digests_in_two_processes(JAX_PATHS)
    assert first == second
    assert set(first) == set(JAX_PATHS)
