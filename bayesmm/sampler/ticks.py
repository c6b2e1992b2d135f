"""Ticks from inside the compiled sampler: how far the chains are, and a way to stop them early.

The sampler's loop calls :func:`tick` before its first iteration and after every :func:`tick_every`
iterations (2% of a chain). On a CPU a tick is an XLA custom call (``bayesmm_chain_tick``, the typed FFI)
whose handler is a ``ctypes`` function: unlike ``jax.debug.callback`` or ``io_callback``, a custom call can be
exported with ``jax.export`` and kept in the compilation cache, so the stored program (:mod:`.stored`) keeps
its ticks and a fresh process does not trace the sampler again. On other backends the tick is an
``io_callback`` (such a program is traced in each process). The tick passes no array but the iteration
number, and takes nothing from the draws: the same seed gives the same draws whether anyone listens or not.

A tick returns 1 when the host asks the chains to stop (Ctrl-C): the loop then ends, and the host raises
``KeyboardInterrupt`` once the program has returned (:func:`run_interruptibly`), so that no compiled program
is left running when Python takes over again.
"""
from __future__ import annotations

import ctypes
import functools
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["TARGET", "tick", "tick_every", "export_checks", "ensure_registered", "ChainTicks", "listener",
           "run_interruptibly"]

#: the custom call's name in the compiled programs
TARGET = "bayesmm_chain_tick"
#: ticks per chain and run: a tick costs 20-40 us (the GIL taken from an XLA thread), so a few dozen cost
#: nothing measurable (benchmarks/progress.py), and Ctrl-C waits at most 2% of a chain's run
TICKS_PER_CHAIN = 50


def tick_every(iterations: int) -> int:
    """How many iterations of a chain pass between two ticks."""
    return max(1, int(iterations) // TICKS_PER_CHAIN)


class ChainTicks:
    """What one program run's ticks told the host: ``weight`` chains per tick (a device's vectorized chains
    tick once for all), ``every`` iterations between ticks, ``total`` iterations of all chains."""

    def __init__(self, total: int, every: int, weight: int = 1):
        self.total, self.every, self.weight = int(total), int(every), int(weight)
        self.done = 0
        self.latest = 0  # the last iteration number a tick reported: warmup or draws
        self.started: float | None = None  # when the first chain started iterating
        self.stop = False

    def record(self, iteration: int) -> int:
        """Count a tick (``iteration`` iterations of one chain are done); 1 when the chains should stop."""
        if iteration == 0:
            if self.started is None:
                self.started = time.perf_counter()
        else:
            self.done += self.every * self.weight
        self.latest = iteration
        return int(self.stop)

    @property
    def rate(self) -> float | None:
        """Iterations of all chains per second since the first tick, once there is a measure of it."""
        if self.started is None or not self.done:
            return None
        seconds = time.perf_counter() - self.started
        return self.done / seconds if seconds > 0 else None


_LISTENER: list[ChainTicks | None] = [None]


def listener() -> ChainTicks | None:
    """The :class:`ChainTicks` of the programs running now, if any."""
    return _LISTENER[0]


def _host_tick(iteration) -> int:
    listener = _LISTENER[0]
    return listener.record(int(iteration)) if listener is not None else 0


# The typed FFI's call frame (xla/ffi/api/c_api.h, API 0.1): only the fields the handler reads.
class _Extension(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("type", ctypes.c_int), ("next", ctypes.c_void_p)]


class _ApiVersion(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("major", ctypes.c_int), ("minor", ctypes.c_int)]


class _Metadata(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("api_version", _ApiVersion), ("traits", ctypes.c_uint32),
                ("state_type_id", ctypes.c_int64)]


class _MetadataExtension(ctypes.Structure):
    _fields_ = [("base", _Extension), ("metadata", ctypes.POINTER(_Metadata))]


class _Buffers(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p), ("size", ctypes.c_int64),
                ("types", ctypes.c_void_p), ("buffers", ctypes.POINTER(ctypes.c_void_p))]


class _CallFrame(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.POINTER(_Extension)),
                ("api", ctypes.c_void_p), ("ctx", ctypes.c_void_p), ("stage", ctypes.c_int),
                ("args", _Buffers), ("rets", _Buffers)]


