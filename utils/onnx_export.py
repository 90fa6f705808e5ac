"""Exporting a trained U-Net to ONNX (export_onnx.py): the image model here, and what the separator export shares.

The image file: input "image", float32 (batch, 3, height, width) RGB in 0..1, any batch, height and width; output
"probabilities", float32 (batch, classes, height, width): the sigmoid (one output) or softmax over the classes of
the U-Net's scores, computed in the graph. The model's input standardization (normalize_input) is in the graph
too. What predict.py does around the model (resize by --scale, flip test-time augmentation, probabilities back to
the image's size, threshold or most probable class, mask values) is utils/onnx_image.py's, in NumPy.

Every export is checked before it is reported: onnx's checker, then onnxruntime runs the file on the same inputs
as PyTorch, at two sizes, and the largest difference is printed.
"""
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from unet import UNet
from utils.dice_score import class_probabilities
from utils.errors import UserError
from utils.image_checkpoint import load_unet, training_scale
from utils.onnx_runtime import FORMAT_VERSION, import_optional, open_session

# Opset 17 (2022): onnxruntime 1.13 and later, onnxruntime-web, and most converters (TensorRT, OpenVINO) read it.
OPSET = 17
MAX_IMAGE_DIFFERENCE = 1e-3  # probabilities: float32 differs from PyTorch by about 1e-6


class ImageGraph(torch.nn.Module):
    """The U-Net with its scores turned into class probabilities: what the .onnx file computes."""

    def __init__(self, net: UNet):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return class_probabilities(self.net(image))


def check_output_path(path: str | Path, flag: str = "--output") -> Path:
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise UserError(f"{flag} {path}: ONNX models are written as .onnx files; use a name ending in .onnx, "
                        f"e.g. {path.with_suffix('.onnx').name}")
    return path


def _unflatten(g, input, dim, sizes):
    """aten::unflatten for the TorchScript exporter. Its own symbolic (torch 2.13) reshapes a 3-D input with a
    negative dim to the wrong rank (SpectrogramUNet.pool_bins of the mid magnitude fails in onnxruntime)."""
    from torch.onnx import symbolic_helper
    dim = symbolic_helper._get_const(dim, "i", "dim")
    rank = symbolic_helper._get_tensor_rank(input)
    dim %= rank
    shape = g.op("Shape", input)
    parts = [sizes]
    if dim > 0:
        parts.insert(0, g.op("Slice", shape, g.op("Constant", value_t=torch.tensor([0])),
                             g.op("Constant", value_t=torch.tensor([dim]))))
    if dim < rank - 1:
        parts.append(g.op("Slice", shape, g.op("Constant", value_t=torch.tensor([dim + 1])),
                          g.op("Constant", value_t=torch.tensor([rank]))))
    return g.op("Reshape", input, g.op("Concat", *parts, axis_i=0))


def export_graph(module: torch.nn.Module, example: tuple, path: Path, inputs: list[str], outputs: list[str],
                 dynamic_axes: dict, metadata: dict, flag: str) -> None:
    """torch.onnx.export (the TorchScript exporter: it traces sizes as values, so the graph takes other sizes),
    then the metadata, onnx's checker, and the file written under its final name only once complete."""
    onnx = import_optional("onnx", flag, path, "exporting to ONNX")
    import_optional("onnxruntime", flag, path, "checking the export")
    module = module.eval().requires_grad_(False)
    partial = path.with_name(path.name + ".partial")
    torch.onnx.register_custom_op_symbolic("aten::unflatten", _unflatten, OPSET)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
            torch.onnx.export(module, example, str(partial), dynamo=False, opset_version=OPSET, input_names=inputs,
                              output_names=outputs, dynamic_axes=dynamic_axes, do_constant_folding=True)
        model = onnx.load(str(partial))
        for key, value in {"format_version": FORMAT_VERSION, **metadata}.items():
            model.metadata_props.add(key=key, value=value if isinstance(value, str) else json.dumps(value))
        model.producer_name = "export_onnx.py"
        onnx.checker.check_model(model, full_check=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(partial))
        partial.replace(path)
    except UserError:
        raise
    except Exception as error:
        reason = " ".join(str(error).split())[:200]
        raise UserError(f"{flag}: the ONNX exporter cannot express this model ({type(error).__name__}: {reason}); "
                        "run it with PyTorch (the .pth file) instead") from None
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::unflatten", OPSET)
        partial.unlink(missing_ok=True)


def versions() -> str:
    import onnx
    return f"torch {torch.__version__}, onnx {onnx.__version__}"


def run_onnx(path: Path, feed: dict) -> list[np.ndarray]:
    """The outputs of the file for one input, from onnxruntime on the CPU."""
    import onnxruntime as ort
    return open_session(ort, path, ["CPUExecutionProvider"]).run(None, feed)


def largest_difference(path: Path, inputs: list[dict], expected: list[list[np.ndarray]]) -> float:
    """Run the file in onnxruntime on each input; the largest absolute difference from PyTorch's outputs."""
    worst = 0.0
    for feed, wanted in zip(inputs, expected):
        for got, want in zip(run_onnx(path, feed), wanted):
            if got.shape != want.shape:
                raise UserError(f"{path}: onnxruntime gave shape {got.shape} where PyTorch gives {want.shape}; "
                                "the export is wrong, please report it")
            worst = max(worst, float(np.abs(got - want).max(initial=0)))
    return worst


def export_image_model(checkpoint_path: str | Path, output: Path, flag: str = "--model") -> str:
    """Export an image checkpoint (any format predict.py reads) to `output`; the report line."""
    net, mask_values, checkpoint = load_unet(checkpoint_path, flag)
    graph = ImageGraph(net).eval()
    scale = training_scale(checkpoint)
    metadata = {"kind": "image", "source": Path(checkpoint_path).name, "exported_with": versions(),
                "n_channels": net.n_channels, "n_classes": net.n_classes, "mask_values": mask_values, "scale": scale,
                "model_config": net.config(), "input": "image: float32 (batch, channels, height, width), RGB in 0..1",
                "output": "probabilities: float32 (batch, classes, height, width); sigmoid of one output, else "
                          "softmax over the classes"}
    generator = torch.Generator().manual_seed(0)
    examples = [torch.rand(2, net.n_channels, 45, 61, generator=generator),
                torch.rand(1, net.n_channels, 96, 128, generator=generator)]
    export_graph(graph, (examples[0],), output, ["image"], ["probabilities"],
                 {"image": {0: "batch", 2: "height", 3: "width"},
                  "probabilities": {0: "batch", 2: "height", 3: "width"}}, metadata, flag)
    with torch.no_grad():
        expected = [[graph(example).numpy()] for example in examples]
    difference = largest_difference(output, [{"image": example.numpy()} for example in examples], expected)
    if difference > MAX_IMAGE_DIFFERENCE:
        output.unlink()
        raise UserError(f"{flag} {checkpoint_path}: onnxruntime's probabilities differ from PyTorch's by "
                        f"{difference:.2g}; not written. Please report it")
    logging.info(f"Checked with onnxruntime on 45x61 and 96x128 images: largest difference from PyTorch "
                 f"{difference:.1e} (probabilities)")
    values = json.dumps(mask_values)
    values = f"mask values {values}" if len(values) <= 40 else f"{len(mask_values)} mask values"
    return (f"{output}: image U-Net, {net.n_classes} class{'es' if net.n_classes > 1 else ''} ({values}), "
            f"scale {scale:g}, any image size; {output.stat().st_size / 1e6:.1f} MB")
