"""Stopping a run from outside: Ctrl-C (SIGINT) and SIGTERM (what `kill`,
batch schedulers and container runtimes send) both finish the current step
and save a checkpoint; a second signal aborts at once."""
import contextlib
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """The first stop signal received, or None: the loop checks it between steps."""

    def __init__(self):
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by this signal: 128 + number."""
        return 128 + self.signum if self.signum is not None else 0


@contextlib.contextmanager
def stop_requests():
    """Yields a :class:`StopRequest` that SIGINT or SIGTERM sets; while it is
    set, a second signal raises KeyboardInterrupt. Outside the main thread
    (where Python cannot install handlers) the signals are left alone."""
    request = StopRequest()

    def handler(signum, frame):
        if request:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}")
        request.signum = signum
        how = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        print(f"\n{how}: finishing this step and saving a checkpoint (again to abort)",
              flush=True)

    try:
        previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    except ValueError:  # not the main thread
        yield request
        return
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
