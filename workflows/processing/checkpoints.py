"""Chunk checkpoints of the main pass, so that an interrupted run resumes where it stopped.

:class:`ResumableCheckpointer` stores the output of every chunk that succeeded below a
period's ``.checkpoints/`` (:data:`workflows.processing.results.CHECKPOINTS`) and hands it
back to coffea's Runner on the next run; :func:`checkpoint_count` tells how many stored
outputs a run can resume from, removing those that cannot be read back whole.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from pathlib import Path

from processors.output import ChunkOutput

log = logging.getLogger(__name__)


class ResumableCheckpointer:
    """coffea's SimpleCheckpointer, adapted to resuming.

    * a failed chunk is never stored (so a rerun tries it again);
    * a checkpoint is written in full (closed and fsynced, so that a full disk is an
      error here and not a truncated file later) under a temporary name and renamed, so
      a worker killed while writing leaves no half-written checkpoint behind;
    * an output loaded from a checkpoint is marked (``resumed_chunks``: 1), so the
      summary counts the chunks that were not recomputed.
    """

    def __new__(cls, directory: Path):
        import cloudpickle
        import lz4.frame
        from coffea.processor import SimpleCheckpointer

        class Checkpointer(SimpleCheckpointer):
            def load(self, metadata, processor_instance):
                out = super().load(metadata, processor_instance)
                if out is not None and isinstance(out.get("out"), ChunkOutput):
                    out["out"].resumed_chunks = 1
                return out

            def save(self, output, metadata, processor_instance):
                chunk = output.get("out")
                if not isinstance(chunk, ChunkOutput) or chunk.failed:
                    return None
                path = Path(self.filepath(metadata, processor_instance))
                tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.part")
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with open(tmp, "wb") as raw:
                        with lz4.frame.open(raw, "wb") as fout:
                            cloudpickle.dump(output, fout)
                        raw.flush()
                        os.fsync(raw.fileno())
                    os.replace(tmp, path)
                except Exception:  # no space, no permission: the chunk is just not checkpointed
                    with contextlib.suppress(OSError):
                        tmp.unlink(missing_ok=True)
                return None

        return Checkpointer(str(directory))


def _unreadable_checkpoint(path: Path) -> str | None:
    """Why a checkpoint cannot be loaded whole (None: it can): a complete lz4 frame
    holding a complete pickle."""
    import lz4.frame

    try:
        data = lz4.frame.decompress(path.read_bytes())
    except OSError as e:
        return e.strerror or str(e)
    except Exception as e:  # a truncated or damaged frame
        return f"{type(e).__name__}: {e}"
    return None if data.endswith(b".") else "the pickled output is incomplete"


def checkpoint_count(directory: Path) -> int:
    """Usable chunk outputs stored below a checkpoint directory.

    A checkpoint that cannot be read back whole (truncated by a full disk, or by a crash
    before it reached the disk) is removed with a warning naming it, and its chunk is
    recomputed; so are the chunks of a directory that cannot be listed.
    """
    def unlisted(err: OSError) -> None:
        if isinstance(err, FileNotFoundError):  # nothing checkpointed yet
            return
        log.warning("%s: checkpoint directory cannot be read (%s); its chunks are recomputed",
                    err.filename, err.strerror or err)

    count = 0
    for root, _, names in os.walk(directory, onerror=unlisted):
        for name in sorted(n for n in names if n.endswith(".coffea")):
            path = Path(root) / name
            problem = _unreadable_checkpoint(path)
            if problem is None:
                count += 1
                continue
            log.warning("%s: unreadable checkpoint (%s): removed, its chunk is recomputed", path, problem)
            with contextlib.suppress(OSError):
                path.unlink()
    return count

