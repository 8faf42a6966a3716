"""A small document model rendered as Markdown or HTML.

Builders produce a :class:`Document` from the config; the renderers escape every piece
of text, so a name or legal text from the YAML cannot inject markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Fields:
    """Label and value pairs."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Heading | Para | Bullets | Fields | Table


@dataclass(frozen=True)
class Document:
    title: str
    lang: str
    blocks: tuple[Block, ...]


FORMATS = ("md", "html")

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def to_markdown(doc: Document) -> str:
    out: list[str] = [f"# {md_escape(doc.title)}", ""]
    # French typography puts a space before the colon; English does not.
    colon = " : " if doc.lang == "fr" else ": "
    for block in doc.blocks:
        match block:
            case Heading(level=level, text=text):
                out += [f"{'#' * (level + 1)} {md_escape(text)}", ""]
            case Para(text=text):
                out += [md_escape(text), ""]
            case Bullets(items=items):
                out += [f"- {md_escape(item)}" for item in items] + [""]
            case Fields(items=items):
                out += [f"- **{md_escape(k)}**{colon}{md_escape(v)}" for k, v in items]
                out.append("")
            case Table(header=header, rows=rows):
                out.append("| " + " | ".join(md_escape(h) for h in header) + " |")
                out.append("|" + "|".join("---" for _ in header) + "|")
                out += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
                out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


_STYLE = (
    "body{font-family:sans-serif;max-width:56em;margin:2em auto;padding:0 1em;line-height:1.5}"
    "table{border-collapse:collapse}th,td{border:1px solid #999;padding:.3em .6em;"
    "text-align:left;vertical-align:top}dt{font-weight:bold}"
)


def to_html(doc: Document) -> str:
    e = html.escape
    out: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{e(doc.lang)}">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{e(doc.title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{e(doc.title)}</h1>",
    ]
    for block in doc.blocks:
        match block:
            case Heading(level=level, text=text):
                out.append(f"<h{level + 1}>{e(text)}</h{level + 1}>")
            case Para(text=text):
                out.append(f"<p>{e(text)}</p>")
            case Bullets(items=items):
                out += ["<ul>", *(f"<li>{e(item)}</li>" for item in items), "</ul>"]
            case Fields(items=items):
                out.append("<dl>")
                for label, value in items:
                    out += [f"<dt>{e(label)}</dt>", f"<dd>{e(value)}</dd>"]
                out.append("</dl>")
            case Table(header=header, rows=rows):
                out += ["<table>", "<thead>", "<tr>"]
                out += [f"<th>{e(h)}</th>" for h in header]
                out += ["</tr>", "</thead>", "<tbody>"]
                for row in rows:
                    out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
                out += ["</tbody>", "</table>"]
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def render(doc: Document, fmt: str) -> str:
    if fmt == "md":
        return to_markdown(doc)
    if fmt == "html":
        return to_html(doc)
    raise ValueError(f"unknown format {fmt!r}; use {', '.join(FORMATS)}")
