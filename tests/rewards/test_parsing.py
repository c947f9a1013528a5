from currvl.rewards import completion_text, extract_answer


def test_completion_text_plain_string():
    assert completion_text("<answer>7</answer>") == "<answer>7</answer>"


def test_completion_text_conversational_string_content():
    completion = [{"role": "assistant", "content": "<think>x</think><answer>7</answer>"}]
    assert completion_text(completion) == "<think>x</think><answer>7</answer>"


def test_completion_text_conversational_parts():
    completion = [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "<think>x</think>"},
                {"type": "image"},
                {"type": "text", "text": "<answer>7</answer>"},
            ],
        }
    ]
    assert completion_text(completion) == "<think>x</think><answer>7</answer>"


def test_completion_text_keeps_only_assistant_turns():
    completion = [
        {"role": "assistant", "content": "a"},
        {"role": "tool", "content": "tool output"},
        {"role": "assistant", "content": "b"},
    ]
    assert completion_text(completion) == "a\nb"


def test_completion_text_odd_inputs():
    assert completion_text(None) == ""
    assert completion_text([]) == ""
    assert completion_text([{"role": "assistant", "content": None}]) == ""


def test_extract_answer_basic_and_strip():
    assert extract_answer("<think>t</think><answer>  red \n</answer>") == "red"


def test_extract_answer_first_complete_pair_wins():
    assert extract_answer("<answer>A</answer> actually <answer>B</answer>") == "A"


def test_extract_answer_unclosed_runs_to_end():
    assert extract_answer("<think>t</think><answer> 42 ") == "42"
    assert extract_answer("<answer>42</ans") == "42"  # closing tag cut off by the length limit
    assert extract_answer("<answer>42<answer>") == "42"  # mistyped closing tag


def test_extract_answer_missing_or_empty():
    assert extract_answer("the answer is 42") is None
    assert extract_answer("") is None
    assert extract_answer(None) is None
    assert extract_answer("<answer></answer>") == ""
    assert extract_answer("<answer>   </answer>") == ""
