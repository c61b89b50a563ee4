"""Git, always with argument lists and never a shell.

Each registered repository has one bare cache under the data directory; jobs check their commit
out into a throwaway worktree of it. Input that reaches git is validated first: clone URLs by
scheme (git's ``ext::`` transport would run a command), shas as 40 hex characters, refs against
a conservative pattern, and nothing may start with ``-`` (git would read it as an option).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SHA = re.compile(r"^[0-9a-f]{40}$")
_REF = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]{1,200}$")
_ALLOWED_SCHEMES = ("https://", "http://", "ssh://", "git://", "file://")
_URL_FORBIDDEN = "\n\r\t\0 `$|;<>'\"\\"
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._/~-]+$")
FETCH_TIMEOUT_S = 600
LOCAL_TIMEOUT_S = 120


class GitError(RuntimeError):
    """A git command failed; the message carries git's own last lines."""


def validate_sha(sha: str) -> str:
    if not isinstance(sha, str) or not SHA.match(sha):
        raise ValueError(f"commit sha must be 40 lowercase hex characters, got {str(sha)[:60]!r}")
    return sha


def validate_ref(ref: str) -> str:
    """A branch, tag or sha usable as a revision; rejects options, ranges and shell syntax."""
    if not isinstance(ref, str) or not _REF.match(ref) or ref.endswith((".lock", "/", ".")):
        raise ValueError(f"bad git ref {str(ref)[:60]!r}; allowed: letters, digits, '.', '_', '/', '-'")
    return ref


def validate_clone_url(url: str) -> str:
    """http(s), ssh, git, file URLs, scp-like ``user@host:path``, or an absolute local path."""
    # No shell ever sees the URL; shell characters are refused anyway, as no real URL needs them.
    if (isinstance(url, str) and url and not url.startswith("-") and not any(c in url for c in _URL_FORBIDDEN)
            and (url.startswith(_ALLOWED_SCHEMES) or _SCP_LIKE.match(url) or (url.startswith("/") and "::" not in url))):
        return url
    raise ValueError(
        f"unsupported clone URL {str(url)[:100]!r}; allowed: https://, http://, ssh://, git://, file://, "
        "user@host:path or an absolute path, without spaces or any of ` $ | ; < > ' \" \\"
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Never wait for a password on a terminal nobody watches; never run ext:: helpers.
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", SSH_ASKPASS="true", GIT_ALLOW_PROTOCOL="file:git:http:https:ssh")
    return env


def run_git(args: Sequence[str], *, git_dir: Path | None = None, cwd: Path | None = None,
            timeout: float = LOCAL_TIMEOUT_S) -> str:
    """Run ``git`` with ``args``; return stdout or raise :class:`GitError`."""
    argv = ["git"]
    if git_dir is not None:
        argv += ["--git-dir", str(git_dir)]
    argv += list(args)
    try:
        proc = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise GitError(f"git {args[0]} failed (exit {proc.returncode}): {tail}")
    return proc.stdout


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Several workers on one machine share the cache; git itself is not safe against two
    # fetches into one repository at once.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cache_dir(data_dir: Path, repository_id: int) -> Path:
    return data_dir / "repos" / f"{repository_id}.git"


def has_commit(git_dir: Path, sha: str) -> bool:
    try:
        run_git(["cat-file", "-e", f"{validate_sha(sha)}^{{commit}}"], git_dir=git_dir)
    except GitError:
        return False
    return True


def fetch(git_dir: Path, clone_url: str, *, want: str | None = None) -> None:
    """Create or update the bare cache; skip the network when ``want`` is already there."""
    validate_clone_url(clone_url)
    with _locked(git_dir):
        if not (git_dir / "HEAD").exists():
            git_dir.mkdir(parents=True, exist_ok=True)
            run_git(["init", "--bare", "--quiet"], git_dir=git_dir)
        if want is not None and has_commit(git_dir, want):
            return
        run_git(
            ["fetch", "--quiet", "--prune", "--no-tags", "--end-of-options", clone_url,
             "+refs/heads/*:refs/heads/*"],
            git_dir=git_dir,
            timeout=FETCH_TIMEOUT_S,
        )
    if want is not None and not has_commit(git_dir, want):
        raise GitError(f"commit {want} is not in {clone_url} (not on any branch)")


@contextmanager
def worktree(git_dir: Path, sha: str, path: Path) -> Iterator[Path]:
    """Check ``sha`` out into a fresh worktree at ``path``; remove it afterwards, whatever happens."""
    validate_sha(sha)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(git_dir):
        run_git(["worktree", "prune"], git_dir=git_dir)
        run_git(["worktree", "add", "--detach", "--force", "--quiet", str(path), sha], git_dir=git_dir)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        with _locked(git_dir):
            run_git(["worktree", "prune"], git_dir=git_dir)


@dataclass(frozen=True)
class GitCommit:
    sha: str
    parents: tuple[str, ...]
    author: str
    committed_at: datetime
    message: str


def list_commits(git_dir: Path, *, branch: str, last: int | None = None,
                 rev_range: str | None = None) -> list[str]:
    """Shas on ``branch``'s first-parent line, oldest first: the last ``last`` or ``A..B``."""
    if (last is None) == (rev_range is None):
        raise ValueError("give exactly one of last or rev_range")
    if rev_range is not None:
        start, sep, end = rev_range.partition("..")
        if not sep or not start or not end or end.startswith("."):
            raise ValueError(f"bad range {rev_range!r}; expected A..B (A excluded, B included)")
        spec = [f"{validate_ref(start)}..{validate_ref(end)}"]
        out = run_git(["rev-list", "--first-parent", "--reverse", "--end-of-options", *spec], git_dir=git_dir)
    else:
        if last is None or last <= 0:
            raise ValueError(f"last must be a positive number of commits, got {last}")
        out = run_git(["rev-list", "--first-parent", f"--max-count={last}", "--end-of-options",
                       validate_ref(branch)], git_dir=git_dir)
        return list(reversed(out.split()))
    return out.split()


def describe_commits(git_dir: Path, shas: Sequence[str]) -> list[GitCommit]:
    """Parents, author, time and message of each sha, in the order given."""
    if not shas:
        return []
    for sha in shas:
        validate_sha(sha)
    out = run_git(["show", "-s", "--no-walk=unsorted", "-z", "--format=%H%x1f%P%x1f%an <%ae>%x1f%cI%x1f%B",
                   "--end-of-options", *shas], git_dir=git_dir)
    commits: list[GitCommit] = []
    for record in out.split("\0"):
        if not record.strip():
            continue
        sha, parents, author, when, message = record.lstrip("\n").split("\x1f", 4)
        commits.append(GitCommit(sha=sha, parents=tuple(parents.split()), author=author,
                                 committed_at=datetime.fromisoformat(when), message=message.strip()))
    by_sha = {c.sha: c for c in commits}
    return [by_sha[s] for s in shas]
