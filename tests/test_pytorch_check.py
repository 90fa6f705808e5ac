"""test_pytorch.py, the README's Step 0: passes here, and tells the user how to install a missing torch."""
import subprocess
import sys

from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "test_pytorch.py"


def test_environment_check_passes():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for line in ["✓ PyTorch imported successfully", "x + y = [5.0, 7.0, 9.0]", "✓ Tensor math works correctly",
                 "✓ Matrix multiplication works correctly", "✓ All tests passed!"]:
        assert line in result.stdout
    assert "CUDA (NVIDIA GPU):" in result.stdout and "MPS (Apple Silicon):" in result.stdout


def test_missing_torch_prints_install_command_and_fails(tmp_path):
    # A fake 'torch' module first on the path makes `import torch` fail as on a fresh machine.
    (tmp_path / "torch.py").write_text("raise ImportError(\"No module named 'torch'\")\n")
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": str(tmp_path), "PATH": ""}, cwd=tmp_path)
    assert result.returncode == 1
    assert "pip install torch" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
