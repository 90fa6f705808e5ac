"""run_cli: one-line errors, and Ctrl-C that stops a program even when Python drops its KeyboardInterrupt."""
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_script(source: str) -> subprocess.CompletedProcess:
    """Run a script with SIGINT at its default, as a terminal's foreground job has it (see conftest)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(source)], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_ctrl_c_during_a_finalizer_still_stops_the_loop():
    """Python only prints a KeyboardInterrupt raised inside __del__ (or a weakref callback, or the garbage
    collector freeing a figure); the next raise_if_interrupted() in the loop raises it again."""
    result = run_script("""
        import os, signal, time
        from utils.errors import raise_if_interrupted, run_cli

        class CtrlCInFinalizer:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)  # interrupted: the handler's KeyboardInterrupt is raised here, inside __del__

        def main():
            CtrlCInFinalizer()  # freed at once
            print("still running", flush=True)
            raise_if_interrupted()
            print("not stopped", flush=True)

        run_cli(main)
    """)
    assert result.returncode == 130, result.stderr
    assert "still running" in result.stdout and "not stopped" not in result.stdout
    assert result.stderr == ""  # no "Exception ignored in ... KeyboardInterrupt" traceback: it was not lost


def test_ctrl_c_inside_a_deferred_block_stops_the_program_when_the_block_ends(tmp_path):
    """Drawing a picture is not cut short (matplotlib would turn the KeyboardInterrupt into a ValueError); the
    picture is complete and the program then stops with exit code 130."""
    result = run_script(f"""
        import os, signal
        import matplotlib.pyplot as plt
        from utils.errors import ctrl_c_deferred, run_cli
        from utils.plotting import save_figure

        def main():
            with ctrl_c_deferred():
                os.kill(os.getpid(), signal.SIGINT)
                fig, ax = plt.subplots()
                ax.plot([1, 2, 3])
                save_figure(fig, {str(tmp_path / "curve.png")!r})
                print("block finished", flush=True)
            print("not stopped", flush=True)

        run_cli(main)
    """)
    assert result.returncode == 130, result.stderr
    assert result.stdout == "block finished\n" and "Traceback" not in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["curve.png"]  # complete, no .partial left
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_user_error_is_one_line_and_exit_code_2():
    result = run_script("""
        from utils.errors import UserError, run_cli

        def main():
            raise UserError("--data-dir nowhere: no such folder; give the folder that holds imgs/ and masks/")

        run_cli(main)
    """)
    assert result.returncode == 2
    assert result.stderr == "ERROR: --data-dir nowhere: no such folder; give the folder that holds imgs/ and masks/\n"


def test_a_program_that_ignores_sigint_keeps_ignoring_it():
    """A job started in the background (`cmd &`) ignores SIGINT; run_cli must not turn Ctrl-C back on."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import os, signal
        from utils.errors import run_cli

        def main():
            os.kill(os.getpid(), signal.SIGINT)
            print("ignored", flush=True)

        run_cli(main)
    """)], capture_output=True, text=True, cwd=ROOT, timeout=60,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert result.returncode == 0 and result.stdout == "ignored\n"
