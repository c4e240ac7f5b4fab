"""整治 evaluation in words and small tables: the sentences and numbers the app's 整治评估 page
and ``pingan intervention`` show for one result of
:func:`analytics.service.intervention.evaluate_intervention` (every string from the i18n table).

Examples
--------
>>> r = {"did": {"rate_ratio": 0.68, "ci_low": 0.56, "ci_high": 0.82, "p": 0.001,
...              "n_treated_areas": 12}, "permutation": {"p": 0.01, "n": 99}}
>>> effect_sentence(r)
'整治后发案较对照区下降 32%（95% 区间 18%–44%），置换检验 P=0.01'
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from analytics.present.i18n import DEFAULT_LANG, label, t

__all__ = ["effect_sentence", "displacement_sentence", "zone_table", "estimate_table", "estimate_row",
           "write_intervention", "format_p", "FEW_TARGETS"]

#: Below this many target areas the clustered interval is flagged as possibly too narrow (a
#: sandwich estimate with one or two treated clusters understates the effect's noise).
FEW_TARGETS = 5


def format_p(p: float) -> str:
    """``=0.01``, ``=0.35``, ``<0.001`` (two significant digits)."""
    if p is None or not math.isfinite(p):
        return "=—"
    return "<0.001" if p < 0.001 else f"={p:.2g}"


def effect_sentence(result: dict, lang: str = DEFAULT_LANG) -> str:
    """「整治后发案较对照区下降 32%（95% 区间 18%–44%），置换检验 P=0.01」.

    The P is the placebo (permutation) one when the result has it, else the clustered one; a
    note follows when it exceeds 0.05 and when there are fewer than :data:`FEW_TARGETS`
    target areas.
    """
    did = result["did"]
    rr, lo, hi = float(did["rate_ratio"]), float(did["ci_low"]), float(did["ci_high"])
    perm = result.get("permutation")
    p = float(perm["p"]) if perm else float(did["p"])
    down = rr < 1
    pct = _pct(1 - rr if down else rr - 1)
    if lo < 1 < hi:  # the interval holds both a rise and a fall
        ci = t("iv.ci_cross", lang, up=_pct(hi - 1), down=_pct(1 - lo))
    elif down:
        ci = f"{_pct(1 - hi)}–{_pct(1 - lo)}"
    else:
        ci = f"{_pct(lo - 1)}–{_pct(hi - 1)}"
    text = t("iv.effect_down" if down else "iv.effect_up", lang, pct=pct, ci=ci, p=format_p(p))
    if not p <= 0.05:
        text += t("iv.not_significant", lang)
    n = int(did.get("n_treated_areas", FEW_TARGETS))
    if n < FEW_TARGETS:
        text += t("iv.few_targets", lang, n=n)
    return text


def displacement_sentence(result: dict, lang: str = DEFAULT_LANG) -> str:
    """What the weighted displacement quotient says, in one sentence."""
    wdq = result["wdq"]
    buffer = f"{float(result['intervention'].get('buffer_m', 0)):g}"
    value = wdq.get("wdq", float("nan"))
    shown = f"{value:.2f}".replace("-", "−") if value is not None and math.isfinite(value) else "—"
    return t(f"iv.wdq.{wdq['reading']}", lang, wdq=shown, buffer=buffer)


def zone_table(result: dict, lang: str = DEFAULT_LANG) -> pd.DataFrame:
    """Incidents before and after in the target, buffer and control zones, with the change."""
    c = result["counts"]
    rows = []
    for key, zone in (("a", "iv.treated"), ("b", "iv.buffer_zone"), ("c", "iv.control")):
        before, after = c[f"{key}_before"], c[f"{key}_after"]
        change = (after - before) / before if before else float("nan")
        rows.append({t("iv.zone", lang): t(zone, lang), t("iv.before", lang): before,
                     t("iv.after", lang): after,
                     t("iv.change", lang): f"{change:+.0%}" if math.isfinite(change) else "—"})
    return pd.DataFrame(rows)


def estimate_table(result: dict, lang: str = DEFAULT_LANG) -> pd.DataFrame:
    """The estimate's numbers as (quantity, value) rows, formatted for display."""
    did, iv, perm = result["did"], result["intervention"], result.get("permutation")
    rows = [
        (t("iv.rate_ratio", lang), f"{did['rate_ratio']:.3f}"),
        (t("iv.ci", lang), f"{did['ci_low']:.3f} – {did['ci_high']:.3f}"),
        (t("iv.cov", lang), t(f"iv.cov.{did.get('cov', 'cluster')}", lang)),
        (t("iv.p_cluster", lang), format_p(did["p"]).lstrip("=")),
    ]
    if perm:
        rows.append((t("iv.p_perm", lang, n=perm["n"]), format_p(perm["p"]).lstrip("=")))
    wdq = result["wdq"].get("wdq", float("nan"))
    rows += [
        (t("iv.wdq", lang), f"{wdq:.3f}" if wdq is not None and math.isfinite(wdq) else "—"),
        (t("iv.weeks", lang), f"{result['weeks_before']} / {result['weeks_after']}"),
        (t("iv.areas", lang), f"{iv['n_target_areas']} / {iv.get('n_control_areas', did['n_control_areas'])}"),
        (t("iv.window", lang), f"{pd.Timestamp(iv['start']):%Y-%m-%d} – {pd.Timestamp(iv['end']):%Y-%m-%d}"),
        (t("ctl.category", lang), label(iv["category"], lang)),
    ]
    return pd.DataFrame(rows, columns=[t("iv.quantity", lang), t("iv.value", lang)])


