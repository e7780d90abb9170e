"""The peer of `./millrace bench generate`: Hugging Face transformers' `generate` on the model Millrace exported, greedy,
with its KV cache, on the prompt ids the Java side gives, at each batch size (the prompt repeated). Times, after the
weights are loaded: the first call for one new token (cold), the same again (warm first token), and the best of
`rounds` calls for `new` tokens each (every row made to produce all of them: no early stop). The cold first token
is the process's first request, so only the first batch size has one. Prints one JSON object.
"""
import argparse
import json
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--prompt", required=True, help="comma-separated token ids")
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--batches", default="1,8")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()

    import torch
    import transformers
    from transformers import GPT2LMHeadModel

    torch.set_num_threads(a.threads)
    model = GPT2LMHeadModel.from_pretrained(a.model).eval()
    ids = [int(x) for x in a.prompt.split(",")]
    out = {"peer": "transformers %s generate (torch %s)" % (transformers.__version__, torch.__version__),
           "threads": torch.get_num_threads()}

    def generate(batch, new):
        x = torch.tensor([ids] * batch)
        with torch.inference_mode():
            return model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=new, min_new_tokens=new,
                                  do_sample=False, use_cache=True, pad_token_id=0, eos_token_id=None)

    first = True
    for batch in [int(b) for b in a.batches.split(",")]:
        cold = None  # the process's first request after loading only: the first batch's
        if first:
            start = time.perf_counter()
            generate(batch, 1)
            cold = (time.perf_counter() - start) * 1000
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
    import resource
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps(out))


if __name__ == "__main__":
    main()
