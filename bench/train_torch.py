#!/usr/bin/env python3
"""The peer of `millrace bench train`: for GPT-2's shape the same GPT as Millrace's (nanoGPT's architecture: token and
position embeddings, pre-LayerNorm blocks of causal self-attention and a tanh-GELU MLP, tied output head, GPT-2
initialisation); for the Llama family transformers' own class of the model's config.json (LlamaForCausalLM,
Qwen2ForCausalLM, Qwen3ForCausalLM, with sdpa attention and transformers' initialisation) — trained by PyTorch with the
same AdamW (decay on matrices only, not the embeddings), warm-up + cosine schedule, global-norm clipping at 1.0, batch
and sequence length, on the same token stream. `bench train` runs it with the PyTorch that bench/python-env.sh installs.

usage: train_torch.py (--layers 4 --heads 4 --width 128 --vocab 50257 | --hf-config DIR) --seq 64 --batch 8
                      --steps 1000 --tokens FILE [--device cuda] [--dtype fp32|tf32|fp16|bf16]
prints one JSON line: tokens/s over the timed steps, peak and per-100-step RSS, final loss.

What PyTorch offers is used where this torch has it, as Millrace uses libtorch's: F.scaled_dot_product_attention
(torch >= 2.0; written out on 1.13) and the fused AdamW kernel (torch >= 2.4 on a CPU, 2.0 on CUDA). fp16/bf16 run
under autocast on either device (fp16 on a GPU with a GradScaler); tf32 sets allow_tf32 on a GPU.
"""
import argparse, json, math, os, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from proc_status import status_mb


class Block(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(c)
        self.c_attn = nn.Linear(c, 3 * c)
        self.attn_proj = nn.Linear(c, c)
        self.ln_2 = nn.LayerNorm(c)
        self.c_fc = nn.Linear(c, 4 * c)
        self.mlp_proj = nn.Linear(4 * c, c)

    def forward(self, x, mask):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(mask[:, :, :t, :t] == 0, float("-inf")).softmax(dim=-1)
            y = att @ v
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, layers, heads, c, vocab, block):
        super().__init__()
        self.wte = nn.Embedding(vocab, c)
        self.wpe = nn.Embedding(block, c)
        self.h = nn.ModuleList(Block(c, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(c)
        self.register_buffer("mask", torch.tril(torch.ones(block, block)).view(1, 1, block, block))
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))
            elif p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        t = idx.size(1)
        x = self.wte(idx) + self.wpe.weight[:t]
        for block in self.h:
            x = block(x, self.mask)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


class HuggingFaceModel(nn.Module):
    """transformers' model of a config.json, as its users train it: the logits of every position, the cross-entropy in
    fp32 (as transformers' own loss computes it)."""

    def __init__(self, config_dir):
        super().__init__()
        from transformers import AutoConfig, AutoModelForCausalLM
        self.model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(config_dir), attn_implementation="sdpa")

    def forward(self, idx, targets):
        logits = self.model(input_ids=idx, use_cache=False).logits
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))


