#!/usr/bin/env python3
"""Chat templates rendered by transformers, the reference Millrace's renderer (millrace.tokenizer.jinja.ChatJinja) is
checked against: one process renders every case of a test class.

usage: chat_template_reference.py CASES.json   prints a JSON list, one {"text": ...} or {"error": ...} per case

CASES.json is a list of cases, each:
  {"tokenizer": DIR or null,          a directory with tokenizer.json and tokenizer_config.json
   "template": JINJA or null,         the template (null: the tokenizer's own)
   "special_tokens": {...},           without a tokenizer: bos_token, eos_token... as the template sees them
   "messages": [...], "add_generation_prompt": bool, "tools": [...] or null, "documents": [...] or null,
   "kwargs": {...},                   further template variables (enable_thinking, date_string...)
   "ids": bool}                       also tokenize, as apply_chat_template(tokenize=True) does: "ids" in the answer

With a tokenizer it is tokenizer.apply_chat_template(messages, tokenize=False, ...); without, transformers' own
render_jinja_template (what apply_chat_template calls) with the special tokens given.
"""
import json
import sys

from transformers import AutoTokenizer
from transformers.utils.chat_template_utils import render_jinja_template

tokenizers = {}


def render(case):
    kwargs = case.get("kwargs") or {}
    common = dict(tools=case.get("tools"), documents=case.get("documents"),
                  add_generation_prompt=case.get("add_generation_prompt", False))
    if case.get("tokenizer"):
        d = case["tokenizer"]
        if d not in tokenizers:
            tokenizers[d] = AutoTokenizer.from_pretrained(d)
        tok = tokenizers[d]
        text = tok.apply_chat_template(case["messages"], chat_template=case.get("template"), tokenize=False,
                                       **common, **kwargs)
        out = {"text": text}
        if case.get("ids"):
            out["ids"] = tok.apply_chat_template(case["messages"], chat_template=case.get("template"), tokenize=True,
                                                 return_dict=False, **common, **kwargs)
        return out
    rendered, _ = render_jinja_template(conversations=[case["messages"]], chat_template=case["template"],
                                        **common, **(case.get("special_tokens") or {}), **kwargs)
    return {"text": rendered[0]}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    out = []
    for case in cases:
        try:
            out.append(render(case))
        except Exception as e:  # the template's raise_exception, a syntax error: the case's answer
            out.append({"error": f"{type(e).__name__}: {e}"})
    sys.stdout.write(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
