"""Turn-taking between the benchmark processes of one group, so that they are timed side by
side: short blocks of each in turn, on the same cores, in the same minutes.

Why: the suite compares each variant with its baseline (the platform's change detection
follows their ratio, to cancel what the host did to both). Timed one after the other, a
minute apart, the two see different hosts: on a shared cloud guest whose core speed moved by
a fifth between runs, the optlib/eager ratio of consecutive runs had CVs of up to 26 %.
Interleaved in half-second blocks, a slow spell of the host falls on both (1.6-5.5 %).

The protocol needs no channel but signals. A member process stops itself (SIGSTOP) where a
turn ends: before it builds its model, after its warm-up, and between timing blocks, never
inside a timed iteration. The runner watches the members' states in /proc and continues
(SIGCONT) the next one once the current one has stopped or exited. Only one member runs at
a time, so builds and optlib's own timing races never compete either. A member writes its pid
and the number of turns it has ended to its turn file before it stops, since under
``optlib.launch`` it is not the runner's own child. Linux only (``SUPPORTED``): elsewhere the
runner times the benchmarks one after the other.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["SUPPORTED", "TURN_FILE_ENV", "end_turn_function", "take_turns"]

TURN_FILE_ENV = "PERFHUD_TURN_FILE"
SUPPORTED = Path("/proc/self/stat").exists()
_POLL_MIN_S = 0.001
_POLL_MAX_S = 0.02


def end_turn_function() -> Callable[[], None] | None:
    """In a member of a group (``PERFHUD_TURN_FILE`` set): a function that ends this
    process's turn and returns when the runner gives it the next one. Else None."""
    path = os.environ.get(TURN_FILE_ENV)
    if not path:
        return None
    turn_file = Path(path)
    turns = 0

    def end_turn() -> None:
        nonlocal turns
        turns += 1
        tmp = turn_file.with_suffix(".tmp")
        tmp.write_text(f"{os.getpid()} {turns}")
        os.replace(tmp, turn_file)
        os.kill(os.getpid(), signal.SIGSTOP)

    return end_turn


def _state(pid: int) -> str | None:
    """The process's state letter from /proc (R, S, T, ...), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state = stat.rsplit(")", 1)[1].split()[0]
    return None if state in ("Z", "X") else state


class _Member:
    def __init__(self, turn_file: Path, alive: Callable[[], bool]) -> None:
        self.turn_file = turn_file
        self.alive = alive
        self.pid: int | None = None
        self.turns_ended = 0

    def gone(self) -> bool:
        return not self.alive() or (self.pid is not None and _state(self.pid) is None)

    def ended_turn(self, after: int) -> bool:
        """It has ended its turn number ``after + 1`` (it stopped itself), or it is gone.
        The turn file is read only once the process shows stopped (or before its pid is
        known): the runner polls this every few milliseconds."""
        if not self.alive():
            return True
        state = None if self.pid is None else _state(self.pid)
        if self.pid is not None and state is None:
            return True
        if self.pid is not None and state != "T":
            return False
        try:
            pid, turns = self.turn_file.read_text().split()
        except (OSError, ValueError):
            return False
        self.pid, self.turns_ended = int(pid), int(turns)
        if state is None:  # its pid was not known before this read
            state = _state(self.pid)
        return self.turns_ended > after and state == "T"


def take_turns(turn_files: Sequence[Path], alive: Sequence[Callable[[], bool]],
               kill: Sequence[Callable[[], None]], limit_s: float) -> list[int]:
    """Give the members their turns round-robin until every one has exited; return the
    indices of the members killed (``kill[i]()``) for running out of time.

    ``turn_files[i]`` is where member i writes its pid and how many turns it has ended;
    ``alive[i]()`` says whether its process (the runner's child: the member or its launcher)
    still runs. The members start at once and get ``limit_s`` to reach their first stop;
    after that each one gets ``limit_s`` of its own turns, whatever the others take, so one
    that hangs costs the group that much time and fails alone.
    """
    members = [_Member(Path(p), a) for p, a in zip(turn_files, alive)]
    # Every member stops itself before it builds its model; wait for all of them, so that no
    # build runs beside another member's turn.
    timed_out: list[int] = []
    if not _wait(lambda: all(m.ended_turn(0) for m in members), time.monotonic() + limit_s):
        timed_out = [i for i, m in enumerate(members) if not m.ended_turn(0)]
    for i in timed_out:
        kill[i]()
    used = [0.0] * len(members)
    while True:
        active = [i for i, m in enumerate(members) if i not in timed_out and not m.gone()]
        if not active:
            return timed_out
        for i in active:
            member = members[i]
            ended = member.turns_ended
            if member.pid is None or member.gone():
                continue
            try:
                os.kill(member.pid, signal.SIGCONT)
            except ProcessLookupError:
                continue
            began = time.monotonic()
            done = _wait(lambda: member.ended_turn(ended), began + limit_s - used[i])
            used[i] += time.monotonic() - began
            if not done:
                kill[i]()
                timed_out.append(i)


def _wait(condition: Callable[[], bool], deadline: float) -> bool:
    """Poll ``condition`` until it holds (True) or ``deadline`` passes (False). The pause
    grows from 1 to 20 ms: a turn switch is noticed within a few ms, while the runner (which
    may share a core with the members) costs next to nothing during a long build."""
    pause = _POLL_MIN_S
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(2 * pause, _POLL_MAX_S)
    return True
