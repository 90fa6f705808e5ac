"""Command-line help shared by every script: defaults shown where they mean something."""
import argparse


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends '(default: X)' to each option's help, except where the default is None or False: those options
    say in their own words what happens when they are left out (e.g. 'default: the best available device')."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)
