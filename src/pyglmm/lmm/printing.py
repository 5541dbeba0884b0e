"""R's formatting rules used by lme4's printouts, for the summaries of point fits.

* :func:`r_format`: R's ``format(x, digits)`` of a numeric vector. Each value needs the
  fewest significant digits (at most ``digits``) that show it to ``digits`` significant
  digits; the vector shares the largest number of decimals so needed, and fixed notation is
  used unless it is wider than scientific notation with the largest number of significant
  digits needed (``scipen = 0``). Values come back padded to a common width.
* :func:`coefmat_lines`: ``printCoefmat`` as lme4's summary calls it (``digits = 4``):
  estimates and standard errors are rounded together to ``max(1, digits - d_min)`` decimals,
  ``d_min = 1 + floor(log10(min |x|))``, then formatted together; the test statistic is
  rounded to ``dig.tst = max(1, min(5, digits - 1))`` decimals and formatted; a nonzero value
  shown as 0 is re-formatted with ``digits - 1``; p values use ``format.pval`` and stars.
* :func:`abbreviate`: R's ``abbreviate`` (``use.classes = TRUE``): drop, from the right and
  keeping each word's first character, lower-case vowels ending a word, then any lower-case
  vowels, then lower-case letters ending a word, then any lower-case letters, then anything,
  until ``minlength`` is reached; names that collide are abbreviated again, longer.
* :func:`fixef_correlation_lines`: lme4's ``Correlation of Fixed Effects:`` block (lower
  triangle, ``round(, 3)`` with 3 decimals, rows abbreviated to 11 and columns to 6
  characters).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np

EPS = float(np.finfo(float).eps)


def _sig(x: float, digits: int) -> tuple[int, int]:
    """``(nsig, exponent)`` of ``|x|`` shown to ``digits`` significant digits."""
    if x == 0:
        return 1, 0
    mant, exp = f"{abs(x):.{digits - 1}e}".split("e")
    nsig = len(mant.replace(".", "").rstrip("0")) or 1
    return nsig, int(exp)


def r_format(
    values: Sequence[float] | np.ndarray, digits: int = 7, nsmall: int = 0, na: str = "NA"
) -> list[str]:
    """R's ``format(values, digits = digits, nsmall = nsmall)`` (see the module docstring)."""
    v = np.asarray(values, dtype=float).ravel()
    fin = v[np.isfinite(v)]
    if fin.size == 0:
        return _pad([na if np.isnan(x) else ("Inf" if x > 0 else "-Inf") for x in v])
    sigs = [_sig(float(x), digits) for x in fin]
    neg_any = bool(np.any(fin < 0))
    mxsl = max(int(x < 0) + (e + 1 if e >= 0 else 1) for x, (_, e) in zip(fin, sigs, strict=True))
    rgt = max(max(0, n - e - 1) for n, e in sigs)
    mxns = max(n for n, _ in sigs)
    mxe, mne = max(e for _, e in sigs), min(e for _, e in sigs)
    e_digits = 2 if (mxe >= 100 or mne <= -100) else 1
    d_sci = mxns - 1
    w_sci = int(neg_any) + (d_sci > 0) + d_sci + 4 + e_digits
    w_fix = mxsl + rgt + (rgt != 0)
    if w_fix <= w_sci:
        dec = max(rgt, nsmall)
        out = [_fixed(x, dec, na) for x in v]
    else:
        out = [f"{x:.{d_sci}e}" if np.isfinite(x) else _fixed(x, 0, na) for x in v]
    return _pad(out)


def zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """R's ``zapsmall``: ``round(x, digits - log10(max |x|))`` (R rounds the number of digits
    to the nearest integer)."""
    x = np.asarray(x, dtype=float)
    fin = np.abs(x[np.isfinite(x)])
    mx = float(fin.max()) if fin.size else 0.0
    d = max(0.0, digits - np.log10(mx)) if mx > 0 else float(digits)
    return np.round(x, int(np.floor(d + 0.5)))


def _fixed(x: float, dec: int, na: str) -> str:
    if np.isnan(x):
        return na
    if not np.isfinite(x):
        return "Inf" if x > 0 else "-Inf"
    s = f"{x:.{dec}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def _pad(cells: list[str]) -> list[str]:
    w = max((len(c) for c in cells), default=0)
    return [c.rjust(w) for c in cells]


