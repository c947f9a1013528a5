"""Turn schema samples into chat prompts and SFT targets (the Curr-ReFT prompt conventions)."""

from __future__ import annotations

from typing import Any

from currvl.data.schema import format_options

_THINK = "First output the thinking process in <think> </think> tags and then output the final answer in <answer> </answer> tags."

# Answer-format instruction appended to the question, per task type (Curr-ReFT section 2.5 wording).
FORMAT_SUFFIXES: dict[str, str] = {
    "text": _THINK,
    "math": _THINK,
    "labels": _THINK + " Give all labels that apply, separated by commas.",
    "box": _THINK + " Output the final answer as a box [x1, y1, x2, y2] in pixels.",
    "yes_no": _THINK + " Ensure your final answer is exactly 'yes' or 'no'.",
    "choice": _THINK
    + " Ensure your final answer is exactly one of the provided option letters without any additional text.",
    "choice_multi": _THINK
    + " Select all options that accurately describe what is shown in the image. Ensure your final answer is "
    "exactly one or more of the provided option letters without any additional text.",
}


def question_text(sample: dict[str, Any], with_suffix: bool = True) -> str:
    """The user's text: question, rendered options for choice items, then the answer-format instruction."""
    text = sample["question"].strip()
    task = sample["task"]
    if task == "choice" and sample.get("options"):
        text = f"{text}\n{format_options(sample['options'])}"
        if "," in sample["answer"]:
            task = "choice_multi"
    if with_suffix:
        text = f"{text} {FORMAT_SUFFIXES[task]}"
    return text


def prompt_messages(sample: dict[str, Any], with_suffix: bool = True) -> list[dict[str, Any]]:
    """A one-turn conversational prompt; the image placeholder goes first, as in Qwen-VL's own examples."""
    content: list[dict[str, Any]] = []
    if sample.get("image") is not None:
        content.append({"type": "image"})
    content.append({"type": "text", "text": question_text(sample, with_suffix)})
    return [{"role": "user", "content": content}]


def target_text(sample: dict[str, Any]) -> str:
    """The SFT target in the reasoning format the rewards check: <think>..</think><answer>..</answer>."""
    rationale = (sample.get("rationale") or "").strip()
    return f"<think>{rationale}</think>\n<answer>{sample['answer'].strip()}</answer>"


def completion_messages(sample: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": [{"type": "text", "text": target_text(sample)}]}]
