"""One-line errors for the command-line scripts: a bad input is reported, not dumped as a traceback."""
import signal
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

# The exit status of a program stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT_CODE = 130

_ctrl_c_pressed = False
_deferring = 0  # how many ctrl_c_deferred() blocks are open


class UserError(Exception):
    """A problem with the user's input or files; the message names the file or flag and the fix."""


def _on_ctrl_c(signum: int, frame: object) -> None:
    """SIGINT: remember it, then raise KeyboardInterrupt as Python's own handler does."""
    global _ctrl_c_pressed
    _ctrl_c_pressed = True
    if not _deferring:
        raise KeyboardInterrupt


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed since run_cli started. A KeyboardInterrupt raised while Python
    runs a finalizer (an object's __del__, a weakref callback, the garbage collector freeing a matplotlib figure)
    is printed and dropped, and the program would go on: long loops call this once per step so Ctrl-C still stops
    them."""
    if _ctrl_c_pressed:
        raise KeyboardInterrupt


@contextmanager
def ctrl_c_deferred() -> Iterator[None]:
    """Hold Ctrl-C until the block ends, then raise it. For short work that an exception in the middle would
    spoil: matplotlib's drawing code turns a KeyboardInterrupt raised inside it into "ValueError: Invalid
    bounding box", which would end a training run with a traceback and no INTERRUPTED.pth."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    if not _deferring:  # the outermost block
        raise_if_interrupted()


def _report_unraisable(unraisable: "sys.UnraisableHookArgs") -> None:
    """Python's report of an exception it had to drop, except a KeyboardInterrupt after Ctrl-C: that one is not
    lost (raise_if_interrupted raises it again), and its traceback would only alarm."""
    if not (_ctrl_c_pressed and isinstance(unraisable.exc_value, KeyboardInterrupt)):
        sys.__unraisablehook__(unraisable)


def run_cli(main: Callable[[], object]) -> None:
    """Run a script's main(); a UserError becomes 'ERROR: message' on stderr and exit code 2, Ctrl-C exit
    code 130 without a traceback (a script that has something to save on Ctrl-C saves it, logs it, re-raises)."""
    # Only where Python's own handler is in place: a job started in the background ignores SIGINT, and keeps doing so.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_ctrl_c)
        sys.unraisablehook = _report_unraisable
    try:
        main()
    except UserError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED_EXIT_CODE)
