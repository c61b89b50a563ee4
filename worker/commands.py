"""``perfhud worker``, ``perfhud repo``, ``perfhud backfill`` and ``perfhud sweep``.

Loaded lazily by ``perfhud.cli``; each command is a thin shell over a plain function of this
package, so that ``perfhud up`` and the tests call the same code.
"""

from __future__ import annotations

import click

from perfhud.cli import settings_or_exit


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.command("worker")
@click.option("--host", "host", required=True, help="Host name; the worker consumes bench.<host> and bench.any.")
@click.option("--cores", default=None, metavar="LIST",
              help="Cores the benchmarks run on, e.g. 2-7 or 0,2,4 (default: every core available).")
@click.option("--numa-node", type=click.IntRange(min=0), default=None, help="NUMA node to bind benchmark memory to.")
@click.option("--queues", default=None, metavar="Q1,Q2",
              help="Consume only these of bench.<host>,bench.any (default: both).")
@click.option("--loglevel", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]), help="Worker log level.")
def worker(host: str, cores: str | None, numa_node: int | None, queues: str | None, loglevel: str) -> None:
    """Run a benchmark worker pinned to a host's cores (one job at a time)."""
    from worker.app import ANY_QUEUE, host_queue, make_celery
    from worker.lifecycle import WorkerIdentity, prepare_worker

    settings = settings_or_exit()
    try:
        identity = WorkerIdentity(host=host, cores=cores, numa_node=numa_node)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--host") from None
    declared = [host_queue(host), ANY_QUEUE]
    chosen = [q.strip() for q in queues.split(",") if q.strip()] if queues else declared
    unknown = [q for q in chosen if q not in declared]
    if unknown or not chosen:
        raise click.BadParameter(f"{', '.join(unknown) or 'empty list'}; allowed: {', '.join(declared)}",
                                 param_hint="--queues")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = make_celery(settings, host=host)
    app.perfhud_worker = identity  # type: ignore[attr-defined]
    try:
        prepare_worker(app, identity)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--cores") from None
    except Exception as exc:  # the store is unreachable or not migrated
        raise click.ClickException(f"worker start-up failed: {exc}") from None
    app.worker_main([
        "worker",
        "--concurrency", "1",
        "--pool", "prefork",
        "--queues", ",".join(chosen),
        "--hostname", f"{host}@%h",
        "--loglevel", loglevel,
        # Gossip and mingle exchange state between workers; nothing here uses it, and on the
        # embedded broker they would poll the SQLite file for nothing.
        "--without-gossip",
        "--without-mingle",
    ])


@click.group("repo")
def repo() -> None:
    """Register and list tracked repositories."""


@repo.command("add")
@click.argument("full_name", metavar="OWNER/NAME")
@click.option("--clone-url", required=True, help="URL git fetches from (https, ssh, git, file or a local path).")
@click.option("--branch", "default_branch", default="main", show_default=True, help="Default branch.")
def repo_add(full_name: str, clone_url: str, default_branch: str) -> None:
    """Register a repository (or update its clone URL and branch)."""
    from worker.repos import add_repository

    settings = settings_or_exit()
    try:
        repo_id = add_repository(settings, full_name, clone_url, default_branch)
    except ValueError as exc:
        raise _fail(exc) from None
    click.echo(f"repository {full_name.lower()} registered (id {repo_id})")


@repo.command("list")
def repo_list() -> None:
    """List registered repositories."""
    from worker.repos import list_repositories

    settings = settings_or_exit()
    for r in list_repositories(settings):
        state = "" if r.enabled else "  (disabled)"
        click.echo(f"{r.full_name}  {r.default_branch}  {r.clone_url}{state}")


@click.command("backfill")
@click.argument("full_name", metavar="OWNER/NAME")
@click.option("--last", type=click.IntRange(min=1), default=None, help="The last N commits of the branch.")
@click.option("--range", "rev_range", default=None, metavar="A..B", help="Commits after A up to and including B.")
@click.option("--branch", default=None, help="Branch to walk (default: the repository's default branch).")
def backfill(full_name: str, last: int | None, rev_range: str | None, branch: str | None) -> None:
    """Queue jobs for existing commits, oldest first."""
    from db.ingest import IngestError
    from worker.backfill import backfill as run_backfill
    from worker.gitrepo import GitError

    if (last is None) == (rev_range is None):
        raise click.UsageError("give exactly one of --last N or --range A..B")
    settings = settings_or_exit()
    try:
        job_ids = run_backfill(settings, full_name, last=last, rev_range=rev_range, branch=branch)
    except (ValueError, IngestError, GitError) as exc:
        raise _fail(exc) from None
    click.echo(f"queued {len(job_ids)} job(s)" + (f": {', '.join(map(str, job_ids))}" if job_ids else
                                                  " (those commits already have jobs)"))


@click.command("sweep")
def sweep() -> None:
    """Re-publish queued jobs whose broker message is stale (workers also do this on a timer)."""
    from db.session import run_in_transaction
    from worker import jobstate
    from worker.lifecycle import host_lease
    from worker.publish import sweep_stale
    from worker.store_access import session_factory

    settings = settings_or_exit()
    released = run_in_transaction(
        session_factory(settings.database_url),
        lambda s: jobstate.recover_silent_hosts(s, host_lease(settings), settings.job_max_attempts),
    )
    count = sweep_stale(settings)
    click.echo(f"released {len(released)} orphaned job(s); republished {count} queued job(s)")
