"""Verified downloads through allensdk: check every file, delete a broken one, retry.

allensdk's getters use a ``lazy`` strategy: an existing file is read, a missing one is
downloaded first. A download cut short can still leave a file behind (a truncated body
that the server announced without a length, a process killed mid-write), and a lazy
getter would then read it forever after. :func:`fetch_verified` wraps one getter call:
after it returns, the file is verified (NRRD: header and full data length; JSON: parses
to a non-empty table); on any failure the file is deleted and the call retried with
exponential backoff, up to ``RetryPolicy.attempts``. After the last failure it raises
:class:`DownloadError` naming the URL and the file, with nothing broken left behind.

In a user's own cache (``keep_broken=True``) a file that fails its check is never deleted:
it is moved aside to ``<name>.broken-<UTC time>`` beside it, with a warning naming both
paths, and the download goes on as above.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nrrd
import numpy as np

log = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    """A file could not be fetched and verified; the message names the URL and the file."""


class CorruptFile(ValueError):
    """A cached file failed verification."""


@dataclass
class RetryPolicy:
    """How often and how patiently to retry a download.

    Parameters
    ----------
    attempts : total tries per file (>= 1).
    backoff_s : wait before the second try; each further wait is ``factor`` times longer.
    """

    attempts: int = 4
    backoff_s: float = 1.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"download.attempts must be >= 1, got {self.attempts}")
        if self.backoff_s < 0 or self.factor < 1:
            raise ValueError("download.backoff_s must be >= 0 and download.factor >= 1")

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        return self.backoff_s * self.factor ** (attempt - 1)


@dataclass
class DownloadStats:
    """Counts for a download session (reported by the download rules)."""

    files_verified: int = 0
    retries: int = 0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"files_verified": self.files_verified, "retries": self.retries, "failures": self.failures}


_NRRD_BYTES = {"float": 4, "double": 8, "uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "uint32": 4, "int32": 4,
               "unsigned char": 1, "unsigned int": 4, "short": 2, "int": 4, "uint": 4}


def verify_nrrd(path: str | Path) -> None:
    """Raise :class:`CorruptFile` unless ``path`` is a complete NRRD volume.

    Checks the header (dimension, sizes) and reads the whole data block, whose element
    count must equal the product of the sizes.
    """
    path = Path(path)
    try:
        data, header = nrrd.read(str(path))
    except Exception as err:  # truncated gzip, bad magic, short raw data
        raise CorruptFile(f"{path}: not a readable NRRD file ({type(err).__name__}: {err})") from err
    sizes = [int(s) for s in np.atleast_1d(header.get("sizes", []))]
    if not sizes or int(header.get("dimension", len(sizes))) != len(sizes):
        raise CorruptFile(f"{path}: NRRD header lacks consistent 'dimension'/'sizes'")
    if int(np.prod(sizes)) != int(np.asarray(data).size):
        raise CorruptFile(f"{path}: NRRD data has {np.asarray(data).size} values, header says {int(np.prod(sizes))}")


def verify_json_table(path: str | Path) -> None:
    """Raise :class:`CorruptFile` unless ``path`` holds a non-empty JSON list."""
    path = Path(path)
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CorruptFile(f"{path}: not valid JSON ({err})") from err
    if not isinstance(rows, list) or not rows:
        raise CorruptFile(f"{path}: expected a non-empty JSON list")


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".tmp")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def move_aside(path: Path, reason: BaseException | str) -> Path | None:
    """Move a cached file that failed its check to ``<name>.broken-<UTC time>``; return the new path."""
    path = Path(path)
    if not path.exists():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.broken-{stamp}-{n}")
        n += 1
    path.replace(target)
    log.warning("%s failed its check (%s); moved aside to %s (your cache: nothing was deleted)", path, reason, target)
    return target


def fetch_verified(
    fetch: Callable[[], Any],
    path: str | Path,
    verify: Callable[[Path], None],
    *,
    url: Callable[[], str] | str,
    policy: RetryPolicy,
    stats: DownloadStats | None = None,
    sleep: Callable[[float], None] = time.sleep,
    keep_broken: bool = False,
) -> Any:
    """Call ``fetch`` (an allensdk getter that writes ``path``), verify ``path``, retry on failure.

    ``url`` (or a callable giving it, evaluated after a failure) is only used in messages.
    ``keep_broken``: move a file that fails its check aside (:func:`move_aside`) instead of
    deleting it (for a user's own cache). Returns what the successful ``fetch`` returned.
    """
    path = Path(path)
    last: BaseException | None = None
    moved: list[str] = []
    for attempt in range(1, policy.attempts + 1):
        try:
            if path.exists():  # a file left by an earlier run must pass too
                verify(path)
            result = fetch()
            verify(path)
            if stats is not None:
                stats.files_verified += 1
            return result
        except Exception as err:  # noqa: BLE001 - every failure is retried, then reported
            last = err
            if keep_broken:
                aside = move_aside(path, f"{type(err).__name__}: {err}")
                if aside is not None:
                    moved.append(str(aside))
                _remove(path.with_name(path.name + ".tmp"))
            else:
                _remove(path)
            if attempt < policy.attempts:
                wait = policy.wait(attempt)
                if stats is not None:
                    stats.retries += 1
                log.warning("attempt %d/%d for %s failed (%s: %s); retrying in %.1f s",
                            attempt, policy.attempts, path, type(err).__name__, err, wait)
                sleep(wait)
    where = url() if callable(url) else url
    if stats is not None:
        stats.failures.append(str(path))
    fate = (f"the broken file(s) were moved aside: {', '.join(moved)}" if moved else "no broken file was left") \
        if keep_broken else "the broken file was removed"
    raise DownloadError(
        f"download of {where} into {path} failed after {policy.attempts} attempts: "
        f"{type(last).__name__}: {last}; {fate}"
    ) from last


class UrlRecorder:
    """Wraps an allensdk Api instance's HTTP calls to remember the last URL asked for."""

    def __init__(self, api) -> None:
        self.last = f"{getattr(api, 'api_url', 'the Allen API')}"
        for name in ("retrieve_file_over_http", "retrieve_parsed_json_over_http"):
            original = getattr(api, name)

            def wrapped(url, *args, _original=original, **kwargs):
                self.last = url
                return _original(url, *args, **kwargs)

            setattr(api, name, wrapped)

    def __call__(self) -> str:
        return self.last
