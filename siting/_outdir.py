"""Output folders siting owns: checked before the work, locked while written, committed whole.

Every command that writes a folder of results (``run``, ``update``, ``locate``, ``batch``) goes
through :class:`OutputFolder`:

1. **Before any computation** (:meth:`OutputFolder.__enter__`): the folder must be creatable and
   writable (a probe file is written and removed, so a read-only file system or a full quota is
   caught now, not after an hour of work), have room for the outputs, and either be empty or
   hold a siting manifest. A folder with other files is refused unless ``force=True``, and even
   then only siting's own file names are touched.
2. **A lock** (``.siting.lock``, an OS file lock released even when the process is killed)
   serialises commands on one folder; a second command is refused with a clear message.
3. **Leftovers** of a killed command (``.siting-run-*`` staging folders) are removed, and an
   unfinished commit is finished first (see 4).
4. **Commit** (:meth:`OutputFolder.commit`): every file is written into a staging folder inside
   the output folder; then a journal (``.siting-commit.json``) is written atomically - the
   commit point - listing what to move where, what to remove (files of the earlier run that
   this one does not write: only names the earlier manifest lists) and any file outside the
   folder to replace at the same time (the registry of ``siting update``, its history copy).
   The moves follow, the manifest last, then the journal is removed. A crash before the journal
   leaves the earlier state; a crash after it is rolled forward by the next command on the
   folder. So the folder and the registry change together or not at all.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from siting import _log
from siting._errors import FolderError
from siting._fork import Job, can_fork
from siting._io import share_mode

__all__ = [
    "JOURNAL",
    "LOCK",
    "STAGE_PREFIX",
    "FolderError",
    "KeepNumbered",
    "OutputFolder",
    "Replace",
    "fault_point",
    "is_siting_manifest",
    "sha256_file",
]

LOCK: Final = ".siting.lock"
JOURNAL: Final = ".siting-commit.json"
STAGE_PREFIX: Final = ".siting-run-"
#: Names of the files that mark a folder as written by siting.
MANIFESTS: Final = ("manifest.json", "batch_manifest.json")
#: Room kept free beyond the expected size of the outputs.
_MARGIN_BYTES: Final = 16 * 1024 * 1024
#: Expected size of a run's outputs when no earlier run tells.
DEFAULT_NEED_BYTES: Final = 64 * 1024 * 1024


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL at the named point when ``SITING_KILL_AT`` names it.

    A test hook for crash safety: the tests kill ``run`` and ``update`` at every point where
    a crash could leave a half-written state, then check that the earlier state or the new
    state is on disk and that a rerun finishes the job. Costs one dictionary lookup otherwise.
    """
    if os.environ.get("SITING_KILL_AT") == name:
        import signal

        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_siting_manifest(path: Path) -> bool:
    """Whether ``path`` is a manifest siting wrote (JSON with a ``siting_version``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "siting_version" in data


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "siting_version" in data else None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_json_atomic(data: Mapping[str, Any], path: Path) -> None:
    fd, name = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        share_mode(Path(name))
        Path(name).replace(path)
    finally:
        Path(name).unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _link_new(src: Path, dst: Path) -> bool:
    """Put ``src`` at ``dst`` only if ``dst`` does not exist (checked by the OS, atomically)."""
    try:
        os.link(src, dst)
    except FileExistsError:
        return False
    except OSError as exc:  # a file system without hard links: create exclusively, then copy
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        try:
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
            shutil.copyfileobj(inp, out)
    return True


@dataclass(frozen=True)
class Replace:
    """Replace ``dst`` (outside the output folder) with the staged ``src`` at commit.

    ``before`` and ``after`` are the SHA-256 of ``dst`` as it was when staged and of ``src``:
    a roll-forward replaces ``dst`` only if it is still ``before`` (a file changed by someone
    else since is never overwritten by a stale commit).
    """

    src: str
    dst: str
    before: str
    after: str


@dataclass(frozen=True)
class KeepNumbered:
    """Keep the staged ``src`` as ``<folder>/<stem>.vNNNN<suffix>`` under a number never used
    (the highest in the folder plus one, claimed by the OS at write time: never replaced)."""

    src: str
    folder: str
    stem: str
    suffix: str


def next_numbered(folder: Path, stem: str, suffix: str) -> int:
    """The highest ``vNNNN`` number of ``<stem>.vNNNN<suffix>`` in ``folder``, plus one."""
    top = 0
    prefix = f"{stem}.v"
    for p in folder.glob(f"{stem}.v*{suffix}"):
        digits = p.name[len(prefix) : len(p.name) - len(suffix)]
        if digits.isdigit():
            top = max(top, int(digits))
    return top + 1


def keep_numbered(src: Path, folder: Path, stem: str, suffix: str) -> Path:
    """Link ``src`` to the first unused number from :func:`next_numbered`, then remove ``src``."""
    n = next_numbered(folder, stem, suffix)
    while True:
        target = folder / f"{stem}.v{n:04d}{suffix}"
        if _link_new(src, target):
            share_mode(target)
            src.unlink(missing_ok=True)
            return target
        n += 1


#: Relative cost of writing a file, by suffix (to share the files between two processes).
_WRITE_WEIGHT: Final = {".xlsx": 1.5, ".html": 6.0, ".png": 5.0, ".geojson": 1.0}


def _parallel_writes() -> bool:
    """Whether a commit may write its files in two processes (:func:`siting._fork.can_fork`)."""
    return can_fork()


def _write_some(
    writers: Mapping[str, Callable[[Path], None]], names: Sequence[str], stage: Path
) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for name in names:
        t = time.perf_counter()
        writers[name](stage / name)
        seconds[name] = round(time.perf_counter() - t, 3)
    return seconds


def _write_files(writers: Mapping[str, Callable[[Path], None]], stage: Path) -> dict[str, float]:
    """Write every file into ``stage``; the seconds each took, in the order of ``writers``.

    With :func:`_parallel_writes`, the files are shared between this process and one forked
    child by their weight (an Excel workbook and the maps are the slow ones); an error in the
    child is raised here as it was raised there. Each file is written by one function into its
    own path, so the two never touch the same file.
    """
    names = list(writers)
    if len(names) < 2 or not _parallel_writes():
        return _write_some(writers, names, stage)
    weight = {n: _WRITE_WEIGHT.get(Path(n).suffix.lower(), 0.3) for n in names}
    mine: list[str] = []
    theirs: list[str] = []
    load = [0.0, 0.0]
    for n in sorted(names, key=lambda n: -weight[n]):
        side = 0 if load[0] <= load[1] else 1
        (mine if side == 0 else theirs).append(n)
        load[side] += weight[n]
    job = Job(lambda: _write_some(writers, theirs, stage), fork=True)
    try:
        seconds = _write_some(writers, mine, stage)
    except BaseException:
        with contextlib.suppress(BaseException):  # our error is the one to raise
            job.result()
        raise
    seconds.update(job.result())
    return {n: seconds[n] for n in names}


@dataclass
class CommitResult:
    """What a commit put where."""

    paths: dict[str, Path] = field(default_factory=dict)
    kept: list[Path] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class _FileLock:
    """An exclusive, non-blocking OS lock on a file (released by the OS if the process dies)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[str] | None = None

    def acquire(self, what: str) -> None:
        handle = self.path.open("a+", encoding="utf-8")
        try:
            if os.name == "nt":  # pragma: no cover - Windows
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            msg = (
                f"{what} 正被另一个 siting 命令写入，请等待其结束或换一个文件夹 / is being written "
                f"by another siting command ({holder}); wait for it to finish or choose "
                "another folder"
            )
            raise FolderError(msg) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(OSError):  # an idle lock file is empty
                self.handle.seek(0)
                self.handle.truncate()
            self.handle.close()  # closing the descriptor releases the lock
            self.handle = None


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable(folder: Path, *, what: str, need_bytes: int = 0) -> None:
    """Raise :class:`FolderError` unless ``folder`` (existing) takes a new file and has room."""
    try:
        fd, name = tempfile.mkstemp(prefix=".siting-probe-", dir=folder)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        msg = f"无法写入 cannot write to {what} {folder}: {reason}"
        raise FolderError(msg) from None
    os.close(fd)
    Path(name).unlink()
    if need_bytes > 0:
        free = shutil.disk_usage(folder).free
        if free < need_bytes + _MARGIN_BYTES:
            msg = (
                f"磁盘空间不足 not enough free space for {what} {folder}: "
                f"{free / 1e6:,.0f} MB free, about {(need_bytes + _MARGIN_BYTES) / 1e6:,.0f} MB "
                "needed"
            )
            raise FolderError(msg)


