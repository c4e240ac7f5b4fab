"""The command line's newer flags: hot spots at chosen hours and weekdays, and warn's EB line."""

from __future__ import annotations

import pandas as pd

from analytics.service.hotspots import run_hotspots
from app import main


def test_hotspots_at_chosen_hours_and_weekdays(app_workspace, tmp_path, capsys):
    out = tmp_path / "night.csv"
    args = ["hotspots", "--workspace", str(app_workspace.path), "--method", "gistar", "--layer", "grid",
            "--permutations", "0", "--hours", "18-23", "--weekdays", "4,5,6", "--out", str(out)]
    assert main(args) == 0
    cli = pd.read_csv(out).set_index("area_id")["value"].sort_index()
    ref = run_hotspots(app_workspace, "gistar", layer="grid", permutations=0, hours=[18, 23], weekdays=[4, 5, 6])
    assert cli.tolist() == ref.set_index("area_id")["value"].sort_index().tolist()
    every = run_hotspots(app_workspace, "gistar", layer="grid", permutations=0)
    assert cli.sum() < every["value"].sum()  # the filter really cut the incidents
    capsys.readouterr()
    assert main([*args[:-6], "--hours", "evening", "--out", str(out)]) == 2
    assert "--hours 'evening'" in capsys.readouterr().err


def test_warn_says_how_much_an_areas_own_data_counts(app_workspace, tmp_path, capsys):
    # --model eb: the default follows the workspace's stored evaluation, which other tests of
    # the shared workspace may have run (then another model can win and there is no κ)
    assert main(["warn", "--workspace", str(app_workspace.path), "--level", "grid", "--model", "eb",
                 "--out", str(tmp_path / "w.csv")]) == 0
    out = capsys.readouterr().out
    assert "empirical Bayes: κ =" in out and "median weight of an area's own data" in out
    assert "预测模型：经验贝叶斯（伽马-泊松）" in out  # which model made the expectations
    assert main(["warn", "--workspace", str(app_workspace.path), "--level", "grid", "--model", "eb",
                 "--lang", "en", "--out", str(tmp_path / "w.csv")]) == 0
    assert "Forecast model: empirical Bayes" in capsys.readouterr().out
