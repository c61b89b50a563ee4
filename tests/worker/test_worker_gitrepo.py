"""Git with argument lists: validated input, inert shell syntax, throwaway worktrees."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from worker.gitrepo import (describe_commits, fetch, list_commits, validate_clone_url, validate_ref, validate_sha,
                            worktree)


@pytest.mark.parametrize("url", [
    "https://github.com/acme/tiny.git", "ssh://git@github.com/acme/tiny.git", "git@github.com:acme/tiny.git",
    "file:///srv/git/tiny", "/srv/git/tiny",
])
def test_clone_urls_accepted(url: str) -> None:
    assert validate_clone_url(url) == url


@pytest.mark.parametrize("url", [
    "ext::sh -c touch% /tmp/pwned", "--upload-pack=touch /tmp/pwned", "https://x/y; rm -rf /", "relative/path",
    "https://host/$(id)`id`|cat", "", "fd::3",
])
def test_clone_urls_rejected(url: str) -> None:
    with pytest.raises(ValueError):
        validate_clone_url(url)


@pytest.mark.parametrize("ref", ["main;touch x", "$(id)", "`id`", "a|b", "-b", "a..b", "x y", "main.lock"])
def test_refs_with_shell_or_option_syntax_rejected(ref: str) -> None:
    with pytest.raises(ValueError, match="bad git ref"):
        validate_ref(ref)


@pytest.mark.parametrize("sha", ["abc", "G" * 40, "a" * 41, "A" * 40, "--all"])
def test_bad_shas_rejected(sha: str) -> None:
    with pytest.raises(ValueError, match="40 lowercase hex"):
        validate_sha(sha)


def _repo(path: Path, n: int) -> list[str]:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, text=True).stdout.strip()

    path.mkdir()
    git("init", "-q", "-b", "main")
    shas = []
    for i in range(n):
        (path / "f.txt").write_text(str(i))
        git("add", "-A")
        git("-c", "user.name=A", "-c", "user.email=a@x", "commit", "-q", "-m", f"c{i}\n\nbody {i}")
        shas.append(git("rev-parse", "HEAD"))
    return shas


def test_fetch_list_describe_and_worktree(tmp_path: Path) -> None:
    shas = _repo(tmp_path / "up", 4)
    cache = tmp_path / "cache.git"
    fetch(cache, str(tmp_path / "up"))
    assert list_commits(cache, branch="main", last=3) == shas[1:]
    assert list_commits(cache, branch="main", rev_range=f"{shas[0]}..{shas[2]}") == shas[1:3]
    described = describe_commits(cache, shas[:2])
    assert [c.sha for c in described] == shas[:2]
    assert described[1].parents == (shas[0],) and described[1].message == "c1\n\nbody 1"
    assert described[0].committed_at.tzinfo is not None
    with worktree(cache, shas[1], tmp_path / "wt") as checkout:
        assert (checkout / "f.txt").read_text() == "1"
    assert not (tmp_path / "wt").exists()


def test_branch_with_shell_syntax_never_reaches_git(tmp_path: Path) -> None:
    _repo(tmp_path / "up", 1)
    cache = tmp_path / "cache.git"
    fetch(cache, str(tmp_path / "up"))
    with pytest.raises(ValueError):
        list_commits(cache, branch=f"main;touch {tmp_path}/pwned", last=1)
    assert not (tmp_path / "pwned").exists()
