"""Stem separation with the image tutorial's U-Net: masks on STFT spectrograms.

Library modules (import them from anywhere once the repository root is on the path):
    audio       reading and writing audio, the STFT settings (NumPy and soundfile only)
    transforms  the STFT and its inverse (PyTorch)
    tracks      finding and loading multitrack songs (MUSDB18-HQ layout, NAME-full/NAME-stem pairs)
    masking     ideal ratio masks: the oracle, the ceiling of any mask-predicting model
    metrics     SDR (whole song, 1 s frames) and museval's BSSEval v4 when installed
    filtering   multichannel Wiener filtering of masked estimates
    model       SpectrogramUNet, the U-Net wrapped for spectrograms
    chunking    songs of any length through a separator, chunk by chunk (--shifts, --two-stems, the rest)
    separator   Separator (a model with its STFT settings and targets) and the separator checkpoint format
    onnx_export the separator as one ONNX file (STFT, masks, inverse STFT inside), for export_onnx.py
    onnx_separator  OnnxSeparator: the exported file run by onnxruntime, without PyTorch
    sources     songs read in blocks at any sample rate, in bounded memory (what the separator reads)
    outputs     writing stems: formats, bit depths, clipping, file-name templates, never half-written
    training    the remix dataset, learning-rate schedule and weight averaging used by train_separator.py
    demo_songs  the multitrack song synthesizer behind make_demo_songs.py

Scripts (thin command lines over the modules; run them from this folder as `python3 separate.py ...`
or from the repository root as `python3 -m vocal_separation_sanity_check.separate ...`):
    sanity_check.py, make_demo_songs.py, train_separator.py, separate.py, evaluate.py

    from vocal_separation_sanity_check import Separator

Why each script starts with a one-line bootstrap instead of the project being installed (`pip install -e .`):
the tutorial runs from a clone, README in hand, and `pip install -r requirements.txt` is its only install step.
An installed project adds a step that can be forgotten, or that points at another clone after a copy, and it
would put this repository's generic top-level packages `utils` and `unet` into site-packages, where they clash
with other projects' `utils`. The bootstrap only acts when a script runs as a file (`python3 separate.py`):
it puts the repository root first on the path. `python3 -m ...` from the root, and the tests (pytest.ini),
need nothing.
"""


def __getattr__(name: str):
    # Importing Separator (torch, the model) only when asked keeps `import vocal_separation_sanity_check` light.
    if name == "Separator":
        from vocal_separation_sanity_check.separator import Separator
        return Separator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
