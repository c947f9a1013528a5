"""One vision encoding per distinct image: same outputs and gradients as encoding every copy."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from currvl.models import load_model
from currvl.models.vision_sharing import distinct_images, share_image_encoding, unshare_image_encoding


def test_distinct_images_groups_equal_patches_and_grids():
    a, b = torch.randn(4, 6), torch.randn(4, 6)
    pixels = torch.cat([a, a, b, a, b.reshape(4, 6)])
    grid = torch.tensor([[1, 2, 2]] * 4 + [[1, 1, 4]])  # the last has b's patches on another grid
    first, inverse = distinct_images(pixels, grid)
    assert first == [0, 2, 4]
    assert inverse == [0, 0, 1, 0, 2]


def test_distinct_images_tells_apart_images_with_equal_sums():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    swapped = a.flip(0)  # same patches in another order: same total, different image
    first, inverse = distinct_images(torch.cat([a, swapped]), torch.tensor([[1, 1, 2], [1, 1, 2]]))
    assert inverse == [0, 1]


def _group_batch(processor, groups: int = 2, group_size: int = 4):
    colours = ["red", "blue", "green"]
    messages = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What color?"}]}]]
    text = processor.apply_chat_template(messages[0], add_generation_prompt=True, tokenize=False)
    images = [Image.new("RGB", (56, 84), colours[g]) for g in range(groups) for _ in range(group_size)]
    return processor(text=[text] * len(images), images=images, return_tensors="pt", padding=True)


def _forward_and_grads(model, batch):
    model.zero_grad()
    logits = model(**batch).logits
    (logits.float().pow(2).mean()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), grads


def test_shared_encoding_gives_same_logits_and_gradients(tiny_model_dir):
    model, processor = load_model(tiny_model_dir)
    model.train()
    batch = _group_batch(processor)
    encoded_patches = []
    hook = model.model.visual.register_forward_hook(
        lambda m, args, kw_out: encoded_patches.append(args[0].shape[0])
    )
    logits, grads = _forward_and_grads(model, batch)
    assert share_image_encoding(model)
    shared_logits, shared_grads = _forward_and_grads(model, batch)
    hook.remove()
    assert encoded_patches[1] * 4 == encoded_patches[0], "each distinct image is encoded once"
    assert torch.allclose(logits, shared_logits, atol=1e-5)
    assert grads.keys() == shared_grads.keys()
    assert any("visual" in n for n in grads), "the vision tower gets gradient in both"
    for name, g in grads.items():
        assert torch.allclose(g, shared_grads[name], atol=1e-6, rtol=1e-4), name
    unshare_image_encoding(model)
    assert "get_image_features" not in vars(model.model)


def test_shared_encoding_generates_the_same_tokens(tiny_model_dir):
    model, processor = load_model(tiny_model_dir)
    model.eval()
    batch = _group_batch(processor)
    kwargs = dict(max_new_tokens=6, do_sample=False)
    plain = model.generate(**batch, **kwargs)
    share_image_encoding(model)
    try:
        shared = model.generate(**batch, **kwargs)
    finally:
        unshare_image_encoding(model)
    assert torch.equal(plain, shared)


@pytest.mark.parametrize("model_type", ["llava"])
def test_other_models_are_left_alone(model_type):
    class Config:
        pass

    class Fake(torch.nn.Module):
        config = Config()

    Fake.config.model_type = model_type
    assert share_image_encoding(Fake()) is False
