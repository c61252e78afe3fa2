"""Checkpoints that do not stop training: a host snapshot taken beside the step, written in the background.

A checkpoint has two halves. :class:`HostSnapshot` copies the tensors (weights in the canonical
layout, the optimizer state) into host buffers that are allocated once and reused: on CUDA into
pinned memory on a side stream, so the training loop only launches the copies, and the next
optimizer step waits for them on the device (:meth:`HostSnapshot.fence`), never on the host; on a
CPU it is a plain copy. :class:`BackgroundWriter` then runs the write (safetensors, resume state,
manifest last, each file atomic: see ``checkpoint.py``) on a thread while training goes on.

There is only ever one set of host buffers: before the next snapshot the trainer waits for the
previous write (:meth:`BackgroundWriter.wait`), which costs nothing unless writing a checkpoint takes
longer than training up to the next one. A kill at any moment leaves the newest checkpoint whose
manifest was written, because the manifest is still the last file written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

# Pinned host memory comes in slabs: CUDA's host allocator rounds each allocation up to a power of
# two, so one slab per tensor (or one for everything) could waste up to half of it.
SLAB_BYTES = 512 << 20
_ALIGN = 64


@dataclass(frozen=True)
class Source:
    """One tensor to snapshot: copied as is, or transposed (the canonical layout of a Linear weight)."""

    tensor: torch.Tensor
    transpose: bool = False
    group: int = 0  # tensors of different groups never share a slab (each group is saved on its own)

    @property
    def shape(self) -> tuple[int, ...]:
        shape = tuple(self.tensor.shape)
        return shape[::-1] if self.transpose else shape


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


Layout = tuple[tuple[tuple[int, ...], torch.dtype, int], ...]


def layout_of(sources: Sequence[Source]) -> Layout:
    """(shape, dtype, group) of every source, what the host buffers must match."""
    return tuple((s.shape, s.tensor.dtype, s.group) for s in sources)


class HostSnapshot:
    """Host copies of a fixed list of tensors, refreshed by :meth:`capture`.

    ``pinned`` (CUDA) allocates page-locked slabs, which makes the device-to-host copies
    asynchronous; allocating them takes seconds for a large model, so :meth:`allocate` can run on
    the background thread ahead of the first checkpoint.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self._layout: Layout | None = None
        self._buffers: list[torch.Tensor] = []
        self._stream: Any = torch.cuda.Stream(device) if self.cuda else None
        self._done: Any = None  # the CUDA event recorded after the last capture's copies
        self._fenced = True
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self._buffers)

    def allocate(self, layout: Layout) -> None:
        """Host buffers for ``layout`` (see :func:`layout_of`), reused if it is unchanged."""
        with self._lock:
            if layout == self._layout:
                return
            self._buffers, self._layout = [], None  # drop the old set before allocating the new one
            sizes = [int(torch.Size(shape).numel()) * _itemsize(dtype) for shape, dtype, _ in layout]
            places: list[tuple[int, int]] = []  # (slab, offset) of each tensor
            slab_sizes: list[int] = []
            used = 0
            group = layout[0][2] if layout else 0
            for nbytes, (_, _, g) in zip(sizes, layout, strict=True):
                if used and (used + nbytes > SLAB_BYTES or g != group):
                    slab_sizes.append(used)
                    used = 0
                group = g
                places.append((len(slab_sizes), used))
                used += -(-nbytes // _ALIGN) * _ALIGN
            slab_sizes.append(used)
            slabs = [torch.empty(max(1, n), dtype=torch.uint8, pin_memory=self.cuda) for n in slab_sizes]
            if not self.cuda:
                for page_in in slabs:  # fault the pages in now (this runs ahead of the first checkpoint)
                    page_in.zero_()
            buffers = []
            for (slab, offset), nbytes, (shape, dtype, _) in zip(places, sizes, layout, strict=True):
                if nbytes:
                    buffers.append(slabs[slab][offset : offset + nbytes].view(dtype).view(shape))
                else:
                    buffers.append(torch.empty(shape, dtype=dtype))
            self._buffers, self._layout = buffers, layout

    def capture(self, sources: Sequence[Source]) -> list[torch.Tensor]:
        """Start copying ``sources`` into the host buffers; returns them (valid after :meth:`wait`)."""
        self.allocate(layout_of(sources))
        buffers = self._buffers
        if not self.cuda:
            for src, dst in zip(sources, buffers, strict=True):
                dst.copy_(src.tensor.detach().t() if src.transpose else src.tensor.detach())
            return buffers
        main = torch.cuda.current_stream(self.device)
        self._stream.wait_stream(main)  # the copies see the weights as the last optimizer step left them
        with torch.cuda.stream(self._stream):
            for src, dst in zip(sources, buffers, strict=True):
                t = src.tensor.detach()
                dst.copy_(t.t() if src.transpose else t, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self._stream)
        self._done = done
        self._fenced = False
        return buffers

    def fence(self) -> None:
        """Make the device wait for the copies before anything overwrites their sources (no host wait)."""
        if self.cuda and not self._fenced and self._done is not None:
            torch.cuda.current_stream(self.device).wait_event(self._done)
            self._fenced = True

    def wait(self) -> None:
        """Block this thread until the last capture's copies are in host memory."""
        if self.cuda and self._done is not None:
            self._done.synchronize()


class BackgroundWriter:
    """Runs one job at a time on a background thread; its failure is raised by the next :meth:`wait`."""

    def __init__(self, name: str = "soma-checkpoint-writer") -> None:
        self.name = name
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.busy_s = 0.0  # how long the last job ran

    def submit(self, job: Callable[[], None]) -> None:
        """Start ``job`` once the previous one has finished (raising the previous one's error)."""
        self.wait()
        self._thread = threading.Thread(target=self._run, args=(job,), name=self.name, daemon=True)
        self._thread.start()

    def _run(self, job: Callable[[], None]) -> None:
        start = time.perf_counter()
        try:
            job()
        except BaseException as exc:  # re-raised on the training thread
            self._error = exc
        finally:
            self.busy_s = time.perf_counter() - start

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
