"""The Python peers of `./millrace bench tokenizer`: OpenAI's tiktoken and Hugging Face's tokenizers, as their users
run them, on the documents and vocabulary the Java side gives.

tiktoken is built offline from the rank file JTokkit ships (the same file tiktoken would download), with the pattern
and special tokens tiktoken's own registry defines for that vocabulary. tokenizers loads the tokenizer.json Millrace
writes for it. Before timing, every document's ids are checked against Millrace's (a SHA-256 over each document's ids
as int32, in order). Encoding is timed `rounds` times after a warm-up round: one thread calls tiktoken's
`encode_ordinary` per document; with more threads, each library's batch call (tiktoken's `encode_ordinary_batch`,
tokenizers' `encode_batch`, whose thread pool RAYON_NUM_THREADS sizes). Prints one JSON object.
"""
import argparse
import base64
import hashlib
import json
import time
from array import array

from proc_status import peak_rss_mb


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def tiktoken_encoding(vocab, ranks_path):
    import tiktoken
    import tiktoken_ext.openai_public as registry

    def load_local(_url, expected_hash=None):
        ranks = {}
        with open(ranks_path, "rb") as f:
            for line in f:
                if line.strip():
                    token, rank = line.split()
                    ranks[base64.b64decode(token)] = int(rank)
        return ranks

    registry.load_tiktoken_bpe = load_local  # the registry's own constructor, fed the local file
    params = getattr(registry, vocab + "_base")()
    return tiktoken.Encoding(**params), tiktoken.__version__


def checksum(id_lists, skip):
    h = hashlib.sha256()
    for i, ids in enumerate(id_lists):
        if i in skip:
            continue
        h.update(array("i", ids).tobytes())
        h.update(len(ids).to_bytes(4, "little"))
    return h.hexdigest()


def timed(fn, docs, nbytes, rounds):
    fn(docs)  # warm-up
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn(docs)
        out.append(nbytes / 1e6 / (time.perf_counter() - start))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--docs", required=True)
    p.add_argument("--vocab", required=True)
    p.add_argument("--ranks", required=True)
    p.add_argument("--hf-json", required=True)
    p.add_argument("--checksum", required=True, help="Millrace's checksum over every document")
    p.add_argument("--checksum-hf", required=True, help="the same over documents without special-token strings")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()

    import tokenizers

    docs = load_docs(a.docs)
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    enc, tk_version = tiktoken_encoding(a.vocab, a.ranks)
    hf = tokenizers.Tokenizer.from_file(a.hf_json)
    with_specials = {i for i, d in enumerate(docs) if "<|" in d}

    tk_ids = enc.encode_ordinary_batch(docs, num_threads=max(1, a.threads))
    hf_ids = [e.ids for e in hf.encode_batch(docs, add_special_tokens=False)]
    result = {
        "threads": a.threads,
        "mb": nbytes / 1e6,
        "tiktoken": {"version": tk_version, "ids_identical": checksum(tk_ids, set()) == a.checksum},
        "tokenizers": {"version": tokenizers.__version__,
                       "ids_identical": checksum(hf_ids, with_specials) == a.checksum_hf},
    }
    if a.threads == 1:
        def tk(ds):
            for d in ds:
                enc.encode_ordinary(d)
    else:
        def tk(ds):
            enc.encode_ordinary_batch(ds, num_threads=a.threads)

    def hfb(ds):
        hf.encode_batch(ds, add_special_tokens=False)

    result["tiktoken"]["mb_per_s"] = timed(tk, docs, nbytes, a.rounds)
    result["tokenizers"]["mb_per_s"] = timed(hfb, docs, nbytes, a.rounds)
    result["peak_rss_mb"] = peak_rss_mb()  # both peers and the documents
    print(json.dumps(result))


if __name__ == "__main__":
    main()
