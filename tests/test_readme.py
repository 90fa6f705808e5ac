"""The READMEs cannot drift from the scripts: every command they show parses with the script's own argument parser,
and running a walkthrough's commands writes every file its text names.

Flags are checked by the real parsers (argparse), run in one process per script with parse_args stopped right
after parsing, so nothing is trained or written. The files: the image tutorial's Steps 1-3 run verbatim in a copy
of the repository; the audio walkthrough runs verbatim too, with songs of 16 seconds and a training of a few
seconds appended as the last flags (argparse takes the last value of a flag), so its files are the same files.
"""
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

READMES = [REPO_ROOT / "README.md", REPO_ROOT / "vocal_separation_sanity_check" / "README.md",
           REPO_ROOT / "pretrained" / "README.md"]
PROGRAMS = ("python3", "python", ".venv/bin/python", "torchrun")

# Runs in a subprocess per script: parse each argv with the script's parser, report what argparse said.
PARSE_ONLY = r"""
import argparse, contextlib, io, json, runpy, sys
target, is_module, argvs = sys.argv[1], sys.argv[2] == "module", json.loads(sys.argv[3])
class Parsed(Exception):
    pass
original = argparse.ArgumentParser.parse_args
def parse_and_stop(self, args=None, namespace=None):
    original(self, args, namespace)
    raise Parsed
argparse.ArgumentParser.parse_args = parse_and_stop
results = []
for argv in argvs:
    sys.argv = [target, *argv]
    error = io.StringIO()
    try:
        with contextlib.redirect_stderr(error), contextlib.redirect_stdout(io.StringIO()):
            runpy.run_module(target, run_name="__main__") if is_module else runpy.run_path(target, run_name="__main__")
        results.append("" if not argv else "took arguments without parsing them")
    except Parsed:
        results.append("")
    except SystemExit as exit:
        results.append(error.getvalue().strip().splitlines()[-1] if exit.code else "")
print(json.dumps(results))
"""


def code_blocks(text: str) -> list[str]:
    """The shell blocks (```bash) of a README."""
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def commands_of(readme: Path) -> list[str]:
    """Every command line a README shows: shell blocks (continuation lines joined, comments dropped) and inline
    code that starts with a program."""
    text = readme.read_text()
    commands = []
    for block in code_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith(PROGRAMS) and not re.match(r"\S+ -c ", line):  # python3 -c "...": a program
                commands.append(line)
    for span in re.findall(r"`([^`\n]+)`", text):
        parsed = script_and_args(span) if span.startswith(("python3 ", "torchrun ")) else None
        if parsed is not None and parsed[2]:  # a script named without arguments is a name, not a command
            commands.append(span)
    return commands


def script_and_args(command: str) -> tuple[str, bool, list[str]] | None:
    """(script path or module name, whether it is a module, its arguments), or None for other programs."""
    words = shlex.split(command)
    words = words[1:]
    while words and words[0].startswith("--nproc"):  # torchrun's own flags
        words = words[1:]
    if not words or words[0] in ("-c", "-X") or words[0] == "-m" and words[1] == "pytest":
        return None
    if words[0] == "-m":  # the project's own modules only (not venv, pip or pytest)
        is_ours = (REPO_ROOT / words[1].split(".")[0]).is_dir()
        return (words[1], True, words[2:]) if is_ours else None
    return str(REPO_ROOT / words[0]), False, words[1:]


def parse_commands(commands: list[str]) -> dict[str, str]:
    """For each command, what its script's parser said: '' when it parsed."""
    by_script: dict[tuple[str, bool], list[tuple[str, list[str]]]] = {}
    for command in commands:
        parsed = script_and_args(command)
        if parsed is not None:
            by_script.setdefault(parsed[:2], []).append((command, parsed[2]))
    verdicts = {}
    for (target, is_module), runs in by_script.items():
        result = subprocess.run([sys.executable, "-c", PARSE_ONLY, target, "module" if is_module else "path",
                                 json.dumps([argv for _, argv in runs])], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        for (command, _), said in zip(runs, json.loads(result.stdout.splitlines()[-1])):
            verdicts[command] = said
    return verdicts


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_readme_command_uses_flags_its_script_has(readme):
    commands = commands_of(readme)
    assert len(commands) >= 5
    verdicts = parse_commands(commands)
    refused = {command: said for command, said in verdicts.items() if said}
    assert refused == {}


def test_the_check_catches_a_flag_the_script_does_not_have():
    verdicts = parse_commands(["python3 train.py --epochs 10 --no-such-flag 3",
                               "python3 -m vocal_separation_sanity_check.separate -m x.pth -i y --format wav",
                               "python3 evaluate.py -m x.pth --cvs scores.csv"])
    assert "unrecognized arguments: --no-such-flag 3" in verdicts["python3 train.py --epochs 10 --no-such-flag 3"]
    assert verdicts["python3 -m vocal_separation_sanity_check.separate -m x.pth -i y --format wav"] == ""
    assert "--cvs" in verdicts["python3 evaluate.py -m x.pth --cvs scores.csv"]


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end, text.index(start))]


def named_files(text: str, pattern: str) -> set[str]:
    """The file paths a piece of README names (in code spans and output blocks) that match pattern."""
    return {match.rstrip(".,:;)") for match in re.findall(pattern, text)}