def format_pval(pv: Sequence[float] | np.ndarray, digits: int) -> list[str]:
    """R's ``format.pval(pv, digits)``: values below machine epsilon print as ``< 2.2e-16``."""
    p = np.asarray(pv, dtype=float)
    out = ["NA"] * len(p)
    ok = ~np.isnan(p)
    small = ok & (p < EPS)
    rest = ok & ~small
    if rest.any():
        vals = p[rest]
        expo = np.floor(np.log10(np.where(vals > 0, vals, 1e-50)))
        fixp = (expo >= -3) | ((expo == -4) & (digits > 1)) | (vals == 0)  # R >= 4.1
        cells = np.empty(len(vals), dtype=object)
        if fixp.any():
            cells[fixp] = r_format(vals[fixp], digits)
        if (~fixp).any():
            cells[~fixp] = r_format(vals[~fixp], digits)
        for i, c in zip(np.flatnonzero(rest), cells, strict=True):
            out[i] = str(c)
    if small.any():
        d = max(1, digits - 2)
        sep = " "
        if rest.any():
            nc = max(len(out[i]) for i in np.flatnonzero(rest))
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if (d == 1 and nc <= 6) else " "
        elif d == 1:
            sep = ""
        text = "<" + sep + r_format([EPS], d)[0]
        for i in np.flatnonzero(small):
            out[i] = text
    return out


def signif_stars(pv: Sequence[float] | np.ndarray) -> list[str]:
    """R's significance codes: ``***`` < 0.001 < ``**`` < 0.01 < ``*`` < 0.05 < ``.`` < 0.1."""
    out = []
    for p in np.asarray(pv, dtype=float):
        if np.isnan(p):
            out.append("")
        else:
            out.append(
                next(
                    s
                    for c, s in (
                        (0.001, "***"),
                        (0.01, "**"),
                        (0.05, "*"),
                        (0.1, "."),
                        (np.inf, " "),
                    )
                    if p <= c
                )
            )
    w = max(len(s) for s in out) if out else 0
    return [s.ljust(w) for s in out]


SIGNIF_LEGEND = (
    "Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 "
    "\u2018.\u2019 0.1 \u2018 \u2019 1"
)


def matrix_lines(
    rownames: Sequence[str],
    colnames: Sequence[str],
    cells: Sequence[Sequence[str]],
    right: bool = True,
) -> list[str]:
    """R's ``print`` of a character matrix (``quote = FALSE``): row names left-justified,
    each column one space apart, right- (or left-) justified with its header."""
    rw = max((len(r) for r in rownames), default=0)
    widths = [max([len(c)] + [len(row[j]) for row in cells]) for j, c in enumerate(colnames)]

    def just(s: str, w: int) -> str:
        return s.rjust(w) if right else s.ljust(w)

    lines = [" " * rw + "".join(" " + just(c, w) for c, w in zip(colnames, widths, strict=True))]
    for r, row in zip(rownames, cells, strict=True):
        lines.append(
            r.ljust(rw) + "".join(" " + just(c, w) for c, w in zip(row, widths, strict=True))
        )
    return lines


def coefmat_lines(
    rownames: Sequence[str],
    colnames: Sequence[str],
    values: np.ndarray,
    digits: int = 4,
    signif_legend: bool = True,
) -> list[str]:
    """``printCoefmat(x, digits)`` for ``values`` (rows x columns): estimate and standard error,
    a test statistic, and a p value when the last column's name starts with ``Pr(``."""
    x = np.asarray(values, dtype=float)
    nr, nc = x.shape
    has_p = nc >= 4 and str(colnames[-1]).startswith(("Pr(", "p-v"))
    k = nc - int(has_p) - 1
    cells = np.full((nr, nc), "", dtype=object)
    cs = x[:, :k]
    acs = np.abs(cs[np.isfinite(cs) & (cs != 0)])
    if np.isfinite(cs).any():
        digmin = 1 + (np.floor(np.log10([acs.min(), acs.max()])) if acs.size else np.zeros(2))
        dec = int(max(1, *(digits - digmin)))
        cells[:, :k] = np.array(r_format(np.round(cs, dec).ravel(), digits)).reshape(nr, k)
    dig_tst = max(1, min(5, digits - 1))
    cells[:, k] = r_format(np.round(x[:, k], dig_tst), digits)
    # nonzero values shown as 0: format them again with one digit fewer
    zero_shown = [
        (i, j)
        for i in range(nr)
        for j in range(k)
        if np.isfinite(x[i, j]) and x[i, j] != 0 and float(cells[i, j]) == 0
    ]
    if zero_shown:
        redo = r_format([x[i, j] for i, j in zero_shown], max(1, digits - 1))
        for (i, j), s in zip(zero_shown, redo, strict=True):
            cells[i, j] = s
    cols = list(colnames)
    rows = [list(map(str, r)) for r in cells]
    stars: list[str] = []
    if has_p:
        pv = x[:, -1]
        for i, s in enumerate(format_pval(pv, dig_tst)):
            rows[i][-1] = s
        if np.nanmin(pv) < 0.1:
            stars = signif_stars(pv)
            cols.append("")
            for i, s in enumerate(stars):
                rows[i].append(s)
    lines = matrix_lines(list(rownames), cols, rows, right=True)
    if stars and signif_legend:
        lines += ["---", SIGNIF_LEGEND]
    return lines


