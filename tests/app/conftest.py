"""Browser-test setup: Debian's headless Chromium + chromedriver, and one small workspace per
session (the demo city, small) shared by every app test."""

from __future__ import annotations

import shutil

import pytest
from selenium.webdriver.chrome.options import Options

CHROMIUM = "/usr/bin/chromium"


class _Options(Options):
    """ChromeOptions that keep the performance log when dash[testing] sets its own
    ``goog:loggingPrefs`` (browser: SEVERE) — the offline test reads every request from it."""

    def set_capability(self, name, value):
        if name == "goog:loggingPrefs":
            value = {**value, "performance": "ALL"}
        super().set_capability(name, value)


def pytest_setup_options():
    options = _Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--disable-sync", "--disable-extensions", "--disable-default-apps",
                "--window-size=1440,1000", "--lang=zh-CN", "--enable-unsafe-swiftshader"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM if shutil.which(CHROMIUM) else (shutil.which("chromium") or "")
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    return options


@pytest.fixture(scope="session")
def app_workspace(tmp_path_factory):
    """A small demo city (seeded), built once per test session."""
    from data.demo import build_demo
    from data.workspace import Workspace

    path = tmp_path_factory.mktemp("app") / "workspace"
    build_demo(str(path), seed=7, incidents=20_000, years=2)
    return Workspace(path)


@pytest.fixture(scope="session")
def app_factory(app_workspace):
    """``create_app`` for the session workspace (a new Dash app per browser test)."""
    from app import create_app

    return lambda: create_app(app_workspace)
