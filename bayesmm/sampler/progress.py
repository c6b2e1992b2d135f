"""The progress line of a fit on standard error: one line per stage (compiling, sampling, summarising),
rewritten in place while the stage runs and ended with a newline before anything else is printed.

Shown by default where someone watches (standard error is a terminal, or a Jupyter kernel), never in a
script's log or under a test runner; ``progress=True`` forces it and ``progress=False`` silences it. What the
line says never changes what the chains draw: the ticks it is made from are in the sampler either way
(:mod:`.ticks`). No jax here.
"""
from __future__ import annotations

import contextlib
import contextvars
import sys
import time
import warnings

__all__ = ["ProgressLine", "interactive", "shows", "showing", "current_line", "sampling_text"]

PREFIX = "bayesmm: "


def interactive() -> bool:
    """Whether someone watches standard error: a terminal, or a Jupyter kernel (whose stderr is a pipe)."""
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # a replaced or closed stream
        pass
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def shows(progress: bool | None) -> bool:
    """``progress=True``/``False`` as given; ``None``: :func:`interactive`."""
    return interactive() if progress is None else bool(progress)


class ProgressLine:
    """One fit's progress on standard error (``sys.stderr`` at each write, so a redirected stream is honoured).
    A silent line (``show=False``) takes every call and writes nothing."""

    def __init__(self, show: bool):
        self.show = bool(show)
        self.stage_name: str | None = None
        self._since = time.perf_counter()
        self._width = 0
        self._text = ""

    def stage(self, name: str, text: str | None = None) -> None:
        """End the current stage's line and start the stage ``name``, its line reading ``text`` (or ``name``)."""
        self.finish()
        self.stage_name, self._since = name, time.perf_counter()
        self._write(text or name)

    def show_stage(self, name: str, text: str) -> None:
        """Rewrite the line of the stage ``name`` with ``text``, starting the stage if it is not the current one."""
        if self.stage_name == name:
            self.update(text)
        else:
            self.stage(name, text)

    def update(self, text: str) -> None:
        """Rewrite the current stage's line (unless it already reads ``text``: a notebook gets no needless writes)."""
        if self.stage_name is not None and (text != self._text or not self._width):
            self._write(text)

    def finish(self, text: str | None = None) -> None:
        """End the current stage's line (with ``text``, else its name and the seconds it took) and a newline."""
        if self.stage_name is None:
            return
        seconds = time.perf_counter() - self._since
        self._write(text if text is not None else f"{self.stage_name} ... {seconds:.1f} s")
        self._emit("\n")
        self.stage_name, self._width = None, 0

    def break_line(self) -> None:
        """End the line as it stands (a newline), so that something else can print; the stage goes on, on a
        line of its own at its next update."""
        if self.stage_name is not None and self._width:
            self._emit("\n")
            self._width = 0

    def _write(self, text: str) -> None:
        self._text = text
        text = PREFIX + text
        self._emit(("\r" if self._width else "") + text + " " * max(0, self._width - len(text)))
        self._width = len(text)

    def _emit(self, text: str) -> None:
        if not self.show or sys.stderr is None:
            return
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except (OSError, ValueError):  # a closed or broken stream: the fit goes on silently
            self.show = False


def sampling_text(chains: int, done: int, total: int, rate: float | None, warmup: bool,
                  label: str = "sampling") -> str:
    """``sampling 4 chains  45% (warmup)  2,480 draws/s  2 s left``: ``done`` of ``total`` iterations of all
    chains; the draws per second count every iteration of every chain, warmup included."""
    fraction = min(1.0, done / total) if total else 1.0
    text = f"{label} {chains} chain{'s' if chains != 1 else ''} {100 * fraction:3.0f}%"
    if warmup:
        text += " (warmup)"
    if rate:
        text += f"  {rate:,.0f} draws/s  {_duration(max(0, total - done) / rate)} left"
    return text


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"


_CURRENT: contextvars.ContextVar[ProgressLine | None] = contextvars.ContextVar("bayesmm_progress", default=None)


def current_line() -> ProgressLine | None:
    """The line of the fit running in this context (:func:`showing`), if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def showing(progress: bool | None):
    """The progress line of one fit (:func:`shows` decides whether it writes), current while the block runs;
    a warning raised meanwhile first ends the line, so that it prints on a line of its own. The line ends
    when the block does."""
    line = ProgressLine(shows(progress))
    token = _CURRENT.set(line)
    shown = warnings.showwarning

    def show_warning(*args, **kwargs):
        line.break_line()
        shown(*args, **kwargs)

    if line.show:
        warnings.showwarning = show_warning
    try:
        yield line
    except BaseException:  # an error or Ctrl-C: the line stays as it stood, ended, before the error is shown
        line.break_line()
        line.stage_name = None
        raise
    finally:
        line.finish()
        if warnings.showwarning is show_warning:
            warnings.showwarning = shown
        _CURRENT.reset(token)