# ----- abbreviate ---------------------------------------------------------------------
def _strip(name: str, minlength: int) -> str:
    s = list(name.strip())
    if len(s) < minlength:
        return "".join(s)

    def done() -> bool:
        return len(s) - sum(c.isspace() for c in s) <= minlength

    def first(i: int) -> bool:  # first character of a word
        return s[i - 1].isspace()

    def last(i: int) -> bool:  # last character of a word
        return not s[i - 1].isspace() and (i + 1 >= len(s) or s[i + 1].isspace())

    rules = (
        lambda c, i: c in "aeiou" and last(i),
        lambda c, i: c in "aeiou" and not first(i),
        lambda c, i: c.islower() and last(i),
        lambda c, i: c.islower() and not first(i),
        lambda c, i: not first(i) and not c.isspace(),
    )
    if not done():
        for rule in rules:
            for i in range(len(s) - 1, 0, -1):
                if i < len(s) and rule(s[i], i):
                    del s[i]
                if done():
                    break
            if done():
                break
    if len(s) > minlength:
        s = [c for i, c in enumerate(s) if i == 0 or not c.isspace()]
    return "".join(s)


def abbreviate(names: Sequence[str], minlength: int = 4) -> list[str]:
    """R's ``abbreviate(names, minlength)`` (see the module docstring); duplicates of the
    abbreviations are abbreviated again with a larger ``minlength`` until unique."""
    names = [str(n).strip() for n in names]
    uniq = list(dict.fromkeys(names))
    out = [_strip(n, minlength) for n in uniq]
    m = minlength
    while True:
        seen: dict[str, int] = {}
        dup = [False] * len(out)
        for i, a in enumerate(out):
            if a in seen:
                dup[i] = True
            seen.setdefault(a, i)
        if not any(dup):
            break
        m += 1
        clash = {out[i] for i in range(len(out)) if dup[i]}
        out = [_strip(uniq[i], m) if out[i] in clash else out[i] for i in range(len(out))]
        if m > max(len(n) for n in uniq):
            break
    table = dict(zip(uniq, out, strict=True))
    return [table[n] for n in names]


def fixef_correlation_lines(cor: np.ndarray, names: Sequence[str]) -> list[str]:
    """lme4's ``Correlation of Fixed Effects:`` block for a correlation matrix (p > 1)."""
    p = len(names)
    if p < 2:
        return []
    cells = np.array(r_format(np.round(np.asarray(cor, dtype=float), 3).ravel(), nsmall=3))
    cells = cells.reshape(p, p)
    rows = abbreviate(names, 11)
    cols = abbreviate(names, 6)
    body = [[cells[i, j] if i > j else "" for j in range(p - 1)] for i in range(1, p)]
    return ["Correlation of Fixed Effects:", *matrix_lines(rows[1:], cols[:-1], body, right=False)]


def method_title_lines(title: str, cls: str, width: int = 80) -> list[str]:
    """lme4's ``.prt.methTit``: ``title ['cls']`` on one line when it fits R's console
    ``width``, else the title wrapped (``strwrap(width - 2, exdent = 2)``) and `` [cls]``
    after its last line."""
    if len(title) + 5 + len(cls) <= width:
        return [f"{title} ['{cls}']"]
    lines = textwrap.wrap(
        title, width - 3, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False
    )
    lines[-1] += f" [{cls}]"
    return lines


