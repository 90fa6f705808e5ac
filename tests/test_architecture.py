"""The house the code lives in: scripts are leaves, the rooms stack in at most five floors without a circle, the
root holds the tutorial's steps only, and utils/ holds what the tutorial's scripts use.

A room is a top-level folder (utils/, unet/, pretrained/, benchmarks/, vocal_separation_sanity_check/) or a script
at the root; room A stands above room B when a file of A imports a file of B. Tests are not part of the house.
"""
import ast
from pathlib import Path

from conftest import REPO_ROOT

ROOT_SCRIPTS = {"train.py", "predict.py", "evaluate.py", "test_pytorch.py", "make_demo_data.py", "export_onnx.py"}
TUTORIAL_SCRIPTS = ROOT_SCRIPTS | {"vocal_separation_sanity_check"}
SKIPPED = {"tests", ".venv", ".venv-ci", "data", "checkpoints", "docs", "output", "outputs"}


def project_files() -> list[Path]:
    return sorted(path for path in REPO_ROOT.rglob("*.py")
                  if not (set(path.relative_to(REPO_ROOT).parts[:-1]) & SKIPPED) and not path.name.startswith("."))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_script(path: Path) -> bool:
    return "__main__" in path.read_text() and path.name != "__init__.py" and any(
        isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in ast.parse(path.read_text()).body)


def imports_of(path: Path, modules: dict[str, Path]) -> set[Path]:
    """The project files that path imports (a `from package import name` of a submodule counts as that module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: from .errors import ...
                base = ".".join(module_name(path).split(".")[:-node.level + (path.name == "__init__.py")] + [base])
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            if name in modules and modules[name] != path:
                found.add(modules[name])
    return found


def room(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).parts
    return parts[0] if len(parts) > 1 else path.name


def import_graph() -> dict[Path, set[Path]]:
    files = project_files()
    modules = {module_name(path): path for path in files}
    return {path: imports_of(path, modules) for path in files}


def test_no_module_imports_a_script():
    graph = import_graph()
    offenders = [f"{importer.relative_to(REPO_ROOT)} imports {imported.relative_to(REPO_ROOT)}"
                 for importer, targets in graph.items() for imported in targets if is_script(imported)]
    assert offenders == []


def test_the_rooms_stack_in_at_most_five_floors_without_a_circle():
    rooms: dict[str, set[str]] = {}
    for importer, targets in import_graph().items():
        rooms.setdefault(room(importer), set()).update(room(target) for target in targets if room(target) != room(importer))

    def floors(name: str, seen: tuple[str, ...] = ()) -> int:
        assert name not in seen, f"a circle of imports: {' -> '.join(seen + (name,))}"
        return 1 + max((floors(below, seen + (name,)) for below in rooms.get(name, ())), default=0)

    assert max(floors(name) for name in rooms) <= 5
    assert "benchmarks" not in rooms["pretrained"]  # the benchmark imports the recipe's pools, never the reverse
    assert rooms["unet"] == set()  # the model stands on nothing of the project


def test_the_root_holds_the_tutorials_steps_only():
    assert {path.name for path in REPO_ROOT.glob("*.py")} <= ROOT_SCRIPTS
    assert all(is_script(REPO_ROOT / name) for name in ROOT_SCRIPTS if (REPO_ROOT / name).exists())


def test_utils_holds_what_the_tutorials_scripts_use():
    """Every utils module serves the tutorial (the root scripts or the audio package), not only a recipe or a
    benchmark."""
    graph = import_graph()
    reached, pending = set(), [path for path in graph if room(path) in TUTORIAL_SCRIPTS]
    while pending:
        path = pending.pop()
        if path not in reached:
            reached.add(path)
            pending.extend(graph[path])
    unused = [path.name for path in (REPO_ROOT / "utils").glob("*.py")
              if path.name != "__init__.py" and path not in reached]
    assert unused == []


def test_the_training_loops_are_named_steps_of_at_most_80_lines():
    """train.py and train_separator.py read like milesial's train.py: set up, one epoch, validate, save."""
    for script in ("train.py", "vocal_separation_sanity_check/train_separator.py"):
        tree = ast.parse((REPO_ROOT / script).read_text())
        lengths = {node.name: node.end_lineno - node.lineno + 1 for node in ast.walk(tree)
                   if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        assert max(lengths.values()) <= 80, (script, max(lengths.items(), key=lambda item: item[1]))
        assert {"train_one_epoch", "validate" if script == "train.py" else "validate_and_save"} <= set(lengths)
