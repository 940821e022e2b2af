"""The README and docs/ stay true to the code: settings, commands, flags, weights, links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from data_catalog.model_store import REGISTRY
from data_catalog.settings import Settings
from flows.cli import app

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PACKAGES = ("flows", "tasks", "folai_models", "data_catalog")
VARIABLE = re.compile(r"SONORIZE_[A-Z0-9_]+")


def section(text: str, title: str) -> str:
    """The README's ``## title`` section, up to the next ``## ``."""
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def first_column(table: str) -> set[str]:
    """Every backticked name in the first column of a markdown table."""
    names = set()
    for line in table.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            names.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def variables_read_by_the_code() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            found.update(VARIABLE.findall(path.read_text(encoding="utf-8")))
    deployments = (REPO / "prefect.yaml").read_text(encoding="utf-8")
    found.update(VARIABLE.findall(re.sub(r"#.*", "", deployments)))  # templated values, not comments
    prefix = Settings.model_config["env_prefix"]
    found.update(f"{prefix}{field}".upper() for field in Settings.model_fields)
    return found


def commands(group=None, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    """Every command of the ``sonorize`` command line, nested groups included, by path."""
    group = group or typer.main.get_command(app)
    found = {}
    for name, command in group.commands.items():
        found[prefix + (name,)] = command
        if hasattr(command, "commands"):
            found.update(commands(command, prefix + (name,)))
    return found


def test_every_setting_is_in_the_settings_table():
    table = first_column(section(README.read_text(encoding="utf-8"), "Settings"))
    documented = {name for cell in table for name in re.split(r",\s*", cell)}
    missing = sorted(variables_read_by_the_code() - documented)
    assert not missing, f"README's settings table lacks {missing}"


def test_every_command_is_in_the_readme():
    text = section(README.read_text(encoding="utf-8"), "Commands")
    for path in commands():
        if len(path) == 1:
            assert f"sonorize {path[0]} " in text, f"README's commands lack `sonorize {path[0]}`"
        else:
            line = next(line for line in text.splitlines() if line.startswith(f"sonorize {path[0]} "))
            assert re.search(rf"(^| \| | ){re.escape(path[1])}\b", line.split(f"sonorize {path[0]} ", 1)[1]), \
                f"README's commands lack `sonorize {' '.join(path)}`"


def documented_flags() -> dict[tuple[str, ...], set[str]]:
    """The ``--flags`` the README's command block gives each command (comments left out)."""
    block = section(README.read_text(encoding="utf-8"), "Commands").split("```bash\n", 1)[1].split("```", 1)[0]
    flags: dict[tuple[str, ...], set[str]] = {}
    current: tuple[str, ...] = ()
    for raw in block.splitlines():
        line = raw.split(" # ", 1)[0]
        if line.startswith("sonorize "):
            words = line.split()
            current = (words[1],)
            if words[1] == "models":  # sonorize models list | pull NAME... [--from FILE] | verify ...
                for part in line.split(" models ", 1)[1].split(" | "):
                    flags[(words[1], part.split()[0])] = set(re.findall(r"--[a-z][a-z0-9-]*", part))
                continue
        flags.setdefault(current, set()).update(re.findall(r"--[a-z][a-z0-9-]*", line))
    return flags


def test_every_flag_in_the_readme_exists():
    known = commands()
    for path, flags in documented_flags().items():
        assert path in known, f"README names `sonorize {' '.join(path)}`, which does not exist"
        options = {opt for param in known[path].params for opt in (*param.opts, *param.secondary_opts)}
        unknown = sorted(flags - options)
        assert not unknown, f"`sonorize {' '.join(path)}` has no {unknown}"


def test_every_registered_weight_has_its_licence_in_the_readme():
    table = first_column(section(README.read_text(encoding="utf-8"), "Licences"))
    missing = sorted(set(REGISTRY) - table)
    assert not missing, f"README's licence table lacks {missing}"


def slug(heading: str) -> str:
    """GitHub's anchor for a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("document", [README, *sorted((REPO / "docs").glob("*.md"))],
                         ids=lambda p: p.relative_to(REPO).as_posix())
def test_links_resolve(document):
    text = re.sub(r"```.*?```", "", document.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        assert resolved.exists(), f"{document.name}: link to {target} points nowhere"
        if anchor and resolved.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", resolved.read_text(encoding="utf-8"), flags=re.M)
            assert anchor in {slug(h) for h in headings}, f"{document.name}: no heading for #{anchor} in {path}"
