"""One-line errors for the command-line scripts: a bad input is reported, not dumped as a traceback."""
import sys
from typing import Callable

# The exit status of a program stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT_CODE = 130


class UserError(Exception):
    """A problem with the user's input or files; the message names the file or flag and the fix."""


def run_cli(main: Callable[[], object]) -> None:
    """Run a script's main(); a UserError becomes 'ERROR: message' on stderr and exit code 2, Ctrl-C exit
    code 130 without a traceback (a script that has something to save on Ctrl-C saves it, logs it, re-raises)."""
    try:
        main()
    except UserError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED_EXIT_CODE)