class _Buffer(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p), ("dtype", ctypes.c_int),
                ("data", ctypes.c_void_p)]


_METADATA_EXTENSION = 1


def _int32_at(pointer) -> ctypes.c_int32:
    return ctypes.cast(ctypes.cast(pointer, ctypes.POINTER(_Buffer)).contents.data, ctypes.POINTER(ctypes.c_int32))


def _handler(frame_pointer):
    """The custom call: reads the iteration number, writes the stop flag; returns no error (NULL)."""
    try:
        frame = frame_pointer.contents
        extension = frame.extension_start
        if extension and extension.contents.type == _METADATA_EXTENSION:  # XLA asks which API it speaks
            metadata = ctypes.cast(extension, ctypes.POINTER(_MetadataExtension)).contents.metadata.contents
            metadata.api_version.major, metadata.api_version.minor, metadata.traits = 0, 1, 0
            return None
        _int32_at(frame.rets.buffers[0])[0] = _host_tick(_int32_at(frame.args.buffers[0])[0])
    except Exception:  # noqa: BLE001 - a tick must never break the chains: it only reports
        pass
    return None


_HANDLER = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(_CallFrame))(_handler)


@functools.lru_cache(maxsize=1)
def ensure_registered() -> bool:
    """Register the tick's custom call with XLA's CPU backend (once per process) and check that a program
    with it runs; ``False`` where it does not (then ticks are ``io_callback``\\ s)."""
    try:
        new_capsule = ctypes.pythonapi.PyCapsule_New
        new_capsule.restype = ctypes.py_object
        new_capsule.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
        capsule = new_capsule(ctypes.cast(_HANDLER, ctypes.c_void_p).value, b"xla._CUSTOM_CALL_TARGET", None)
        jax.ffi.register_ffi_target(TARGET, capsule, platform="cpu", api_version=1)
        # a numpy argument: jnp.int32(0) would compile a conversion program of its own first
        return int(jax.jit(_custom_call, backend="cpu")(np.int32(0))) == 0
    except Exception:  # noqa: BLE001 - an XLA without this FFI: the portable, uncached callback
        return False


def _custom_call(iteration):
    return jax.ffi.ffi_call(TARGET, jax.ShapeDtypeStruct((), jnp.int32), has_side_effect=True,
                            vmap_method="sequential")(iteration)


def tick(iteration):
    """In a traced sampler: tell the host that a chain has done ``iteration`` iterations (0: it starts);
    returns the stop flag (int32: 1 stops the chains)."""
    iteration = jnp.asarray(iteration, jnp.int32)
    if jax.default_backend() == "cpu" and ensure_registered():
        return _custom_call(iteration)
    from jax.experimental import io_callback

    return io_callback(lambda i: jnp.int32(_host_tick(i)), jax.ShapeDtypeStruct((), jnp.int32), iteration,
                       ordered=False)


def export_checks() -> list:
    """The safety check ``jax.export`` must skip for a program with ticks (a custom call it does not know)."""
    return [jax.export.DisabledSafetyCheck.custom_call(TARGET)]


def run_interruptibly(work, ticks: ChainTicks, refresh=None, period: float = 0.1):
    """``work()`` (which runs compiled programs that tick into ``ticks``) in a worker thread, while this
    thread waits, calling ``refresh()`` every ``period`` seconds. A blocked compiled call cannot be
    interrupted, but this wait can: on Ctrl-C the chains are asked to stop at their next tick, the wait goes
    on until the programs have returned (a second Ctrl-C stops waiting), and ``KeyboardInterrupt`` is raised.
    The process is then free of running programs and usable."""
    outcome: dict = {}
    finished = threading.Event()

    def target():
        try:
            outcome["value"] = work()
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = err
        finally:
            finished.set()

    _LISTENER[0] = ticks
    try:
        threading.Thread(target=target, name="bayesmm-chains", daemon=True).start()
        try:
            while not finished.wait(period):
                if refresh is not None:
                    refresh()
        except KeyboardInterrupt:
            ticks.stop = True
            while not finished.wait(period):
                pass
            raise
    finally:
        if _LISTENER[0] is ticks:
            _LISTENER[0] = None
    if "error" in outcome:
        raise outcome["error"]
    if ticks.stop:
        raise KeyboardInterrupt
    return outcome["value"]
