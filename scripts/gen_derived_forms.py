#!/usr/bin/env python3
"""Generate Sources/StylusCore/DerivedForms.swift from Princeton WordNet 3.0 (Debian `wordnet-base`).

The composer compares a topic's words with an adapter's names. A prompt says "rainy street",
"detailed face", "misty forest" or "darkness" where a card is titled "Rain", "Detail Tweaker",
"Mist" or "Dark"; as plain strings those never meet. WordNet links such words by its
derivational pointers ("+": misty ~ mist, darkness ~ dark) and pertainyms ("\\": cinematic ~
cinema). This script turns those links into a folding table, word -> the base it is derived from,
so both sides of a comparison can be folded to one form:

- an adjective that is not itself a noun, to a noun it is derivationally linked to and shares its
  stem with (rainy -> rain, icy -> ice, metallic -> metal, bioluminescent -> bioluminescence);
- a "-ness" noun to its adjective (darkness -> dark, fogginess -> foggy -> fog);
- the "-ed" and "-ing" forms (regular, or verb.exc's irregular ones) of a verb that is also a noun
  of the same spelling and linked to it (detailed -> detail, glowing -> glow, armored -> armor,
  frozen -> freeze), unless the form is a noun in its own right, used as one in WordNet's
  sense-tagged corpus (painting, building, clothing stay).

Only words of letters (and inner hyphens) are kept. Chains are resolved (fogginess -> fog).
The table is one string, parsed on first use: a dictionary literal this size is slow to compile.

  scripts/gen_derived_forms.py [--wordnet /usr/share/wordnet] [--out Sources/StylusCore/DerivedForms.swift]
"""
import argparse
import collections
import os
import re

from swift_literal import wrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORD = re.compile(r"^[a-z][a-z-]*[a-z]$")
POS_FILES = {"n": "noun", "a": "adj", "s": "adj", "v": "verb"}


def read_data(wordnet, pos):
    """offset -> (words, pointers) of one data file; pointers as (symbol, offset, pos, source, target)."""
    synsets = {}
    with open(os.path.join(wordnet, f"data.{pos}"), encoding="latin-1") as f:
        for line in f:
            if line.startswith(" "):
                continue  # licence header
            fields = line.split(" | ")[0].split()
            count = int(fields[3], 16)
            words = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower() for i in range(count)]
            k = 4 + 2 * count
            pointers = []
            for i in range(int(fields[k])):
                symbol, offset, p, st = fields[k + 1 + 4 * i:k + 5 + 4 * i]
                pointers.append((symbol, int(offset), p, int(st[:2], 16), int(st[2:], 16)))
            synsets[int(fields[0])] = (words, pointers)
    return synsets


def tagged_counts(wordnet, pos):
    """lemma -> how often its senses were tagged in the SemCor corpus (tagsense_cnt)."""
    counts = {}
    with open(os.path.join(wordnet, f"index.{pos}"), encoding="latin-1") as f:
        for line in f:
            if line.startswith(" "):
                continue
            fields = line.split()
            counts[fields[0]] = int(fields[5 + int(fields[3])])
    return counts


def shares_stem(a, b):
    """Whether two words differ only in their endings (rainy/rain, icy/ice, cinematic/cinema)."""
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    return common >= max(2, min(len(a), len(b)) - 2)


def inflections(verb, irregular):
    """The -ed and -ing forms of a verb: regular spelling rules, plus verb.exc's irregular forms."""
    vowels = "aeiou"
    if verb.endswith("e") and not verb.endswith("ee"):
        forms = {verb + "d", verb[:-1] + "ing"}
    elif verb.endswith("y") and len(verb) > 1 and verb[-2] not in vowels:
        forms = {verb[:-1] + "ied", verb + "ing"}
    elif (len(verb) >= 3 and verb[-1] not in vowels + "wxy" and verb[-2] in vowels and verb[-3] not in vowels
          and sum(c in vowels for c in verb) == 1):
        forms = {verb + verb[-1] + "ed", verb + verb[-1] + "ing"}  # one syllable, consonant-vowel-consonant
    else:
        forms = {verb + "ed", verb + "ing"}
    return forms | set(irregular.get(verb, []))


def build(wordnet):
    data = {pos: read_data(wordnet, pos) for pos in ("noun", "adj", "verb")}
    nouns = tagged_counts(wordnet, "noun")
    adjectives = tagged_counts(wordnet, "adj")
    verbs = tagged_counts(wordnet, "verb")
    links = collections.defaultdict(set)  # word -> {(linked word, its part of speech, the word's part of speech)}
    for pos, synsets in data.items():
        for words, pointers in synsets.values():
            for symbol, offset, p, source, target in pointers:
                if symbol not in ("+", "\\") or source == 0 or target == 0 or p not in POS_FILES:
                    continue
                other = data[POS_FILES[p]].get(offset)
                if other:
                    links[words[source - 1]].add((other[0][target - 1], POS_FILES[p], pos))
    fold = {}
    for word, linked in links.items():
        if not WORD.match(word):
            continue
        if word in adjectives and word not in nouns:
            bases = [b for b, p, src in linked if p == "noun" and src == "adj" and WORD.match(b)
                     and shares_stem(word, b) and len(b) <= len(word)]
            if bases:
                fold[word] = min(bases, key=lambda b: (len(b), b))
        if word.endswith("ness") and word in nouns:
            bases = [b for b, p, src in linked if p == "adj" and WORD.match(b) and shares_stem(word, b) and len(b) < len(word)]
            if bases:
                fold[word] = min(bases, key=lambda b: (len(b), b))
    irregular = collections.defaultdict(list)
    with open(os.path.join(wordnet, "verb.exc"), encoding="latin-1") as f:
        for line in f:
            form, *bases = line.split()
            for b in bases:
                irregular[b].append(form)
    for verb, linked in links.items():
        if not WORD.match(verb) or verb not in verbs or verb not in nouns:
            continue
        if not any(b == verb and p == "noun" and src == "verb" for b, p, src in linked):
            continue
        for form in sorted(inflections(verb, irregular)):
            if WORD.match(form) and form not in fold and nouns.get(form, 0) == 0:
                fold[form] = verb

    def final(word):
        seen = set()
        while word in fold and word not in seen:
            seen.add(word)
            word = fold[word]
        return word

    return {word: final(word) for word in sorted(fold) if final(word) != word}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--out", default=os.path.join(ROOT, "Sources/StylusCore/DerivedForms.swift"))
    args = ap.parse_args()
    fold = build(args.wordnet)
    lines = wrap([f"{word} {base};" for word, base in fold.items()], 110)
    with open(args.out, "w") as f:
        f.write("// Generated by scripts/gen_derived_forms.py from Princeton WordNet 3.0 (derivational links); do not edit.\n")
        f.write("// Words folded to the word they derive from, so \"rainy\" meets \"rain\" and \"detailed\" meets \"detail\".\n\n")
        f.write("enum DerivedForms {\n")
        f.write("    /// \"word base;\" pairs, read once into `ComposerLexicon.derivedBase`.\n")
        f.write("    static let table = \"\"\"\n")
        for l in lines:
            f.write(f"        {l}\n")
        f.write("        \"\"\"\n")
        f.write("}\n")
    print(f"{args.out}: {len(fold)} derived forms")


if __name__ == "__main__":
    main()
