#!/usr/bin/env python3
"""Differential check of `stylus parse --json` weights against A1111's own code (optional).

A1111's `modules/prompt_parser.py` is not part of this repository. Point the script at a copy
(`--prompt-parser PATH`), or let it download one at run time (`--fetch`, needs network; the file
goes to a temporary directory and is never written into the repository). Only the regular
expressions and `parse_prompt_attention` are taken from it (no torch, no lark needed).

For random prompts (balanced, unbalanced, crossing and stray brackets, escapes, BREAK, AND, part
weights), it checks that every AND part's text and weight equal `re_AND` / `re_weight`'s and that
the spans of every prompt-editing step equal `parse_prompt_attention` on that step's text.

    benchmarks/a1111_weights_diff.py --fetch --count 900
    benchmarks/a1111_weights_diff.py --prompt-parser ~/stable-diffusion-webui/modules/prompt_parser.py

Exit 0 when everything is identical, 1 on any difference (the first ones are printed).
"""
import argparse
import ast
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import urllib.request

DEFAULT_URL = "https://raw.githubusercontent.com/AUTOMATIC1111/stable-diffusion-webui/v1.10.1/modules/prompt_parser.py"
PIECES = ["(", ")", "[", "]", ":", "\\(", "\\)", "\\[", "\\]", "\\\\", "\\", "a", "cat", "red fox", ", ", " ",
          "\n", "BREAK", " BREAK ", "xBREAK", "AND", " AND ", ":1.2)", ":0.5)", ":-1)", ":1.)", ":2", "1.5",
          "é", "猫", "🙂", " :1.3", "house"]


def load_a1111(path):
    """Executes only A1111's regexes and parse_prompt_attention from the file at `path`."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    wanted = {"re_attention", "re_break", "re_AND", "re_weight", "parse_prompt_attention"}
    keep = []
    for node in tree.body:
        names = set()
        if isinstance(node, ast.Assign):
            names = {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.FunctionDef):
            names = {node.name}
        if names & wanted:
            keep.append(node)
    namespace = {"re": re}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), namespace)
    missing = wanted - namespace.keys()
    if missing:
        sys.exit(f"{path}: no {', '.join(sorted(missing))}")
    return namespace


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt-parser", help="a local copy of A1111's modules/prompt_parser.py")
    ap.add_argument("--fetch", action="store_true", help=f"download it to a temporary directory ({DEFAULT_URL})")
    ap.add_argument("--url", default=DEFAULT_URL)
    ap.add_argument("--stylus", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "stylus"))
    ap.add_argument("--count", type=int, default=900)
    ap.add_argument("--seed", type=int, default=22)
    args = ap.parse_args()

    if args.prompt_parser:
        path = args.prompt_parser
    elif args.fetch:
        path = os.path.join(tempfile.mkdtemp(prefix="a1111-"), "prompt_parser.py")
        urllib.request.urlretrieve(args.url, path)
    else:
        sys.exit("give --prompt-parser PATH or --fetch (this check is optional and not part of CI)")
    a1111 = load_a1111(path)
    rng = random.Random(args.seed)
    same = differ = 0
    for _ in range(args.count):
        prompt = "".join(rng.choice(PIECES) for _ in range(rng.randrange(40)))
        out = subprocess.run([args.stylus, "parse", "--json", "-"], input=prompt.encode(), capture_output=True, check=True)
        ours = json.loads(out.stdout)["weights"]["positive"]["sections"]
        problems = []
        parts = a1111["re_AND"].split(prompt)
        if len(parts) != len(ours):
            problems.append(f"{len(ours)} parts, A1111 {len(parts)}")
        for part, section in zip(parts, ours):
            m = a1111["re_weight"].search(part)
            text, weight = m.groups() if m is not None else (part, 1.0)
            weight = float(weight) if weight is not None else 1.0
            if section["weight"] != weight:
                problems.append(f"part weight {section['weight']} vs {weight}")
            if len(section["schedule"]) == 1 and section["schedule"][0]["text"] != text:
                problems.append(f"part text {section['schedule'][0]['text']!r} vs {text!r}")
            for step in section["schedule"]:
                try:
                    expected = a1111["parse_prompt_attention"](step["text"])
                except ValueError:
                    continue  # A1111 itself stops on a number float() rejects
                got = [[s["text"], s["weight"]] for s in step["spans"]]
                if got != expected:
                    problems.append(f"step {step['until']}: ours {got} vs A1111 {expected}")
        if problems:
            differ += 1
            if differ <= 10:
                print(f"DIFF {prompt!r}: " + "; ".join(problems))
        else:
            same += 1
    print(f"{same}/{same + differ} prompts identical ({path})")
    return 0 if differ == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
