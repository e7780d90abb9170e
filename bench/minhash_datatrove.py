#!/usr/bin/env python3
"""The peer of `millrace bench dedup`: MinHash signatures computed the way datatrove's MinhashDedupSignature does it
(simplify the text, word 5-gram shingles, a 64-bit SHA-1 prefix per shingle, 112 universal hash permutations
(a*x + b) mod (2^61 - 1) vectorised with NumPy, the minimum per permutation). A faithful re-implementation with
NumPy only (datatrove itself is not installable offline here); it reports MB/s on one core for the signature stage.

usage: minhash_datatrove.py FILE_LIST   (one gzipped text file per line; prints one JSON line)
"""
import gzip, hashlib, json, re, string, sys, time
import numpy as np

PERMUTATIONS = 112
SHINGLE = 5
MERSENNE = np.uint64((1 << 61) - 1)
MAX_HASH = np.uint64((1 << 32) - 1)
PUNCT = re.compile("[" + re.escape(string.punctuation) + "]")
rng = np.random.RandomState(1)
A, B = np.array([(rng.randint(1, int(MERSENNE), dtype=np.uint64), rng.randint(0, int(MERSENNE), dtype=np.uint64))
                 for _ in range(PERMUTATIONS)], dtype=np.uint64).T


def simplify(text):
    return " ".join(PUNCT.sub(" ", text.lower()).split())


def signature(text):
    words = simplify(text).split(" ")
    grams = {" ".join(words[i:i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    shingles = np.fromiter((int.from_bytes(hashlib.sha1(g.encode()).digest()[:8], "little") for g in grams),
                           dtype=np.uint64, count=len(grams)).reshape(-1, 1)
    phv = np.bitwise_and((shingles * A + B) % MERSENNE, MAX_HASH)
    return phv.min(axis=0)


def main():
    texts = [gzip.open(p.strip(), "rt", encoding="utf-8", errors="replace").read() for p in open(sys.argv[1]) if p.strip()]
    size = sum(len(t.encode()) for t in texts)
    start = time.perf_counter()
    for t in texts:
        signature(t)
    seconds = time.perf_counter() - start
    print(json.dumps({"documents": len(texts), "bytes": size, "seconds": seconds, "mb_per_s": size / 1e6 / seconds}))


if __name__ == "__main__":
    main()
