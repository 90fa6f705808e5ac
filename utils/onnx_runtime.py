"""Running an exported .onnx model with onnxruntime, without PyTorch: the file's settings and one session.

export_onnx.py writes the model and the settings a runner needs into one file: the settings go in the ONNX
model's metadata_props (string keys and values; lists and dicts as JSON), so any runtime can read them:

    kind             "image" (predict.py runs it) or "separator" (separate.py runs it)
    format_version   FORMAT_VERSION: a runner refuses a file of a newer layout by name
    source           the checkpoint it was exported from; exported_with: the torch and onnx versions
  image:     n_channels, n_classes, mask_values (JSON), scale (train.py's --scale)
  separator: sample_rate, n_fft, hop_length, window, bins, targets (JSON), residual ("" or the stem that is the
             mixture minus the targets), frame_multiple (chunk borders on this many STFT frames), context_seconds,
             max_bin, model_config (JSON)

Every other module of the ONNX path (utils/onnx_image.py, vocal_separation_sanity_check/onnx_separator.py)
reads through here; this module imports neither torch nor onnxruntime until a session is opened.
"""
import importlib
import json
from pathlib import Path

from utils.errors import UserError

FORMAT_VERSION = 1
KINDS = {"image": "python3 predict.py -m {path} -i <image>",
         "separator": "python3 -m vocal_separation_sanity_check.separate -m {path} -i <song>"}
INSTALL = {"onnxruntime": "pip install onnxruntime", "onnx": "pip install onnx onnxruntime"}


def is_onnx_model(path: str | Path) -> bool:
    """-m FILE.onnx goes to onnxruntime, anything else to PyTorch."""
    return Path(path).suffix.lower() == ".onnx"


def import_optional(package: str, flag: str, path: str | Path, purpose: str):
    """The module, or a UserError naming it and the pip command: onnx and onnxruntime are optional."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise UserError(f"{flag} {path}: {purpose} needs {package}; {INSTALL[package]}") from None


def providers(ort, device: str | None, flag: str = "--device") -> list[str]:
    """onnxruntime's execution providers for --device: cuda where onnxruntime-gpu has it, else the CPU."""
    available = ort.get_available_providers()
    if device in (None, "auto"):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"] if "CUDAExecutionProvider" in available \
            else ["CPUExecutionProvider"]
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.split(":")[0] == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise UserError(f"{flag} {device}: this onnxruntime runs on the CPU only (pip install onnxruntime-gpu "
                            "for CUDA); use --device cpu")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise UserError(f"{flag} {device}: an ONNX model runs on cpu or cuda (onnxruntime-gpu); use --device cpu")


def open_session(ort, path: str | Path, execution_providers: list[str]):
    """An onnxruntime session that logs errors only: its warnings about unused initializers are not the user's."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=execution_providers)


class OnnxModel:
    """One exported model: its onnxruntime session and its metadata, checked to be of the expected kind."""

    def __init__(self, path: str | Path, kind: str, device: str | None = None, flag: str = "--model"):
        path = Path(path)
        ort = import_optional("onnxruntime", flag, path, "running ONNX models")
        if not path.is_file():
            raise UserError(f"{flag} {path}: file not found; export one with python3 export_onnx.py -m CHECKPOINT "
                            f"-o {path.name}")
        try:
            self.session = open_session(ort, path, providers(ort, device))
        except UserError:
            raise
        except Exception as error:
            reason = " ".join(str(error).split())[:160]
            raise UserError(f"{flag} {path}: onnxruntime cannot load it ({reason}); give a .onnx file written by "
                            "export_onnx.py") from None
        self.path = path
        self.provider = self.session.get_providers()[0]
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        found = self.metadata.get("kind")
        if found not in KINDS:
            raise UserError(f"{flag} {path}: not written by export_onnx.py (no 'kind' in its metadata); export the "
                            "checkpoint with python3 export_onnx.py -m CHECKPOINT -o FILE.onnx")
        if found != kind:
            raise UserError(f"{flag} {path} is an exported {found} model; run it with "
                            + KINDS[found].format(path=path))
        version = self.metadata.get("format_version", "")
        if not version.isdigit() or int(version) > FORMAT_VERSION:
            raise UserError(f"{flag} {path}: ONNX metadata format {version}, newer than this code reads "
                            f"({FORMAT_VERSION}); update the repository (git pull)")

    def value(self, key: str):
        """A metadata entry, JSON-decoded (numbers, lists, dicts)."""
        return json.loads(self.metadata[key])

    @property
    def device(self) -> str:
        return "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"

    def run(self, inputs: dict, outputs: list[str] | None = None) -> list:
        return self.session.run(outputs, inputs)
