"""How the CLI writes things down, standard library only (`run --mount` uses it on its fast-ish path).

Two kinds of output:
- a command's result (`emit`): rows or one object, as `json`, `yaml`, `tsv` or `dotenv` (the
  rich table on a terminal is drawn by `commands.emit` from `tabular`);
- an environment's values (`export`, `run --mount`, `render`): `dotenv`, `shell`, `json`,
  `yaml`, `docker` (`docker run --env-file`) and `k8s` (a `kind: Secret` manifest).

The dotenv and shell rules are the server's export rules (docs/design.md, "exports"): dotenv that
python-dotenv and a POSIX shell both read back exactly, names that are not shell variable names
left out with a comment saying so.
"""

from __future__ import annotations

import json
import re
from typing import Any

SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOTENV_EXPANDED = re.compile(r"\$\{[^}]*\}")
VALUE_FORMATS = ("dotenv", "shell", "json", "yaml", "docker", "k8s")


class Unrepresentable(ValueError):
    """A value the asked format cannot carry (the message names the key, never the value)."""


# --------------------------------------------------------------------------- a command's result


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def tabular(data: Any, columns: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows, columns): one object is one row; the columns default to the first row's keys."""
    rows = data if isinstance(data, list) else [data]
    rows = [r if isinstance(r, dict) else {"value": r} for r in rows]
    return rows, columns or (sorted(rows[0]) if rows else [])


def output(data: Any, columns: list[str] | None, fmt: str) -> str:
    """`data` as json, yaml, tsv or dotenv text (ending with a newline unless empty)."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml(data)
    rows, columns = tabular(data, columns)
    if fmt == "dotenv":
        if all("key" in r and "value" in r for r in rows) and rows:
            return values_text({str(r["key"]): cell(r["value"]) for r in rows}, "dotenv")
        return values_text({c: cell(rows[0].get(c)) for c in columns} if rows else {}, "dotenv")
    return "".join("\t".join(cell(r.get(c)) for c in columns) + "\n" for r in rows)


def yaml(data: Any, indent: int = 0) -> str:
    """Block-style YAML of JSON data; every string double-quoted in JSON syntax (which YAML 1.1
    and 1.2 both read), so that no value is ever read back as another type."""
    pad = " " * indent
    if isinstance(data, dict):
        if not data:
            return f"{pad}{{}}\n"
        out = []
        for key, value in data.items():
            name = json.dumps(str(key), ensure_ascii=False)
            if isinstance(value, (dict, list)) and value:
                out.append(f"{pad}{name}:\n{yaml(value, indent + 2)}")
            else:
                out.append(f"{pad}{name}: {_scalar(value)}\n")
        return "".join(out)
    if isinstance(data, list):
        if not data:
            return f"{pad}[]\n"
        out = []
        for item in data:
            if isinstance(item, (dict, list)) and item:
                nested = yaml(item, indent + 2)
                out.append(f"{pad}- {nested[indent + 2 :]}")
            else:
                out.append(f"{pad}- {_scalar(item)}\n")
        return "".join(out)
    return f"{pad}{_scalar(data)}\n"


def _scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------- an environment's values


def dotenv_quote(value: str) -> str | None:
    """A quoting python-dotenv and a POSIX shell both read back as `value`, or None."""
    if "\r" in value or _DOTENV_EXPANDED.search(value):
        return None
    if "'" not in value and "\\" not in value:
        return f"'{value}'"
    if "$" not in value and "`" not in value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return None


def values_text(values: dict[str, str], fmt: str, *, name: str = "strongroom", etag: str = "") -> str:
    """An environment's values in `fmt` (VALUE_FORMATS); Unrepresentable names a key `fmt` cannot carry."""
    names = sorted(values)
    if fmt == "json":
        return json.dumps({k: values[k] for k in names}, ensure_ascii=False, indent=2) + "\n"
    if fmt == "yaml":
        return yaml({k: values[k] for k in names})
    if fmt == "k8s":
        return k8s_secret(values, name=name, etag=etag)
    if fmt == "docker":
        return docker_env_file(values)
    not_names = [k for k in names if not SHELL_NAME.match(k)]
    skipped = f"# not exported (not shell variable names): {' '.join(not_names)}\n" if not_names else ""
    if fmt == "shell":
        quote = "'\\''"
        lines = [f"export {k}='{values[k].replace(chr(39), quote)}'\n" for k in names if SHELL_NAME.match(k)]
        return "".join(lines) + skipped
    lines, unquotable = [], []
    for key in (k for k in names if SHELL_NAME.match(k)):
        quoted = dotenv_quote(values[key])
        if quoted is None:
            unquotable.append(key)
        else:
            lines.append(f"{key}={quoted}\n")
    why = "no quoting python-dotenv and a POSIX shell both read back; use format=shell or json"
    return "".join(lines) + skipped + (f"# not exported ({why}): {' '.join(unquotable)}\n" if unquotable else "")


def docker_env_file(values: dict[str, str]) -> str:
    """`KEY=value` lines, unquoted, as `docker run --env-file` reads them (no quoting, no escapes:
    each line is one variable, verbatim). A value with a line break (or NUL), or a name that is not
    a variable name, cannot be carried: Unrepresentable, naming them."""
    bad = sorted(k for k, v in values.items() if not SHELL_NAME.match(k) or any(c in v for c in "\n\r\0"))
    if bad:
        raise Unrepresentable(
            f"docker --env-file cannot carry {', '.join(bad)} (a line break in the value, or not a variable "
            "name): use --format json or k8s"
        )
    return "".join(f"{k}={values[k]}\n" for k in sorted(values))


def k8s_secret(values: dict[str, str], *, name: str, etag: str) -> str:
    """A `kind: Secret` manifest: base64 `data`, the environment's revision (ETag) as an annotation."""
    import base64  # noqa: PLC0415

    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "annotations": {"strongroom.dev/etag": etag}},
        "type": "Opaque",
        "data": {k: base64.b64encode(values[k].encode("utf-8")).decode("ascii") for k in sorted(values)},
    }
    return yaml(manifest)


# --------------------------------------------------------------------------- templates

_NAME = r"(?:env\.)?([A-Za-z_][A-Za-z0-9_.-]*)"
_PLACEHOLDER = re.compile(r"\{\{\s*" + _NAME + r"\s*\}\}|\$\{" + _NAME + r"\}")


def fill(template: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """(the template with `{{ KEY }}`, `{{ env.KEY }}`, `${KEY}` and `${env.KEY}` filled, the keys
    it names that `values` lacks, sorted); the text is only meaningful when none are missing."""
    missing: set[str] = set()

    def one(match: re.Match[str]) -> str:
        key = match.group(1) or match.group(2)
        if key not in values:
            missing.add(key)
            return match.group(0)
        return values[key]

    return _PLACEHOLDER.sub(one, template), sorted(missing)
