"""Helpers of the Python argument checks that repeat csrc/<op>_args.h for
the fake kernels (and rollout's reference): the C++ checks stream values with
operator<<, so these render dtypes, layouts and floats the same way, and a
message means the same thing whichever side raised it. Also the wrappers'
checks of Python numbers, which the C++ cannot see: the dispatcher turns a
float into an int argument's value and a bool into 0 or 1 silently."""
import numbers
import operator

import torch

# c10's names of the scalar types (what `<< tensor.scalar_type()` prints).
_DTYPE_NAMES = {
    torch.float32: "Float", torch.float64: "Double", torch.float16: "Half",
    torch.bfloat16: "BFloat16", torch.int64: "Long", torch.int32: "Int", torch.int16: "Short",
    torch.int8: "Char", torch.uint8: "Byte", torch.bool: "Bool",
    torch.complex32: "ComplexHalf", torch.complex64: "ComplexFloat",
    torch.complex128: "ComplexDouble",
}
_LAYOUT_NAMES = {
    torch.strided: "Strided", torch.sparse_coo: "Sparse", torch.sparse_csr: "SparseCsr",
    torch.sparse_csc: "SparseCsc", torch.sparse_bsr: "SparseBsr", torch.sparse_bsc: "SparseBsc",
    torch._mkldnn: "Mkldnn", torch.jagged: "Jagged",
}


def dtype_name(dtype: torch.dtype) -> str:
    return _DTYPE_NAMES.get(dtype, str(dtype))


def layout_name(layout: torch.layout) -> str:
    return _LAYOUT_NAMES.get(layout, str(layout))


def num(x) -> str:
    """A double as std::ostream prints it by default (%g, 6 digits)."""
    return format(float(x), "g")


def require(ok, message: str, error: type = RuntimeError) -> None:
    if not ok:
        raise error(message)


def index_arg(op: str, name: str, value) -> int:
    """An int argument as an int: ints and other integral types (numpy,
    SymInt) pass; bool, float and the rest raise TypeError naming it."""
    if not isinstance(value, bool):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"{op}: {name} must be an int, got {value!r} ({type(value).__name__})")


def real_arg(op: str, name: str, value) -> float:
    """A float argument as a float: real numbers and one-element tensors
    (torch.optim takes a Tensor lr) pass; bool, str and the rest raise
    TypeError naming it."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"{op}: {name} must be a real number, got {value!r} "
                    f"({type(value).__name__})")
