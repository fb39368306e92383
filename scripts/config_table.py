"""Print the configuration table (every LOYALTY_* env var, default, meaning) as Markdown for the README."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rows() -> list[tuple[str, str, str]]:
    """(ENV_VAR, default, comment) for every field of `Settings`, read from its source so comments come along."""
    from backend.config import Settings

    source = (ROOT / "backend" / "config.py").read_text().splitlines()
    tree = ast.parse("\n".join(source))
    comments: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    span = source[stmt.lineno - 1 : (stmt.end_lineno or stmt.lineno)]
                    found = [line.split("  # ", 1)[1].strip() for line in span if "  # " in line]
                    comment = found[0] if found else ""
                    comments[stmt.target.id] = comment
    out = []
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "" if default in ("", None) else str(default)
        if "/var/" in shown or str(ROOT) in shown:
            shown = shown.replace(str(ROOT), ".")
        out.append((f"LOYALTY_{name.upper()}", shown, comments.get(name, "")))
    return out


START, END = "<!-- config:start -->", "<!-- config:end -->"


def table() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for env, default, comment in rows():
        lines.append(f"| `{env}` | `{default}` | {comment} |" if default else f"| `{env}` | | {comment} |")
    return "\n".join(lines)


def main() -> None:
    """Print the table; with --update-readme, replace the README's table between the config markers."""
    if "--update-readme" not in sys.argv:
        print(table())
        return
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table()}\n{END}{tail}")


if __name__ == "__main__":
    main()
