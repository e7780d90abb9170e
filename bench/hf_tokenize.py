"""Hugging Face tokenizers as its users call it: the reference Millrace's byte-level BPE is checked against on
tokenizer.json files as Hugging Face writes them (Llama 3, Qwen3, SmolLM2's and Llama 3.1's shapes).

Reads requests from the file given, one JSON object a line: {"tokenizer": the path of a tokenizer.json, "text": ...,
"add_special_tokens": whether the post-processor may add its tokens (default false)}. Prints a first line
{"tokenizers": version}, then for each request one line: the ids as a JSON array. Each tokenizer is loaded once.
`Tokenizer.encode` finds every added token in the text (special or not), as transformers' fast tokenizers do.
"""
import json
import sys

import tokenizers


def main():
    loaded = {}
    out = sys.stdout
    out.write(json.dumps({"tokenizers": tokenizers.__version__}) + "\n")
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            request = json.loads(line)
            path = request["tokenizer"]
            if path not in loaded:
                loaded[path] = tokenizers.Tokenizer.from_file(path)
            encoding = loaded[path].encode(request["text"], add_special_tokens=request.get("add_special_tokens", False))
            out.write(json.dumps(encoding.ids) + "\n")


if __name__ == "__main__":
    main()
