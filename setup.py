"""Builds pygan._C: the operator library (CPU kernels, plus CUDA kernels when
the installed torch has CUDA). Install with `pip install --no-build-isolation -e .`
so the extension compiles against the torch already installed.

PYGAN_CUDA=auto (default) builds the CUDA kernels when torch.version.cuda is set
and a CUDA toolkit is found; 1 requires them; 0 builds the CPU kernels only.
The decision never depends on a GPU being present. TORCH_CUDA_ARCH_LIST picks
the architectures (default "8.0;9.0").
"""
import glob
import os
import sys

from setuptools import setup

try:
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
except ImportError as exc:  # pragma: no cover - build-time message
    raise SystemExit(
        "pygan's build needs torch installed first (pip install torch), then "
        "`pip install --no-build-isolation -e .`") from exc

DEFAULT_ARCHS = "8.0;9.0"


def cuda_decision():
    mode = os.environ.get("PYGAN_CUDA", "auto").strip().lower()
    if mode not in ("auto", "0", "1"):
        raise SystemExit(f"PYGAN_CUDA must be auto, 0 or 1, got {mode!r}")
    torch_cuda = torch.version.cuda
    if mode == "1":
        if torch_cuda is None:
            raise SystemExit(f"PYGAN_CUDA=1 but the installed torch {torch.__version__} has no "
                             "CUDA support; install a CUDA build of torch or use PYGAN_CUDA=auto")
        if CUDA_HOME is None:
            raise SystemExit("PYGAN_CUDA=1 but no CUDA toolkit was found; set CUDA_HOME")
        return True, "PYGAN_CUDA=1"
    if mode == "0":
        return False, "PYGAN_CUDA=0"
    if torch_cuda is None:
        return False, f"torch {torch.__version__} has no CUDA"
    if CUDA_HOME is None:
        return False, f"torch has CUDA {torch_cuda} but no CUDA toolkit was found (CUDA_HOME)"
    return True, f"torch has CUDA {torch_cuda}, toolkit at {CUDA_HOME}"


def extension():
    with_cuda, why = cuda_decision()
    sources = sorted(glob.glob("csrc/*.cpp")) + sorted(glob.glob("csrc/cpu/*.cpp"))
    # -fno-math-errno lets GCC vectorize sqrt in the CPU loops and
    # -fno-trapping-math the selects (as torch builds itself), -fopenmp-simd
    # the reductions marked `omp simd`. -fopenmp because at::parallel_for is
    # inline `omp parallel` code (without it, it runs on one thread); the
    # runtime is the libgomp torch already loads. The C++ standard is left to
    # torch (C++17 or C++20, whichever its headers need).
    openmp = ["-fopenmp"] if sys.platform.startswith("linux") else []
    cxx = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd", *openmp]
    if with_cuda:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", DEFAULT_ARCHS)
        sources += sorted(glob.glob("csrc/cuda/*.cu")) + sorted(glob.glob("csrc/cuda/*_binding.cpp"))
        print(f"pygan build: CUDA kernels ON ({why}); "
              f"architectures {os.environ['TORCH_CUDA_ARCH_LIST']}")
        return CUDAExtension("pygan._C", sources, extra_link_args=openmp,
                             extra_compile_args={"cxx": cxx, "nvcc": ["-O3"]})
    print(f"pygan build: CUDA kernels OFF ({why}); CPU kernels only")
    return CppExtension("pygan._C", sources, extra_compile_args={"cxx": cxx},
                        extra_link_args=openmp)


setup(ext_modules=[extension()], cmdclass={"build_ext": BuildExtension})
