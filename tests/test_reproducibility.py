"""The same seed gives the same draws in two fresh processes, on every sampling path (#14):
the compiled-once kernel, the PyMC model through nutpie, and PyMC's own NUTS; and a Poisson
model through the GLMM kernel and through PyMC/nutpie. Each process fits all of them and
prints a digest of the posterior draws."""

from __future__ import annotations

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
    fits = {
        "kernel": gauss.fit(**kw),
        "pymc_nutpie": gauss.fit(kernel=False, **kw),
        "pymc_sampler": gauss.fit(sampler="pymc", **kw),
        "poisson": pois.fit(kernel=False, **kw),
        "poisson_kernel": pois.fit(**kw),
    }
    out = {}
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


@pytest.mark.slow
def test_the_same_seed_gives_the_same_draws_in_fresh_processes():
    digests = []
    for _ in range(2):
        res = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900
        )
        assert res.returncode == 0, res.stderr[-2000:]
        digests.append(json.loads(res.stdout.strip().splitlines()[-1]))
    assert digests[0] == digests[1]
    assert set(digests[0]) == {
        "kernel",
        "pymc_nutpie",
        "pymc_sampler",
        "poisson",
        "poisson_kernel",
    }
