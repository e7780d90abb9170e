"""The Python peers of `./millrace bench tokenizer`: OpenAI's tiktoken and Hugging Face's tokenizers, as their users
run them, on the documents and vocabulary the Java side gives.

tokenizers loads the tokenizer.json given: the one Millrace writes for an OpenAI vocabulary, or an open model's own
(Llama 3's, Qwen3's). tiktoken is one of two, or none:
- an OpenAI vocabulary (--tiktoken-registry): built offline from the rank file JTokkit ships (the same file tiktoken
  would download), with the pattern and special tokens tiktoken's own registry defines for it;
- an open model whose rule is tiktoken's (--tiktoken-from-json, Llama 3): an Encoding of the tokenizer.json's ranks
  (its ids), the split pattern given and its added tokens as special tokens, as Meta's Llama 3 code builds one.
Before timing, every document's ids are checked against Millrace's (a SHA-256 over each document's ids as int32, in
order): tiktoken's encode_ordinary against Millrace's encode, tokenizers' encode (which finds added tokens in the text)
against its encodeWithSpecials. Encoding is timed `rounds` times after a warm-up round: one thread calls tiktoken's
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


def tiktoken_from_registry(vocab, ranks_path):
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
    return tiktoken.Encoding(**params)


def byte_level_alphabet():
    """GPT-2's printable character for each byte, as tokenizer.json vocabularies spell tokens: character -> byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) \
        + list(range(ord("\xae"), ord("\xff") + 1))
    chars, shifted = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + shifted)] = b
            shifted += 1
    return chars


def tiktoken_from_tokenizer_json(path, pattern):
    import tiktoken

    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    specials = {t["content"]: t["id"] for t in spec["added_tokens"]}
    byte_of = byte_level_alphabet()
    ranks = {bytes(byte_of[c] for c in token): rank for token, rank in spec["model"]["vocab"].items()
             if token not in specials}
    return tiktoken.Encoding(name=path, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)


def checksum(id_lists):
    h = hashlib.sha256()
    for ids in id_lists:
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
    p.add_argument("--hf-json", required=True)
    p.add_argument("--tiktoken-registry", help="an OpenAI vocabulary (r50k, cl100k, o200k), with --ranks")
    p.add_argument("--ranks", help="its rank file")
    p.add_argument("--tiktoken-from-json", action="store_true", help="tiktoken from --hf-json's ranks, with --pattern")
    p.add_argument("--pattern", help="the split pattern for --tiktoken-from-json")
    p.add_argument("--checksum", required=True, help="Millrace's encode over every document")
    p.add_argument("--checksum-hf", required=True, help="Millrace's encodeWithSpecials over every document")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()

    import tokenizers

    docs = load_docs(a.docs)
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    hf = tokenizers.Tokenizer.from_file(a.hf_json)
    hf_ids = [e.ids for e in hf.encode_batch(docs, add_special_tokens=False)]
    result = {
        "threads": a.threads,
        "mb": nbytes / 1e6,
        "tokenizers": {"version": tokenizers.__version__, "ids_identical": checksum(hf_ids) == a.checksum_hf},
    }
    del hf_ids

    def hfb(ds):
        hf.encode_batch(ds, add_special_tokens=False)

    enc = None
    if a.tiktoken_registry:
        enc = tiktoken_from_registry(a.tiktoken_registry, a.ranks)
    elif a.tiktoken_from_json:
        enc = tiktoken_from_tokenizer_json(a.hf_json, a.pattern)
    if enc is not None:
        import tiktoken

        tk_ids = enc.encode_ordinary_batch(docs, num_threads=max(1, a.threads))
        result["tiktoken"] = {"version": tiktoken.__version__, "ids_identical": checksum(tk_ids) == a.checksum}
        del tk_ids
        if a.threads == 1:
            def tk(ds):
                for d in ds:
                    enc.encode_ordinary(d)
        else:
            def tk(ds):
                enc.encode_ordinary_batch(ds, num_threads=a.threads)

        result["tiktoken"]["mb_per_s"] = timed(tk, docs, nbytes, a.rounds)
    result["tokenizers"]["mb_per_s"] = timed(hfb, docs, nbytes, a.rounds)
    result["peak_rss_mb"] = peak_rss_mb()  # the peers and the documents
    print(json.dumps(result))


if __name__ == "__main__":
    main()
