"""Lets the scripts in this folder import the repository's `unet` and `utils` when run as
`python3 vocal_separation_sanity_check/<script>.py` or from inside the folder."""
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