def written_files(text: str) -> set[str]:
    """The files of the log lines 'Wrote a.wav, b.wav and c.png to FOLDER' in a README's output blocks."""
    names = set()
    for listed, folder in re.findall(r"Wrote ([\w., ]+?) to ([\w/]+)", text):
        names |= {f"{folder}/{name}" for name in re.split(r", | and ", listed) if "." in name}
    return names


def copy_of_repository(folder: Path) -> Path:
    """The scripts and what they read, without the user's checkpoints and outputs."""
    skipped = {".git", "checkpoints", "outputs", "output", "separated", "__pycache__", "tests", "wandb", "pretraining"}
    generated = {"demo_songs", "demo500", "demo_heldout", "carvana"}  # data sets made by the user, under data/

    def ignore(folder: str, names: list[str]) -> set[str]:
        in_data = Path(folder) == REPO_ROOT / "data"
        return {name for name in names if name in skipped or name.startswith(".venv") or name.endswith(".pyc")
                or (in_data and (name in generated or name.startswith("musdb")))}

    shutil.copytree(REPO_ROOT, folder, ignore=ignore)
    return folder


def run_verbatim(commands: list[str], cwd: Path, extra: dict[str, list[str]] | None = None) -> None:
    for command in commands:
        words = shlex.split(command)
        words[0] = sys.executable
        for script, flags in (extra or {}).items():
            if script in command:
                words += flags
        result = subprocess.run(words, cwd=cwd, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"


def has_onnx() -> bool:
    """The ONNX steps need the optional onnx and onnxruntime (CI installs them)."""
    return all(importlib.util.find_spec(package) for package in ("onnx", "onnxruntime"))


def test_steps_1_to_3_write_every_file_the_readme_names(tmp_path):
    """Steps 1-3, then (with onnx installed) the export of "Take it elsewhere", which reads Step 1's checkpoint."""
    text = (REPO_ROOT / "README.md").read_text()
    steps = section(text, "## 🚀 Step 1", "## 🔧 Training Options")
    if has_onnx():
        steps += section(text, "## 📤 Take it elsewhere", "## ✨ Next")
    commands = [line for block in code_blocks(steps) for line in block.splitlines() if line.startswith("python3 ")]
    scripts = ["train.py", "predict.py", "evaluate.py"] + (["export_onnx.py", "predict.py"] if has_onnx() else [])
    assert [command.split()[1] for command in commands] == scripts
    repository = copy_of_repository(tmp_path / "repo")
    run_verbatim(commands, repository)
    names = named_files(steps, r"(?:checkpoints/step1/[\w.]+|outputs/[\w.]+|prediction\w*\.png)")
    assert {"checkpoints/step1/training_curves.png", "prediction_viz.png", "outputs/scores.csv"} <= names
    assert not has_onnx() or {"checkpoints/step1/unet.onnx", "prediction_onnx.png"} <= names
    missing = sorted(name for name in names if "N" not in name and not (repository / name).exists())
    assert missing == []
    assert (repository / "checkpoints/step1/checkpoint_epoch10.pth").is_file()


def test_the_audio_walkthrough_writes_every_file_its_readme_names(tmp_path):
    text = (REPO_ROOT / "vocal_separation_sanity_check" / "README.md").read_text()
    # With onnx installed, the export and the separation of section 6 too
    walkthrough = section(text, "## 1. Sanity check", "## 7. Your own project" if has_onnx() else "## 6. Take it")
    commands = [line for block in code_blocks(walkthrough) for line in block.splitlines()
                if line.startswith(("python3 -m ", "python3 export_onnx.py")) and "--mixture" not in line]
    shortened = {"make_demo_songs": ["--seconds", "16"],  # the excerpt example starts at 10 s
                 "train_separator": ["--max-minutes", "1", "--epochs", "1", "--samples-per-epoch", "8",
                                     "--valid-seconds", "1"]}
    repository = copy_of_repository(tmp_path / "repo")
    run_verbatim(commands, repository, shortened)
    names = named_files(walkthrough, r"(?:data/demo_songs/demo_song\.png|output/[\w/.]+\.\w+|"
                                     r"checkpoints/separator/[\w.]+\.(?:pth|png|onnx)|separated/[^`\n{]+?/vocals\.wav)")
    names |= written_files(walkthrough)
    names |= {f"checkpoints/separator/{name}" for name in ("best.pth", "last.pth", "training_curves.png")
              if f"`{name}`" in walkthrough}
    assert {"checkpoints/separator/last.pth", "output/sanity_check/accompaniment_oracle.wav",
            "output/evaluation/results.json"} <= names
    left_out = {"checkpoints/separator/INTERRUPTED.pth"}  # Ctrl-C's file
    missing = sorted(name for name in names - left_out
                     if "<" not in name and not (repository / name).exists())
    assert missing == []
    test_songs = sorted(path.name for path in (repository / "data/demo_songs/test").iterdir())
    for song in test_songs:  # "separated/<song>/vocals.wav and accompaniment.wav"
        assert {path.name for path in (repository / "separated" / song).iterdir()} == {"vocals.wav",
                                                                                      "accompaniment.wav"}
