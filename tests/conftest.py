"""Test set-up: pytest.ini puts the repository root on the import path, as it is for the scripts."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
AUDIO_DIR = REPO_ROOT / "vocal_separation_sanity_check"
