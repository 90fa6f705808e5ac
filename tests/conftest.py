"""Test set-up: the repository root and the audio folder are importable, as they are for the scripts."""
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
AUDIO_DIR = REPO_ROOT / "vocal_separation_sanity_check"
for path in (REPO_ROOT, AUDIO_DIR):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