def estimate_row(result: dict) -> pd.DataFrame:
    """The whole estimate as one machine-readable row (English column names)."""
    iv, did, perm = result["intervention"], result["did"], result.get("permutation") or {}
    row = {
        "area_ids": " ".join(iv["area_ids"]), "layer": iv["layer"], "category": iv["category"],
        "start": pd.Timestamp(iv["start"]).date().isoformat(), "end": pd.Timestamp(iv["end"]).date().isoformat(),
        "weeks_before": result["weeks_before"], "weeks_after": result["weeks_after"],
        "buffer_m": iv["buffer_m"], "n_target_areas": iv["n_target_areas"],
        "n_control_areas": iv.get("n_control_areas", did["n_control_areas"]), "control": iv.get("control", ""),
        "rate_ratio": did["rate_ratio"], "ci_low": did["ci_low"], "ci_high": did["ci_high"],
        "p_cluster": did["p"], "se": did["se"], "se_model": did["se_model"], "cov": did["cov"],
        "p_permutation": perm.get("p", float("nan")), "n_permutations": perm.get("n", 0),
        "wdq": result["wdq"]["wdq"], "wdq_reading": result["wdq"]["reading"],
        "success_measure": result["wdq"]["success_measure"], "buffer_measure": result["wdq"]["buffer_measure"],
        **result["counts"],
    }
    return pd.DataFrame([row])


def write_intervention(result: dict, out: str | Path) -> list[Path]:
    """Write a result: ``.json`` everything in one file; a table format (``.csv``, ``.xlsx``,
    ``.parquet``) the weekly series to ``out`` and the estimate row to ``<out>_estimate<ext>``."""
    from data.io import write_table

    out = Path(out)
    if out.suffix.lower() == ".json":
        doc = {**{k: v for k, v in result.items() if k != "series"},
               "estimate": estimate_row(result).iloc[0].to_dict(),
               "series": result["series"].assign(period=result["series"]["period"].dt.strftime("%Y-%m-%d"))
               .to_dict("records")}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=_jsonable), encoding="utf-8")
        return [out]
    series = write_table(result["series"], out)
    estimate = write_table(estimate_row(result), out.with_name(f"{out.stem}_estimate{out.suffix}"))
    return [series, estimate]


def _jsonable(value):
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def _pct(x: float) -> str:
    return f"{abs(x) * 100:.0f}%"
