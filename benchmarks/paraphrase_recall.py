#!/usr/bin/env python3
"""Topic recall on the paraphrased topics of a labelled set: the labelled topics none of whose
relevant cards shares a word with the keyword (title, tags or trigger words; plural "s" and a few
packaging words ignored), e.g. "rainy day" for a card titled "Drizzle". A name match cannot find
these; only the semantic evidence can. Prints "hit/total".

  benchmarks/paraphrase_recall.py ../shared/bench/dev-b composed.jsonl
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from fit_composer import words as content_words  # noqa: E402  the fitting script's word normalisation

# Packaging words that say nothing about what a card draws.
PACKAGING = {"style", "art", "xl", "lora"}


def words(text):
    return content_words(text) - PACKAGING


def main():
    bench, composed = sys.argv[1], sys.argv[2]
    cards = {}
    with open(f"{bench}/catalog.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                c = json.loads(line)
                cards[c["adapter_id"]] = c
    chosen = {}
    with open(composed, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                chosen[r["id"]] = {a["adapter_id"] for t in r["topics"] for a in t["adapters"]}
    total = hit = 0
    with open(f"{bench}/queries.jsonl", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            q = json.loads(line)
            for t in q["topics"]:
                if not t["relevant"]:
                    continue
                names = set()
                for a in t["relevant"]:
                    c = cards[a]
                    for text in [c["title"]] + c.get("tags", []) + c.get("trigger_words", []):
                        names |= words(text)
                if words(t["keyword"]) & names:
                    continue
                total += 1
                hit += bool(set(t["relevant"]) & chosen.get(q["id"], set()))
    print(f"{hit}/{total}")


if __name__ == "__main__":
    main()
