"""The pretraining set's recipe: its settings, each defined once.

A setting is one field of Recipe, with its default, range and help beside it. make_pretraining_data.py and
pretrain.py add the flags with Recipe.add_arguments and read them with Recipe.from_args; Recipe.check gives the
one-line error for a value out of range; the set's manifest (set.json: a set of the same recipe is reused) and the
command line recorded in the shipped weights come from Recipe.manifest and Recipe.command_line. A new setting is a
new field here, and nothing else to change in the scripts.

The defaults are the mix of the shipped weights' last stages (pretrained/README.md).
"""
import argparse
from dataclasses import asdict, dataclass, field, fields, replace

from utils.errors import UserError

DRAWN_SHARE = 0.35  # of the objects are drawn emoji; the rest are photographed things or photo-filled outlines


def _setting(default: float, help: str, minimum: float = 0.0, maximum: float = 1.0, short: str | None = None):
    """A recipe field with what its flag needs: its help, its range and its short flag."""
    return field(default=default, metadata={"help": help, "minimum": minimum, "maximum": maximum, "short": short})


@dataclass(frozen=True)
class Recipe:
    """What a pretraining set is made of: the same recipe gives the same images, on any number of cores."""
    count: int = _setting(12000, "Images in the set", minimum=1, maximum=float("inf"), short="-n")
    seed: int = _setting(0, "Random seed (same seed, same images)", minimum=0, maximum=float("inf"))
    shards: int = _setting(1, "Make the set in this many independent pieces (piece k from --seed + k), so that "
                              "--jobs processes can write it; the images depend on --shards, not on --jobs",
                           minimum=1, maximum=float("inf"))
    photographed_share: float = _setting(0.3, "Share of the objects that are photographed things (Tux Paint's "
                                              "photographic stamps)", maximum=1 - DRAWN_SHARE)
    scene_share: float = _setting(0.5, "Share of the images whose background is a scene photograph (Tux Paint's "
                                       "templates, Stellarium's landscapes) rather than a wallpaper")
    landscape_share: float = _setting(0.5, "Share of the scene backgrounds that are Stellarium landscapes")
    clutter_share: float = _setting(0.25, "Share of the images whose background shows unmarked things (a "
                                          "lighthouse, houses, a castle, mountains under clouds)")
    monument_share: float = _setting(0.6, "Share of the backgrounds with unmarked things that are GCompris' "
                                          "photographs of monuments")

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """One flag per setting (--count, --seed, --shards, --photographed-share, ...), with its default."""
        for setting in fields(Recipe):
            flags = [f"--{setting.name.replace('_', '-')}"] + ([setting.metadata["short"]]
                                                               if setting.metadata["short"] else [])
            parser.add_argument(*flags, type=type(setting.default), default=setting.default,
                                help=f"{setting.metadata['help']} (default: %(default)s)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Recipe":
        return cls(**{setting.name: getattr(args, setting.name) for setting in fields(cls)})

    def check(self) -> None:
        """A one-line error naming the flag of a setting out of its range."""
        if self.count >= 1 and not 1 <= self.shards <= self.count:
            raise UserError(f"--shards {self.shards}: give from 1 to --count ({self.count}) pieces")
        for setting in fields(self):
            value, low, high = getattr(self, setting.name), setting.metadata["minimum"], setting.metadata["maximum"]
            if not low <= value <= high:
                shown = f"from {low:g} to {high:.2f}" if high < float("inf") else f"at least {low:g}"
                raise UserError(f"--{setting.name.replace('_', '-')} {value}: give a value {shown}")

    def shares(self) -> dict[str, float]:
        """The mix of backgrounds and objects, without the set's size and seed."""
        return {setting.name: getattr(self, setting.name) for setting in fields(self) if setting.name.endswith("_share")}

    def manifest(self) -> dict:
        """What set.json records: a set with the same manifest is the same set."""
        return asdict(self)

    def command_line(self) -> str:
        """The make_pretraining_data.py command that makes this set, as the shipped weights record it."""
        return "make_pretraining_data.py " + " ".join(
            f"--{name.replace('_', '-')} {value}" for name, value in asdict(self).items()
            if not (name == "shards" and value == 1))

    def pieces(self) -> list["Recipe"]:
        """The shards as recipes of their own: piece k has its share of the images, from seed + k."""
        sizes = [self.count // self.shards + (k < self.count % self.shards) for k in range(self.shards)]
        return [replace(self, count=size, seed=self.seed + k, shards=1) for k, size in enumerate(sizes)]
