"""``sonorize models``: list, fetch and check the pretrained weights in the model store.

Mounted into the main command line as ``app.add_typer(models_app, name="models")``.
``pull`` is the only command in the project that downloads anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

models_app = typer.Typer(
    add_completion=False, no_args_is_help=True,
    help="Pretrained weights: list what the model store holds, pull them (the only command that "
         "downloads), verify their hashes. The store is SONORIZE_MODEL_DIR.")

_STYLE = {"present": "green", "missing": "yellow", "corrupt": "red"}


def _store():
    from data_catalog.model_store import ModelStore

    return ModelStore()


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)  # plain text: never wrapped mid-path
    raise typer.Exit(code)


def _in_store(store, path) -> str:
    """A path relative to the store root printed above the table (short rows)."""
    try:
        return str(path.relative_to(store.root))
    except ValueError:
        return str(path)


def _human(n: Optional[int]) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _check_names(store, names: list[str]) -> None:
    unknown = [n for n in names if n not in store.registry]
    if unknown:
        _fail(f"unknown weight(s): {', '.join(unknown)}; known: {', '.join(store.names())}", 2)


def _on_disk(paths: list[Path]) -> Optional[int]:
    try:
        return sum(p.stat().st_size for p in paths)
    except OSError:
        return None


@models_app.command("list")
def list_weights() -> None:
    """Every registered weight: stage, licence, size, status (present / missing / corrupt) and path."""
    store = _store()
    table = Table(title=f"model store: {store.root}", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("stage")
    table.add_column("licence")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("path (in the store)", overflow="fold")
    missing = 0
    for name in store.names():
        spec = store.spec(name)
        status = store.status(name)
        missing += status == "missing"
        size = _on_disk(store.paths(name)) if status != "missing" else spec.size
        table.add_row(name, spec.stage, spec.licence, _human(size),
                      f"[{_STYLE[status]}]{status}[/{_STYLE[status]}]", _in_store(store, store.path(name)))
    Console().print(table)
    if missing:
        Console().print(f"fetch one with: sonorize models pull NAME   (or --all; {missing} missing)")


@models_app.command()
def pull(
    names: Optional[list[str]] = typer.Argument(None, help="Registry names (see `sonorize models list`)."),
    all_: bool = typer.Option(False, "--all", help="Pull every registered weight."),
    from_file: Optional[Path] = typer.Option(
        None, "--from", help="Add a file you downloaded by hand (Google Drive, a browser) instead of downloading."),
    force: bool = typer.Option(False, "--force", help="Fetch again even when the file is present and intact."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show download progress bars."),
) -> None:
    """Download weights into the model store, checking sizes and hashes; nothing else downloads."""
    from data_catalog.model_store import ModelStoreError

    store = _store()
    names = list(names or [])
    if all_ == bool(names):
        _fail("give weight names or --all (not both)", 2)
    if all_:
        names = store.names()
    _check_names(store, names)
    if from_file is not None and len(names) != 1:
        _fail("--from takes exactly one weight name", 2)
    failed = 0
    for name in names:
        try:
            path = (store.add_file(name, from_file, force=force) if from_file is not None
                    else store.pull(name, progress=progress, force=force))
        except ModelStoreError as exc:
            failed += 1
            typer.echo(f"error: {exc}", err=True)
            continue
        typer.echo(f"{name}: {store.status(name)} {path}")
    if failed:
        raise typer.Exit(1)


@models_app.command()
def verify(
    names: Optional[list[str]] = typer.Argument(None, help="Weights to check (default all)."),
) -> None:
    """Re-read and re-hash weights; exit 1 when any is corrupt (or a named one is missing)."""
    store = _store()
    names = list(names or [])
    _check_names(store, names)
    table = Table(title=f"model store: {store.root}", title_justify="left")
    for column, kw in (("name", {"no_wrap": True}), ("status", {"no_wrap": True}), ("detail", {}),
                       ("path", {"overflow": "fold"})):
        table.add_column(column, **kw)
    bad = 0
    for name in names or store.names():
        checks = store.check(name, rehash=True)
        for c in checks:
            table.add_row(name, f"[{_STYLE[c.status]}]{c.status}[/{_STYLE[c.status]}]", c.reason, str(c.path))
        if any(c.status == "corrupt" for c in checks) or (names and any(c.status == "missing" for c in checks)):
            bad += 1
    Console().print(table)
    if bad:
        typer.echo(f"error: {bad} weight(s) corrupt or missing; fetch again with "
                   "`sonorize models pull NAME --force`", err=True)
        raise typer.Exit(1)


@models_app.command()
def env() -> None:
    """Shell exports that make Hugging Face libraries and torch.hub read the store, offline."""
    from data_catalog.model_store.hf_cache import env_lines, offline_hf_environment

    for line in env_lines(offline_hf_environment(_store())):
        typer.echo(line)
