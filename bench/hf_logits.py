#!/usr/bin/env python3
"""Logits of a Hugging Face GPT-2 directory computed independently of Millrace: the safetensors file is parsed by
hand (8-byte header length, JSON header, raw little-endian data) and GPT2LMHeadModel's forward pass is written out
with torch.nn.functional (Conv1D weights [in, out], gelu_new, LayerNorm eps 1e-5, tied head). Used by
HuggingFaceExportIT where transformers itself is not installable (PyPI's transformers needs torch >= 2; Debian ships
1.13); with transformers present, GPT2LMHeadModel.from_pretrained(DIR) gives the same numbers.

usage: hf_logits.py DIR TOKEN_ID...   prints a JSON list of the logits at every position ([T][vocab])
"""
import json, math, struct, sys
import numpy as np
import torch
import torch.nn.functional as F


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info
        a, b = info["data_offsets"]
        out[name.removeprefix("transformer.")] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy()).view(info["shape"])
    return out


def main():
    d = sys.argv[1]
    cfg = json.load(open(d + "/config.json"))
    w = load(d + "/model.safetensors")
    ids = torch.tensor([int(t) for t in sys.argv[2:]])
    t, c, heads = len(ids), cfg["n_embd"], cfg["n_head"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    x = w["wte.weight"][ids] + w["wpe.weight"][:t]
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
    for i in range(cfg["n_layer"]):
        p = lambda n: w["h.%d.%s" % (i, n)]
        h = F.layer_norm(x, (c,), p("ln_1.weight"), p("ln_1.bias"), eps)
        q, k, v = (h @ p("attn.c_attn.weight") + p("attn.c_attn.bias")).split(c, dim=-1)
        q, k, v = (z.view(t, heads, c // heads).transpose(0, 1) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // heads)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(0, 1).reshape(t, c)
        x = x + y @ p("attn.c_proj.weight") + p("attn.c_proj.bias")
        h = F.layer_norm(x, (c,), p("ln_2.weight"), p("ln_2.bias"), eps)
        h = F.gelu(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias"), approximate="tanh")
        x = x + h @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias")
    x = F.layer_norm(x, (c,), w["ln_f.weight"], w["ln_f.bias"], eps)
    print(json.dumps((x @ w["wte.weight"].t()).tolist()))


if __name__ == "__main__":
    main()
