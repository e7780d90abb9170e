#!/usr/bin/env python3
"""The Llama family as transformers builds and runs it: the reference Millrace's import, forward pass and export are
checked against (LlamaFamilyIT). No weights can be downloaded here, so transformers builds each model with random
weights at a small size of a real config — SmolLM2's 9 query / 3 key-value heads, rope_theta 1e5 and tied embeddings;
Qwen2.5's q/k/v biases; Qwen3's q/k norms and a head_dim that is not width / heads; Llama 3.2's llama3 rope scaling
with positions on both sides of its original context — saved with save_pretrained in fp32, bf16 or fp16, some in
shards, beside a small byte-level BPE tokenizer trained here.

usage: llama_reference.py make OUT       one directory per model under OUT, each with ids.json (the tokens) and
                                         logits.f32 (transformers' fp32 logits at every position, [T][vocab] little-endian)
       llama_reference.py logits DIR...  logits.f32 of the directories' ids.json, from AutoModelForCausalLM.from_pretrained
"""
import json, os, sys

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
          "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
TEXT = ("In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness "
        "was upon the face of the deep. And the Spirit of God moved upon the face of the waters. And God said, Let there "
        "be light: and there was light. Im Anfang schuf Gott Himmel und Erde. En el principio creó Dios los cielos y la "
        "tierra. В начале сотворил Бог небо и землю. 1234567890 + - * / == != <= >= {} [] () ")

# name: (config class, config, stored dtype, shard size)
CASES = {
    "smollm2": (LlamaConfig, dict(hidden_size=72, intermediate_size=192, num_hidden_layers=2, num_attention_heads=9,
                                  num_key_value_heads=3, max_position_embeddings=256, rope_theta=100000.0,
                                  rms_norm_eps=1e-5, tie_word_embeddings=True), torch.float32, None),
    "qwen2": (Qwen2Config, dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                num_key_value_heads=2, max_position_embeddings=256, rope_theta=1000000.0,
                                rms_norm_eps=1e-6, tie_word_embeddings=True), torch.float16, None),
    "qwen3": (Qwen3Config, dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                num_key_value_heads=2, head_dim=32, max_position_embeddings=256, rope_theta=1000000.0,
                                rms_norm_eps=1e-6, tie_word_embeddings=False), torch.float32, None),
    "llama32": (LlamaConfig, dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                                  num_key_value_heads=2, head_dim=16, max_position_embeddings=256, rope_theta=500000.0,
                                  rms_norm_eps=1e-5, tie_word_embeddings=False,
                                  rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
                torch.bfloat16, "40KB"),
}
TOKENS = 96  # past llama32's original context of 64


def tokenizer(out):
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    t.train_from_iterator([TEXT] * 4, trainer)
    t.save(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|endoftext|>", "eos_token": "<|im_end|>",
                   "pad_token": "<|endoftext|>", "chat_template": CHATML}, f)
    return t.get_vocab_size()


def randomize(model):
    """Weights far from their initialisation (norms around 1, biases not 0), so that every one of them shows in the logits."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.12 * torch.randn(p.shape, generator=g))


def logits(directory):
    ids = json.load(open(os.path.join(directory, "ids.json")))
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        out = model(torch.tensor([ids])).logits[0].float().contiguous()
    out.numpy().astype("<f4").tofile(os.path.join(directory, "logits.f32"))


def make(root):
    torch.manual_seed(0)
    for name, (cls, kwargs, dtype, shard) in CASES.items():
        out = os.path.join(root, name)
        os.makedirs(out, exist_ok=True)
        vocab = tokenizer(out)
        config = cls(vocab_size=vocab, bos_token_id=0, eos_token_id=2, **kwargs)
        model = AutoModelForCausalLM.from_config(config)
        randomize(model)
        model = model.to(dtype)
        model.save_pretrained(out, **({"max_shard_size": shard} if shard else {}))
        g = torch.Generator().manual_seed(11)
        json.dump(torch.randint(0, vocab, (TOKENS,), generator=g).tolist(), open(os.path.join(out, "ids.json"), "w"))
        logits(out)


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "logits":
        for d in sys.argv[2:]:
            logits(d)
    else:
        sys.exit(__doc__)
