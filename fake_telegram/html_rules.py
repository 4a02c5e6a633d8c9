"""Telegram's HTML parse mode, as the Bot API applies it: which tags and character
references it takes, what it rejects and with which words, and the entities (offsets in
UTF-16 code units) it makes of the rest."""

from __future__ import annotations

import re

from fake_telegram.records import JSONDict

_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:[^<>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTR_RE = re.compile(r"""([a-zA-Z_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_CHAR_REF_RE = re.compile(r"&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]+);")
_SPECIAL_RE = re.compile(r"[<&]")
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


def utf16_len(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _html_error(text: str, index: int, what: str) -> ValueError:
    byte_offset = len(text[:index].encode())
    return ValueError(f"can't parse entities: {what} at byte offset {byte_offset}")


def parse_html(text: str) -> tuple[str, list[JSONDict]]:
    """Parse Bot API HTML as Telegram does: the plain text and its entities.

    Raises ValueError with Telegram's wording for what Telegram rejects: an unescaped ``<``,
    an unsupported tag, a wrongly nested or unclosed tag.
    """
    plain: list[str] = []
    offset = 0  # in UTF-16 code units, as Telegram counts
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[JSONDict] = []
    index = 0
    while index < len(text):
        special = _SPECIAL_RE.search(text, index)
        end = special.start() if special else len(text)
        if end > index:
            chunk = text[index:end]
            plain.append(chunk)
            offset += utf16_len(chunk)
        if special is None:
            break
        index = end
        if text[index] == "&":
            ref = _CHAR_REF_RE.match(text, index)
            decoded = _decode_char_ref(ref.group(1)) if ref else None
            if ref is None or decoded is None:
                plain.append("&")
                offset += 1
                index += 1
                continue
            plain.append(decoded)
            offset += utf16_len(decoded)
            index = ref.end()
            continue
        tag = _TAG_RE.match(text, index)
        if tag is None:
            raise _html_error(text, index, 'unsupported start tag ""')
        closing, name, attributes = tag.group(1) == "/", tag.group(2).lower(), tag.group(3)
        if name not in _HTML_ENTITY_TYPES:
            kind = "end" if closing else "start"
            raise _html_error(text, index, f'unsupported {kind} tag "{name}"')
        if closing:
            if not stack:
                raise _html_error(text, index, f'unexpected end tag "{name}"')
            open_name, start, open_attributes = stack.pop()
            if open_name != name:
                raise _html_error(
                    text, index, f'unmatched end tag, expected "</{open_name}>", found "</{name}>"'
                )
            _close_html_entity(entities, stack, name, start, offset - start, open_attributes)
        else:
            parsed = {
                m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
                for m in _ATTR_RE.finditer(attributes)
            }
            if name == "span" and parsed.get("class") != "tg-spoiler":
                raise _html_error(text, index, 'unsupported start tag "span"')
            stack.append((name, offset, parsed))
        index = tag.end()
    if stack:
        raise ValueError(
            "can't parse entities: can't find end tag corresponding to start tag "
            f'"{stack[-1][0]}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(plain), entities


def _decode_char_ref(reference: str) -> str | None:
    if reference.startswith(("#x", "#X")):
        return chr(int(reference[2:], 16)) if int(reference[2:], 16) <= 0x10FFFF else None
    if reference.startswith("#"):
        return chr(int(reference[1:])) if int(reference[1:]) <= 0x10FFFF else None
    return _NAMED_REFS.get(reference)


def _close_html_entity(
    entities: list[JSONDict],
    stack: list[tuple[str, int, dict[str, str]]],
    name: str,
    start: int,
    length: int,
    attributes: dict[str, str],
) -> None:
    language = attributes.get("class", "")
    if name == "code" and stack and stack[-1][0] == "pre" and language.startswith("language-"):
        # <pre><code class="language-x"> is one pre entity with a language, as in Telegram.
        stack[-1][2]["language"] = language.removeprefix("language-")
        return
    if length <= 0:
        return  # Telegram drops empty entities
    entity: JSONDict = {"type": _HTML_ENTITY_TYPES[name], "offset": start, "length": length}
    if name == "a":
        entity["url"] = attributes.get("href", "")
    elif name == "pre" and "language" in attributes:
        entity["language"] = attributes["language"]
    elif name == "blockquote" and "expandable" in attributes:
        entity["type"] = "expandable_blockquote"
    elif name == "tg-emoji":
        entity["custom_emoji_id"] = attributes.get("emoji-id", "")
    entities.append(entity)
