"""What the ops' Python functions share in checking their arguments: the
wrappers' checks of Python numbers, which the C++ cannot see (the dispatcher
turns a float into an int argument's value and a bool into 0 or 1 silently),
and the references' use of the kernels' own checks (the check ops of
csrc/<op>_checks.cpp)."""
import contextlib
import numbers
import operator

import torch


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


@contextlib.contextmanager
def as_reference(op: str, reference: str):
    """Runs a kernel check op for ``reference``, a Python function: the
    check's RuntimeError, in the kernels' words, becomes the ValueError a
    Python function raises for a bad value, naming the reference, not the op."""
    try:
        yield
    except RuntimeError as exc:
        message = str(exc)
        if not message.startswith(f"{op}: "):
            raise
        raise ValueError(reference + message[len(op):]) from None