class OutputFolder:
    """A folder of results siting writes (see the module docstring).

    Use as a context manager around the whole command: the checks run and the lock is taken on
    entry, before any computation; :meth:`commit` writes the results; the lock is released on
    exit.

    Parameters
    ----------
    path
        The folder; created if missing.
    force
        Write into a folder that holds files siting did not write (still touching only the
        names siting writes).
    require_manifest
        The folder must already hold a finished siting run (``update``).
    manifest_name
        The file that marks a finished result (``manifest.json``; ``batch_manifest.json``).
    need_bytes
        Expected size of the outputs; by default that of the earlier result, or 64 MB.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        force: bool = False,
        require_manifest: bool = False,
        manifest_name: str = "manifest.json",
        need_bytes: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.force = force
        self.require_manifest = require_manifest
        self.manifest_name = manifest_name
        self.need_bytes = need_bytes
        self._lock = _FileLock(self.path / LOCK)
        self.recovered: dict[str, Any] | None = None
        self._created = False

    # --- entry: checks, lock, recovery ------------------------------------------------------

    def __enter__(self) -> OutputFolder:
        self._preflight()
        self._lock.acquire(f"输出文件夹 output folder {self.path}")
        try:
            self.recovered = self.recover()
            self._clean_leftovers()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        if self._created and {p.name for p in self.path.iterdir()} <= {LOCK}:
            # a folder this command made and left empty (it failed before writing): remove it
            (self.path / LOCK).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.path.rmdir()

    def _preflight(self) -> None:
        path = self.path
        if path.exists() and not path.is_dir():
            msg = f"--out {path} 是文件而不是文件夹 is a file, not a folder"
            raise FolderError(msg)
        if not path.exists():
            if self.require_manifest:
                msg = (
                    f"{path}: 文件夹不存在 no such folder, so no finished run here; "
                    f"run `siting run --out {path}` first"
                )
                raise FolderError(msg)
            base = _existing_ancestor(path)
            if not base.is_dir():
                msg = f"无法创建 cannot create {path}: {base} is not a folder"
                raise FolderError(msg)
            check_writable(base, what="the parent of", need_bytes=0)
            try:
                path.mkdir(parents=True, exist_ok=True)
                self._created = True
            except OSError as exc:
                msg = f"无法创建 cannot create {path}: {exc.strerror or exc}"
                raise FolderError(msg) from None
        check_writable(path, what="the output folder", need_bytes=self._expected_size())
        if not self.force and not self._is_ours():
            shown = sorted(p.name for p in self._foreign())[:5]
            msg = (
                f"{path} 不是空文件夹，且没有 siting 的结果清单；为免覆盖您的文件，已停止 / is not "
                f"empty and holds no siting manifest ({', '.join(shown)} ...): refusing to write "
                "there so as not to overwrite your files. Choose an empty or new folder, or add "
                "--force to write there anyway (only siting's own file names are touched)"
            )
            raise FolderError(msg)

    def _foreign(self) -> list[Path]:
        """Entries that are not siting's bookkeeping (lock, journal, staging leftovers)."""
        out = []
        for p in self.path.iterdir():
            if p.name in (LOCK, JOURNAL) or p.name.startswith((STAGE_PREFIX, ".siting-probe-")):
                continue
            out.append(p)
        return out

    def _is_ours(self) -> bool:
        if (self.path / JOURNAL).is_file():
            return True
        if any(is_siting_manifest(self.path / m) for m in MANIFESTS):
            return True
        return not self._foreign()

    def _expected_size(self) -> int:
        if self.need_bytes is not None:
            return self.need_bytes
        manifest = self.previous_manifest()
        if manifest is None:
            return DEFAULT_NEED_BYTES
        total = 0
        for name in manifest.get("files", []):
            try:
                total += (self.path / str(name)).stat().st_size
            except OSError:
                continue
        # the new files are staged while the earlier ones still stand
        return max(2 * total, 8 * 1024 * 1024)

    def previous_manifest(self) -> dict[str, Any] | None:
        """The manifest of the result in the folder, if siting wrote it."""
        return _read_manifest(self.path / self.manifest_name)

    def _previous_files(self) -> list[str]:
        manifest = self.previous_manifest()
        if manifest is None:
            return []
        names = manifest.get("files", [])
        return [str(n) for n in names if isinstance(n, str) and self._inside(n)]

    def _inside(self, name: str) -> bool:
        target = (self.path / name).resolve()
        root = self.path.resolve()
        return target != root and root in target.parents

    def _clean_leftovers(self) -> None:
        for p in self.path.iterdir():
            if p.name.startswith(STAGE_PREFIX) or p.name.startswith(".siting-probe-"):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
            elif p.name.startswith(JOURNAL + ".") and p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)

    # --- commit ------------------------------------------------------------------------------

    def stage(self) -> Path:
        """A new staging folder inside the output folder (removed on the next entry if left)."""
        return Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=self.path))

    def commit(
        self,
        writers: Mapping[str, Callable[[Path], None]],
        manifest_text: str | Callable[[Mapping[str, float]], str],
        *,
        extra: Sequence[Replace | KeepNumbered] = (),
        stage: Path | None = None,
    ) -> CommitResult:
        """Write every file (``writers``: relative name -> function writing that path) and the
        manifest, and apply ``extra`` moves, all or nothing (see the module docstring).

        ``manifest_text`` is the manifest, or a function making it from the seconds each file
        took to write (name -> seconds), called once every other file is staged, so that the
        manifest can time the writing too.

        A failure while writing (a full disk, say) removes the staged files and leaves the
        folder as it was; it is raised as :class:`FolderError` with one clear line.
        """
        stage = stage or self.stage()
        try:
            for name in writers:
                if not self._inside(name):
                    msg = f"output name {name!r} is outside {self.path}"
                    raise ValueError(msg)
                (stage / name).parent.mkdir(parents=True, exist_ok=True)
            seconds = _write_files(writers, stage)
            for name in writers:
                fault_point(f"stage:{name}")
            manifest_path = stage / self.manifest_name
            text = manifest_text if isinstance(manifest_text, str) else manifest_text(seconds)
            manifest_path.write_text(text, encoding="utf-8")
            for p in stage.rglob("*"):
                if p.is_file():
                    share_mode(p)
        except OSError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            for move in extra:
                Path(move.src).unlink(missing_ok=True)
            reason = exc.strerror or str(exc)
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            msg = (
                f"写出失败，之前的结果保持不变 / could not write the outputs to {self.path}: "
                f"{reason}{where}; the earlier results there are unchanged"
            )
            raise FolderError(msg) from exc
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            for move in extra:
                Path(move.src).unlink(missing_ok=True)
            raise
        new = [*writers, self.manifest_name]
        stale = [n for n in self._previous_files() if n not in new]
        journal = {
            "stage": stage.name,
            "files": list(writers),
            "manifest": self.manifest_name,
            "remove": stale,
            "extra": [{"type": type(m).__name__, **m.__dict__} for m in extra],
        }
        fault_point("commit:before-journal")
        _write_json_atomic(journal, self.path / JOURNAL)
        fault_point("commit:journal")
        return self._apply(journal)

    def recover(self) -> dict[str, Any] | None:
        """Finish a commit a killed command left (its journal is on disk); else None."""
        path = self.path / JOURNAL
        if not path.is_file():
            return None
        try:
            journal = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # written atomically: unreadable means never committed
            return None
        _log.warning(f"完成上次中断的写出 finishing an interrupted commit in {self.path}")
        result = self._apply(journal)
        return {"journal": journal, "result": result}

    def _apply(self, journal: Mapping[str, Any]) -> CommitResult:
        result = CommitResult()
        stage = self.path / str(journal["stage"])
        manifest_name = str(journal.get("manifest", self.manifest_name))
        stale_journal = False
        for m in journal.get("extra", []):
            if m["type"] == "KeepNumbered":
                src = Path(m["src"])
                if src.is_file():
                    kept = keep_numbered(src, Path(m["folder"]), m["stem"], m["suffix"])
                    result.kept.append(kept)
                    fault_point("commit:kept")
            elif m["type"] == "Replace":
                src, dst = Path(m["src"]), Path(m["dst"])
                if src.is_file():
                    now = sha256_file(dst) if dst.is_file() else None
                    if now in (m["before"], None):
                        src.replace(dst)
                        _fsync_dir(dst.parent)
                        fault_point("commit:replaced")
                    elif now == m["after"]:
                        src.unlink(missing_ok=True)
                    else:  # changed by someone else since: never overwrite it
                        src.unlink(missing_ok=True)
                        stale_journal = True
        if stale_journal and (self.path / manifest_name).is_file():
            # nothing of this commit was applied to the folder yet: drop it, keep the earlier state
            shutil.rmtree(stage, ignore_errors=True)
            (self.path / JOURNAL).unlink(missing_ok=True)
            _log.warning(
                f"放弃过期的写出 dropped a stale interrupted commit in {self.path}: "
                "its registry changed since"
            )
            return result
        (self.path / manifest_name).unlink(missing_ok=True)
        fault_point("commit:manifest-removed")
        for name in journal.get("remove", []):
            target = self.path / str(name)
            if self._inside(str(name)) and target.is_file():
                target.unlink()
                result.removed.append(str(name))
        for name in journal.get("files", []):
            src, dst = stage / str(name), self.path / str(name)
            if src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                if dst.is_dir() and not dst.is_symlink():
                    msg = f"{dst} is a folder; siting writes a file of that name"
                    raise FolderError(msg)
                src.replace(dst)
                fault_point(f"commit:moved:{name}")
            result.paths[str(name)] = dst
        self._prune_empty(journal.get("remove", []))
        src = stage / manifest_name
        if src.exists():
            src.replace(self.path / manifest_name)
        result.paths[manifest_name] = self.path / manifest_name
        _fsync_dir(self.path)
        (self.path / JOURNAL).unlink(missing_ok=True)
        shutil.rmtree(stage, ignore_errors=True)
        return result

    def _prune_empty(self, removed: Sequence[str]) -> None:
        """Remove folders (``.state``, ``maps``) emptied by the removal of stale files."""
        parents = {(self.path / str(n)).parent for n in removed}
        root = self.path.resolve()
        for folder in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            while folder.resolve() != root and folder.is_dir():
                try:
                    folder.rmdir()
                except OSError:
                    break
                folder = folder.parent


def lock_file(path: Path, what: str) -> _FileLock:
    """Take an exclusive lock on ``path`` (created); release with ``.release()``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _FileLock(path)
    lock.acquire(what)
    return lock
