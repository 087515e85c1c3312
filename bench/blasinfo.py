"""What a PyTorch or numpy baseline ran on, for its JSON line.

info() names the BLAS library the process loaded, the OpenBLAS kernel it
picked (openblas_get_corename: a forced OPENBLAS_CORETYPE or a missing
libopenblas, i.e. Debian's reference BLAS, shows here), the torch and numpy
versions and the load average, so a ratio is never quoted without the
baseline it was measured against. Import it after torch or numpy.
"""
import ctypes, os, statistics, sys


def _blas_libs():
    with open("/proc/self/maps") as f:
        paths = {l.split()[-1] for l in f if "/" in l and ("blas" in l.lower() or "mkl" in l.lower())}
    # GPU BLAS libraries (a CUDA build of torch maps libcublasLt) do not
    # run the CPU products: leave them out.
    return sorted(p for p in paths if not any(g in p.lower() for g in ("cublas", "hipblas", "rocblas")))


def info():
    out = {"blas": None, "blas_core": None,
           "load": open("/proc/loadavg").read().split()[:3],
           "env_coretype": os.environ.get("OPENBLAS_CORETYPE")}
    for name in ("torch", "numpy"):
        if name in sys.modules:
            out[name] = sys.modules[name].__version__
    if "torch" in sys.modules:  # the BLAS torch was built with (mkl, open, ...)
        cfg = sys.modules["torch"].__config__.show()
        out["torch_blas"] = next((w.split("=", 1)[1].rstrip(",") for w in cfg.split() if w.startswith("BLAS_INFO=")), None)
    for p in _blas_libs():
        name = "/".join(p.split("/")[-2:])  # openblas-pthread/libblas.so.3
        out["blas"] = name
        try:
            f = ctypes.CDLL(p).openblas_get_corename
        except (OSError, AttributeError):
            continue  # liblapack, MKL, or a BLAS that is not OpenBLAS
        f.restype = ctypes.c_char_p
        out["blas_core"] = f().decode()
        break
    return out


def spread(ratios):
    """min / median / max of per-round ratios, as the bench tables print them."""
    rs = sorted(ratios)
    return f"{rs[0]:.2f} / {statistics.median(rs):.2f} / {rs[-1]:.2f}"


def describe(run):
    """One line naming the baseline of a JSON line that info() went into."""
    lib = "numpy " + run["numpy"] if "torch" not in run else "PyTorch " + run["torch"]
    return f"{lib} on {run['blas']} kernel {run['blas_core']}; load average {' '.join(run['load'])}"


if __name__ == "__main__":
    import json
    import numpy  # noqa: F401  (loads libblas.so.3 as the baselines do)
    print(json.dumps(info()))
