"""Turn a model completion into the text of its final answer.

Kept separate from scoring so the evaluator and the TRL rewards read completions the same way.
"""

from __future__ import annotations

import re
from typing import Any

_ANSWER_PAIR = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_ANSWER_OPEN = "<answer>"
# A closing tag cut off by the generation length limit ("...</ans"), dropped from an unclosed answer.
_TRUNCATED_CLOSE = re.compile(r"</?(?:a(?:n(?:s(?:w(?:er?)?)?)?)?)?$")


def _content_text(content: Any) -> str:
    """Text of one message's content: a str, or a list of parts where only text parts count."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, (list, tuple)):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") == "text":
                text = part.get("text", part.get("content"))
                if isinstance(text, str):
                    parts.append(text)
        return "".join(parts)
    return str(content)


def completion_text(completion: Any) -> str:
    """The generated text of a TRL completion, whether standard (a str) or conversational.

    Conversational completions are lists of messages; the contents of all ``assistant`` messages are
    joined with newlines (all messages if none has that role), because tool-calling rollouts can
    split one answer over several turns. Image and other non-text parts are ignored.
    """
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)):
        messages = [m for m in completion if isinstance(m, dict)]
        if not messages:
            return _content_text(list(completion))
        assistant = [m for m in messages if m.get("role") == "assistant"]
        chosen = assistant or messages
        return "\n".join(_content_text(m.get("content")) for m in chosen)
    return str(completion)


def extract_answer(text: str | None) -> str | None:
    """The stripped content of the answer tag, or None when the text has no ``<answer>`` tag.

    Rules, in order:

    1. The FIRST complete ``<answer>...</answer>`` pair wins. A model that restates its answer
       is judged by what it committed to first, which also stops "try several answers" hacking.
    2. Otherwise the text from the first ``<answer>`` to the end of the string (generation cut
       off before the closing tag); a second ``<answer>`` ends it (a mistyped closing tag, which
       the paper also accepts), and a truncated closing tag like ``</ans`` at the end is dropped.

    ``<answer></answer>`` gives ``""`` (tag present, answer empty), which every scorer rates 0.
    """
    if not text or not isinstance(text, str):
        return None
    match = _ANSWER_PAIR.search(text)
    if match is not None:
        return match.group(1).strip()
    start = text.find(_ANSWER_OPEN)
    if start < 0:
        return None
    rest = text[start + len(_ANSWER_OPEN) :]
    second = rest.find(_ANSWER_OPEN)
    if second >= 0:
        rest = rest[:second]
    return _TRUNCATED_CLOSE.sub("", rest.rstrip()).strip()