def main():
    a = argparse.ArgumentParser()
    for name, default in [("layers", 4), ("heads", 4), ("width", 128), ("vocab", 50257), ("seq", 64), ("batch", 8),
                          ("steps", 1000), ("warmup", 5)]:
        a.add_argument("--" + name, type=int, default=default)
    a.add_argument("--tokens", required=True, help="int32 little-endian token ids")
    a.add_argument("--hf-config", help="a directory with a config.json: transformers' model of it instead of nanoGPT's")
    a.add_argument("--lr", type=float, default=3e-3)
    a.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads (default: every core, as libtorch in DJL)")
    a.add_argument("--device", default="cpu")
    a.add_argument("--dtype", default="fp32", choices=["fp32", "tf32", "fp16", "bf16"])
    a.add_argument("--compile", action="store_true", help="the model under torch.compile (Inductor), not eager")
    a.add_argument("--phases", type=int, default=0,
                   help="after the timed steps, N more that wait for the device at each phase's end: median ms of forward "
                        "with the loss, backward, update")
    args = a.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = args.dtype == "tf32"
        torch.backends.cudnn.allow_tf32 = args.dtype == "tf32"
    autocast = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(args.dtype)
    scaler = None
    if cuda and args.dtype == "fp16":
        scaler = torch.amp.GradScaler("cuda") if hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler()
    def device_used():
        free, total = torch.cuda.mem_get_info(device)
        return total - free
    used_before = device_used() if cuda else 0  # after CUDA's context is made: that is not the run's
    tokens = torch.from_numpy(np.fromfile(args.tokens, dtype="<i4").astype(np.int64))
    model = (HuggingFaceModel(args.hf_config) if args.hf_config else
             GPT(args.layers, args.heads, args.width, args.vocab, args.seq)).to(device)
    step_model = torch.compile(model) if args.compile else model
    embedding = lambda n: "wpe" in n or "wte" in n or "embed_tokens" in n
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not embedding(n)]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and not embedding(n))]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
        opt.step()  # no gradients yet: a no-op that fails where this torch has no fused kernel for the device
        fused = True
    except (TypeError, RuntimeError):
        opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
        fused = False
    row = args.seq + 1
    per_step = args.batch * row
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def train_step(step, marks=None):
        """One step; with marks, waits for the device at each phase's end and appends the time there."""
        lr = args.lr * min(1.0, (step + 1) / 20) if step < 20 else \
            3e-4 + 0.5 * (args.lr - 3e-4) * (1 + math.cos(math.pi * min(1.0, (step - 20) / (5000 - 20))))
        for g in opt.param_groups:
            g["lr"] = lr
        start = (step * per_step) % (len(tokens) - per_step)
        batch = tokens[start:start + per_step].view(args.batch, row).to(device)
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            loss = step_model(batch[:, :-1], batch[:, 1:])
        mark(marks)
        opt.zero_grad(set_to_none=True)  # launches nothing: the gradients are dropped, not zeroed
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
        mark(marks)
        if scaler is not None:
            scaler.unscale_(opt)  # in the update, as Millrace unscales inside its optimizer step
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        mark(marks)
        return loss

    def mark(marks):
        if marks is not None:
            sync()
            marks.append(time.perf_counter())

    rss, loss_value, started = [], float("nan"), None
    for step in range(args.steps + args.warmup):
        if step == args.warmup:
            started = time.perf_counter()
        loss_value = train_step(step).item()  # a host sync every step, as Millrace's trainer has
        if (step - args.warmup) % 100 == 0 and step >= args.warmup:
            rss.append(round(status_mb("VmRSS"), 1))
    sync()
    seconds = time.perf_counter() - started
    phases = {}
    if args.phases > 0:
        timed = []
        for step in range(args.steps + args.warmup, args.steps + args.warmup + args.phases):
            marks = [time.perf_counter()]
            train_step(step, marks).item()
            timed.append([1000 * (b - a) for a, b in zip(marks, marks[1:])])
        median = lambda xs: sorted(xs)[(len(xs) - 1) // 2]
        phases = {"phases_ms": {name: median([t[i] for t in timed]) for i, name in enumerate(["forward", "backward", "update"])}}
    # on a GPU the memory that matters is the device's: what the run took of it, the device's use now less before the
    # model (the caching allocator keeps its peak reservation; cuBLAS's workspaces and loaded kernels count too), as
    # Millrace's bench measures its own run; and the allocator's own peak reservation
    device_memory = {"device_memory_mb": (device_used() - used_before) / 2 ** 20,
                     "allocator_reserved_mb": torch.cuda.max_memory_reserved() / 2 ** 20} if cuda else {}
    kernels = ("sdpa" if hasattr(F, "scaled_dot_product_attention") else "explicit attention") + \
        (", fused AdamW" if fused else "")
    mode = "compiled" if args.compile else "eager"
    if args.hf_config:
        import transformers
        kernels += ", transformers %s %s" % (transformers.__version__, type(model.model).__name__)
    print(json.dumps({"peer": "PyTorch %s %s %s %s (%s)" % (torch.__version__, mode, args.device, args.dtype, kernels),
                      "version": torch.__version__, "mode": mode,
                      "threads": torch.get_num_threads(),
                      "steps": args.steps, "tokens_per_s": args.steps * args.batch * args.seq / seconds,
                      "seconds": seconds, "final_loss": loss_value, "rss_mb_every_100_steps": rss,
                      "peak_rss_mb": status_mb("VmHWM"), **device_memory, **phases}))


if __name__ == "__main__":
    main()
