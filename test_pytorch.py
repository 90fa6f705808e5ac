"""Step 0 of the tutorial: check that PyTorch is installed and can do basic tensor math.

Exit code 0 when every check passes, 1 otherwise (so scripts and CI can rely on it).
"""
import sys

LINE = "=" * 60


def header(title: str) -> None:
    print(LINE)
    print(title)
    print(LINE)


def check_import():
    """The torch module, or None (after printing how to install it)."""
    header("PyTorch Installation Test")
    try:
        import torch
    except ImportError as error:
        print(f"✗ PyTorch is not installed ({error})")
        print("  Install it inside your virtual environment with:")
        print("    pip install torch")
        print("  or install everything the tutorial needs with:")
        print("    pip install -r requirements.txt")
        return None
    print("✓ PyTorch imported successfully")
    print(f"  Version: {torch.__version__}")
    return torch


def check_hardware(torch) -> bool:
    """Report CUDA / MPS; running on the CPU is fine, so this check only fails if detection crashes."""
    print()
    header("Hardware Acceleration")
    try:
        if torch.cuda.is_available():
            print("CUDA (NVIDIA GPU): ✓ Available")
            print(f"  GPU: {torch.cuda.get_device_name(0)}")
        else:
            print("CUDA (NVIDIA GPU): ✗ Not available")
        if torch.backends.mps.is_available():
            print("MPS (Apple Silicon): ✓ Available")
            print("  Running on Apple Silicon GPU")
        else:
            print("MPS (Apple Silicon): ✗ Not available")
        if not torch.cuda.is_available() and not torch.backends.mps.is_available():
            print(f"CPU: ✓ Available ({torch.get_num_threads()} threads)")
            print("  Running on CPU (training works, just slower than on a GPU)")
    except Exception as error:  # a broken driver must be reported, not crash the check
        print(f"✗ Device detection failed: {error}")
        return False
    return True


def check_addition(torch) -> bool:
    print()
    header("Tensor Operations Test")
    x = torch.tensor([1.0, 2.0, 3.0])
    y = torch.tensor([4.0, 5.0, 6.0])
    result = x + y
    print(f"x = {x.tolist()}")
    print(f"y = {y.tolist()}")
    print(f"x + y = {result.tolist()}")
    print("Expected: [5.0, 7.0, 9.0]")
    ok = result.tolist() == [5.0, 7.0, 9.0]
    print("✓ Tensor math works correctly" if ok else "✗ Tensor math gave a wrong result")
    return ok


def check_matmul(torch) -> bool:
    print()
    header("Matrix Operations Test")
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = torch.tensor([[2.0, 0.0], [1.0, 3.0]])
    result = a @ b
    print("A @ B =")
    print(result)
    print("Expected:")
    print("  [[4.0, 6.0],")
    print("   [10.0, 12.0]]")
    ok = result.tolist() == [[4.0, 6.0], [10.0, 12.0]]
    print("✓ Matrix multiplication works correctly" if ok else "✗ Matrix multiplication gave a wrong result")
    return ok


def main() -> int:
    # A Windows console with an old code page has no "✓": print "?" instead of crashing.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")
    torch = check_import()
    results = [torch is not None]
    if torch is not None:
        results += [check_hardware(torch), check_addition(torch), check_matmul(torch)]
    print()
    header("Summary")
    if all(results):
        print("✓ All tests passed!")
        print("✓ PyTorch is ready to use")
        return 0
    print(f"✗ {results.count(False)} test(s) failed, see the messages above")
    return 1


if __name__ == "__main__":
    sys.exit(main())
