"""Write the small saved fits that tests/test_persist_cross_stack.py loads on every stack.

Run once per stack from the repository root, e.g.

    .venv/bin/python tests/data/make_saved_fits.py            # Python 3.11: PyMC 5 / ArviZ 0.x
    .venv-py3.12/bin/python tests/data/make_saved_fits.py     # Python 3.12: PyMC 6 / ArviZ 1.x

Each run writes ``saved_fit_py<major><minor>.nc`` (sleepstudy, 2 chains x 20 draws, data
included) and ``saved_fit_py<major><minor>.json``: the summary text, ``ranef`` and a seeded
``predict`` for new data, as the writing stack printed them, for the loading stack to match.
"""

import json
import sys
import warnings
from pathlib import Path

import pandas as pd

import pyglmm as pg
from pyglmm import stack

HERE = Path(__file__).resolve().parent
NEWDATA = pd.DataFrame({"Days": [0.0, 4.5, 9.0], "Subject": ["308", "335", "372"]})


def main() -> None:
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    sleep = pg.datasets.load("sleepstudy")
    model = pg.Model("Reaction ~ Days + (Days | Subject)", sleep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(draws=20, tune=100, chains=2, seed=5, progressbar=False)
    fit.save(HERE / f"saved_fit_{tag}.nc")
    expected = {
        "stack": stack.versions(),
        "summary": str(fit),
        "ranef": fit.ranef()["Subject"].round(10).to_dict(orient="list"),
        "predict": fit.predict(NEWDATA, kind="response", seed=3, summary=False).round(10).tolist(),
    }
    (HERE / f"saved_fit_{tag}.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote saved_fit_{tag}.nc/.json with {stack.describe_stack()}")


if __name__ == "__main__":
    main()
