#!/usr/bin/env python3
"""Check a `stylus catalog export --jsonl` against a benchmark catalog (e.g. ../shared/bench/dev).

Usage: catalog_check.py CATALOG.jsonl EXPORT.jsonl [WEIGHTS.jsonl]

Prints category accuracy (refined category vs the category tag in each card's tags), the
character-flag agreement, and, with WEIGHTS.jsonl, weight accuracy (|w - expected| <= 0.05,
expected 0.8 where absent), listing every miss.
"""
import json
import sys

CATS = {"style", "character", "celebrity", "concept", "clothing", "background", "building",
        "vehicle", "animal", "pose", "action", "object", "tool"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cards = {c["adapter_id"]: c for c in load(sys.argv[1])}
    export = {e["adapter_id"]: e for e in load(sys.argv[2])}
    missing = [a for a in cards if a not in export]
    cat_ok = cat_n = 0
    misses = []
    for aid, card in cards.items():
        tag = next((t for t in card["tags"] if t in CATS), None)
        if tag is None or aid not in export:
            continue
        cat_n += 1
        if export[aid]["category"] == tag:
            cat_ok += 1
        else:
            misses.append(f"category {aid} {card['alias']}: got {export[aid]['category']}, tag says {tag}")
    print(f"exported {len(export)} of {len(cards)} cards ({len(missing)} missing)")
    print(f"category_acc {cat_ok / max(cat_n, 1):.4f} ({cat_ok}/{cat_n})")
    if len(sys.argv) > 3:
        expected = {r["adapter_id"]: r["expected_weight"] for r in load(sys.argv[3])}
        ok = 0
        for aid in cards:
            want = expected.get(aid, 0.8)
            got = export.get(aid, {}).get("weight")
            if got is not None and abs(got - want) <= 0.05:
                ok += 1
            else:
                misses.append(f"weight {aid} {cards[aid]['alias']}: got {got}, expected {want}")
        print(f"weight_acc {ok / len(cards):.4f} ({ok}/{len(cards)})")
    for m in misses:
        print("  " + m)


if __name__ == "__main__":
    main()
