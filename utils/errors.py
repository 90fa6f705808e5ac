"""One-line errors for the command-line scripts: a bad input is reported, not dumped as a traceback."""
import sys
from typing import Callable


class UserError(Exception):
    """A problem with the user's input or files; the message names the file or flag and the fix."""


def run_cli(main: Callable[[], object]) -> None:
    """Run a script's main(); a UserError becomes 'ERROR: message' on stderr and exit code 2."""
    try:
        main()
    except UserError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        sys.exit(2)
