"""Test set-up: pytest.ini puts the repository root on the import path, as it is for the scripts."""
import signal
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
AUDIO_DIR = REPO_ROOT / "vocal_separation_sanity_check"


def start_interruptible(command: list[str], **popen_args) -> subprocess.Popen:
    """Start a script that a test will stop with SIGINT, as Ctrl-C does in a terminal.

    A shell that starts jobs in the background (`cmd &`, nohup, a CI runner) makes them ignore SIGINT, and the
    child would inherit that (Python then installs no KeyboardInterrupt handler): give it the default
    disposition, as a terminal's foreground job has. stderr is a text pipe, read line by line by the test.
    """
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **popen_args)
