"""The tiny model is a real Qwen2.5-VL that loads through the same path as a hub checkpoint."""

import torch
from PIL import Image
from transformers import Qwen2_5_VLForConditionalGeneration

from currvl.data.prompts import prompt_messages
from currvl.data.schema import make_sample
from currvl.models import load_model
from currvl.models.tiny import TAG_TOKENS


def test_saved_folder_loads_as_qwen2_5_vl_with_left_padding(tiny_model_dir):
    model, processor = load_model(tiny_model_dir)
    assert isinstance(model, Qwen2_5_VLForConditionalGeneration)
    assert processor.tokenizer.padding_side == "left"
    assert (tiny_model_dir / "model.safetensors").exists()
    # the reasoning tags are single tokens that survive decoding
    for tag in TAG_TOKENS:
        ids = processor.tokenizer(tag, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and processor.tokenizer.decode(ids) == tag


def test_chat_template_renders_qwen_image_placeholders(tiny_model_dir):
    _, processor = load_model(tiny_model_dir)
    sample = make_sample("What color is the shape?", "red", "text", image=Image.new("RGB", (56, 56)))
    text = processor.apply_chat_template(prompt_messages(sample), add_generation_prompt=True, tokenize=False)
    assert "<|vision_start|><|image_pad|><|vision_end|>What color is the shape?" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_mixed_image_sizes_and_text_only_in_one_batch(tiny_model_dir):
    """Right padding breaks Qwen-VL rope indices when image sizes differ; left padding must work."""
    model, processor = load_model(tiny_model_dir)
    sizes = [(56, 56), (112, 84), (140, 140)]
    samples = [
        make_sample("What color is the shape?", "red", "text", image=Image.new("RGB", s, "red"))
        for s in sizes
    ]
    samples.append(make_sample("What is 2 + 3?", "5", "math"))
    texts = [
        processor.apply_chat_template(prompt_messages(s), add_generation_prompt=True, tokenize=False)
        for s in samples
    ]
    images = [s["image"] for s in samples if s["image"] is not None]
    batch = processor(text=texts, images=images, return_tensors="pt", padding=True)
    assert (batch["attention_mask"][:, -1] == 1).all()  # left padded
    assert len({int(t.prod()) for t in batch["image_grid_thw"]}) == 3  # three different image sizes
    out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert out.shape[0] == 4
    # batched logits equal the logits of each sample alone (padding does not leak into the result)
    with torch.no_grad():
        full = model(**batch).logits[:, -1]
        single = processor(text=texts[1:2], images=images[1:2], return_tensors="pt")
        alone = model(**single).logits[:, -1]
    assert torch.allclose(full[1], alone[0], atol=1e-4)


def test_shipped_base_tokenizer_knows_the_domain_words():
    """Trained on general English (domain words included) and the synthetic worlds' text."""
    from transformers import AutoTokenizer

    from currvl.models.loading import SHIPPED_BASE

    tok = AutoTokenizer.from_pretrained(SHIPPED_BASE)
    for word in (" nodule", " calcification", " cyst", " organ"):
        assert len(tok(word, add_special_tokens=False)["input_ids"]) == 1, word


def test_the_frozen_tokenizer_corpus_rebuilds_the_shipped_tokenizer():
    """`currvl model pretrain` trains its tokenizer on the frozen corpus: same merges, same ids as the
    shipped base, whatever wording the synthetic worlds have today."""
    import json

    from currvl.models.loading import SHIPPED_BASE
    from currvl.models.tiny import frozen_tokenizer_corpus, train_tokenizer

    shipped = json.loads((SHIPPED_BASE / "tokenizer.json").read_text())["model"]
    rebuilt = json.loads(train_tokenizer(frozen_tokenizer_corpus(), 2048).backend_tokenizer.to_str())["model"]
    assert rebuilt["vocab"] == shipped["vocab"]
    assert rebuilt["merges"] == shipped["merges"]
