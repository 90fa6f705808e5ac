"""--wandb: off by default, offline without an API key, never blocks training."""
import sys

import pytest

from utils.wandb_logging import init_wandb


def test_disabled_returns_none():
    assert init_wandb(False, "unet-test", {"epochs": 1}) is None


def test_no_api_key_logs_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc with a key
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tmp_path)
    run = init_wandb(True, "unet-test", {"epochs": 1})
    assert run is not None
    try:
        assert run.settings.mode == "offline"
        run.log({"loss": 0.5})
    finally:
        run.finish()
    assert list((tmp_path / "wandb").glob("offline-run-*")), "an offline run folder is written"


def test_missing_wandb_package_is_not_an_error(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "wandb", None)  # makes `import wandb` raise ImportError
    assert init_wandb(True, "unet-test", {}) is None
    assert "wandb is not installed" in caplog.text
