"""Command-line help shared by every script (defaults shown where they mean something), and the flags that
predict.py and evaluate.py share (--tta, --tta-scales)."""
import argparse
from collections.abc import Sequence

from utils.errors import UserError
from utils.images import check_scale


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends '(default: X)' to each option's help, except where the default is None or False: those options
    say in their own words what happens when they are left out (e.g. 'default: the best available device')."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


def add_tta_arguments(parser: argparse.ArgumentParser) -> None:
    """--tta and --tta-scales, the same for predict.py and evaluate.py."""
    parser.add_argument("--tta", action="store_true",
                        help="Flip test-time augmentation: average the predictions of the image and its mirror "
                             "image (twice the time)")
    parser.add_argument("--tta-scales", type=float, nargs="+", default=[], metavar="FRACTION",
                        help="Also predict at these fractions of --scale and average, e.g. --tta --tta-scales 0.75 "
                             "(4 predictions per image)")


def check_tta_scales(fractions: Sequence[float], scale: float) -> None:
    """Fractions below 1 only: the full scale is always predicted, and enlarging helped little for its cost."""
    for fraction in fractions:
        if not 0 < fraction < 1:
            raise UserError(f"--tta-scales {fraction:g}: fractions of --scale between 0 and 1 (the full --scale is "
                            "always predicted), e.g. --tta-scales 0.75")
        check_scale(scale * fraction)