def data_line(name: str | None) -> list[str]:
    """lme4's ``   Data: <name>`` line (nothing when the data set's name is unknown)."""
    return [f"   Data: {name}"] if name else []


# ----- the other blocks of lme4's summary ---------------------------------------------
def named_vector_lines(names: Sequence[str], cells: Sequence[str]) -> list[str]:
    """R's ``print`` of a named character vector (``quote = FALSE``) on one row: every field
    right-justified to the widest name or value, each followed by a space."""
    w = max(max(len(n) for n in names), max(len(c) for c in cells))
    return ["".join(n.rjust(w) + " " for n in names), "".join(c.rjust(w) + " " for c in cells)]


def criterion_lines(
    reml_criterion: float | None,
    aic: float = np.nan,
    bic: float = np.nan,
    loglik: float = np.nan,
    deviance: float = np.nan,
    df_resid: int = 0,
) -> list[str]:
    """lme4's ``.prt.aictab``: ``REML criterion at convergence: x`` (REML fits) or the
    ``AIC BIC logLik deviance df.resid`` row, rounded to 1 decimal and formatted together."""
    if reml_criterion is not None:
        return [f"REML criterion at convergence: {r_format([round(reml_criterion, 1)])[0]}"]
    vals = [round(v, 1) for v in (aic, bic, loglik, deviance, float(df_resid))]
    cells = [c.strip() for c in r_format(vals)]
    cells[-1] = r_format([vals[-1]])[0].strip()
    return named_vector_lines(["AIC", "BIC", "logLik", "deviance", "df.resid"], cells)


def residual_lines(
    resid: np.ndarray, digits: int = 4, title: str = "Scaled residuals:"
) -> list[str]:
    """lme4's ``.prt.resids``: quantiles (R's type 7) of the scaled residuals, ``zapsmall``-ed
    to ``digits + 1`` and printed with ``digits``."""
    q = zapsmall(np.quantile(np.asarray(resid, dtype=float), [0, 0.25, 0.5, 0.75, 1]), digits + 1)
    cells = [c.strip() for c in r_format(q, digits)]
    return [f"{title} ", *named_vector_lines(["Min", "1Q", "Median", "3Q", "Max"], cells)]


def varcorr_lines(
    groups: Sequence[tuple[str, Sequence[str], np.ndarray, np.ndarray | None]],
    residual: float | None = None,
    digits: int = 4,
) -> list[str]:
    """lme4's ``Random effects:`` table (``formatVC``, ``comp = c("Variance", "Std.Dev.")``).

    ``groups``: per block in lme4's order ``(group, term names, SDs, correlation matrix or
    None)``; ``residual``: the residual SD (None for families without a scale). Variances and
    SDs are each formatted together with ``digits``; correlations ``round(, 2)`` with two
    decimals, lower triangle; all columns left-justified."""
    rows: list[list[str]] = []
    sds: list[float] = []
    for group, names, sd, _ in groups:
        for i, name in enumerate(names):
            rows.append([group if i == 0 else "", name])
            sds.append(float(sd[i]))
    if residual is not None:
        rows.append(["Residual", ""])
        sds.append(float(residual))
    var_s = r_format(np.square(sds), digits)  # padded to a common width, as format() does
    sd_s = r_format(sds, digits)
    for r, v, s in zip(rows, var_s, sd_s, strict=True):
        r += [v, s]
    cols = ["Groups", "Name", "Variance", "Std.Dev."]
    maxlen = max(len(names) for _, names, _, _ in groups) if groups else 0
    if maxlen > 1:
        corr: list[list[str]] = []
        for _, names, _, cor in groups:
            q = len(names)
            if cor is None or q == 1:
                corr += [[""] * (maxlen - 1) for _ in range(q)]
                continue
            cc = np.array(r_format(np.round(np.asarray(cor, dtype=float), 2).ravel(), nsmall=2))
            cc = cc.reshape(q, q)
            for i in range(q):
                corr.append([cc[i, j] if j < i else "" for j in range(maxlen - 1)])
        corr += [[""] * (maxlen - 1) for _ in range(len(rows) - len(corr))]
        for r, c in zip(rows, corr, strict=True):
            r += c
        cols += ["Corr"] + [""] * (maxlen - 2)
    return ["Random effects:", *matrix_lines([""] * len(rows), cols, rows, right=False)]
