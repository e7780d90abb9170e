"""The peer of `./millrace bench generate`: Hugging Face transformers' `generate` on the model Millrace exported, greedy,
with its KV cache, on the prompt ids the Java side gives, at each batch size (the prompt repeated). Times, after the
weights are loaded: the first call for one new token (cold), the same again (warm first token), and the best of
`rounds` calls for `new` tokens each (every row made to produce all of them: no early stop). The cold first token
is the process's first request, so only the first batch size has one. Then `--concurrent` prompts of different
lengths as one batch, left-padded with an attention mask (how a transformers user batches different prompts): the best
of `rounds` tokens/s, and each row's greedy tokens. With `--compile`, the model's forward runs under `torch.compile`
with a static KV cache (transformers' recipe for a compiled `generate`); the first calls of each shape compile, which
the cold first token then includes. Prints one JSON object.
"""
import argparse
import json
import time

from proc_status import peak_rss_mb


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--prompt", required=True, help="comma-separated token ids")
    p.add_argument("--concurrent", default="", help="prompts of token ids separated by ';'")
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--batches", default="1,8")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--compile", action="store_true")
    a = p.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(a.threads)
    # the exported directory's own class: GPT2LMHeadModel, LlamaForCausalLM, ...
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
    ids = [int(x) for x in a.prompt.split(",")]
    extra = {}
    if a.compile:
        model.forward = torch.compile(model.forward)
        extra["cache_implementation"] = "static"
    out = {"peer": "transformers %s %s generate%s (torch %s)" % (transformers.__version__, type(model).__name__,
                                                                 ", compiled" if a.compile else "", torch.__version__),
           "threads": torch.get_num_threads()}

    def generate(batch, new):
        x = torch.tensor([ids] * batch)
        with torch.inference_mode():
            return model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=new, min_new_tokens=new,
                                  do_sample=False, use_cache=True, pad_token_id=0, eos_token_id=None, **extra)

    first = True
    for batch in [int(b) for b in a.batches.split(",")]:
        # cold: the process's first request after loading, so only the first batch's; warm: the same shape again
        start = time.perf_counter()
        generate(batch, 1)
        cold = (time.perf_counter() - start) * 1000 if first else None
        first = False
        start = time.perf_counter()
        generate(batch, 1)
        warm = (time.perf_counter() - start) * 1000
        best = 0.0
        for _ in range(a.rounds):
            start = time.perf_counter()
            tokens = generate(batch, a.new)
            seconds = time.perf_counter() - start
            assert tokens.shape == (batch, len(ids) + a.new), tokens.shape
            best = max(best, batch * a.new / seconds)
        out["batch_%d" % batch] = {"tokens_per_s": best, "first_token_ms": {"warm": warm, "cold": cold}}
    if a.concurrent:
        prompts = [[int(x) for x in q.split(",")] for q in a.concurrent.split(";")]
        width = max(len(q) for q in prompts)
        x = torch.tensor([[0] * (width - len(q)) + q for q in prompts])
        mask = torch.tensor([[0] * (width - len(q)) + [1] * len(q) for q in prompts])

        def ragged(new):
            with torch.inference_mode():
                return model.generate(x, attention_mask=mask, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                                      use_cache=True, pad_token_id=0, eos_token_id=None, **extra)

        ragged(2)  # warm
        best = 0.0
        for _ in range(a.rounds):
            start = time.perf_counter()
            tokens = ragged(a.new)
            best = max(best, len(prompts) * a.new / (time.perf_counter() - start))
        out["concurrent_%d" % len(prompts)] = {"tokens_per_s": best, "tokens": tokens[:, width:].tolist()}
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
