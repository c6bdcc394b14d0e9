#!/usr/bin/env python3
"""Write the small catalog test fixtures into Tests/Fixtures/Catalog (not run by CI; outputs committed).

StylusDocs JSONL with good, bad and odd lines; Civitai API JSON (models page, model array,
model-versions array); sidecars (.civitai.info, A1111 .json, Lora-Manager .metadata.json) for a
LoRA the tests generate as `sidecar_demo.safetensors`. Line numbers and values are asserted by
Tests/StylusCatalogTests, so change both together.
"""
import json
import os
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "Catalog")
os.makedirs(OUT, exist_ok=True)
os.chdir(OUT)

emb = [0.0] * 384
emb[0] = 1.0
lines = [
    json.dumps({"adapter_id": "t-001", "alias": "paperboat_v1", "title": "Paper Boats", "base_model": "SD 1.5", "type": "LORA",
                "tags": ["object", "paper", "boat"], "trigger_words": ["papboat"],
                "description": "<p>folded paper boats on water.</p><p>weight 0.6-0.8</p>", "weight": None, "nsfw": False,
                "stats": {"downloadCount": 12, "rating": 4.5},
                "image_prompts": ["papboat, a paper boat in a puddle <lora:paperboat_v1:0.9>"], "favorite": True, "my_notes": {"x": 1}}),
    '{"adapter_id": "t-002", "alias": "broken", ',
    json.dumps({"alias": "no_id"}),
    json.dumps({"adapter_id": "t-004", "alias": "mossy_ruins", "title": "Mossy Ruins", "base_model": "sdxl", "tags": ["background", "ruins"],
                "trigger_words": [], "description": "", "weight": 0.65, "nsfw": False, "image_prompts": [], "embedding": emb,
                "embedding_model": "sentence-transformers/all-MiniLM-L6-v2"}),
    "",
    json.dumps({"adapter_id": "t-006", "alias": "neon_koi", "title": "Neon Koi", "base_model": "Pony", "tags": ["animal"], "description": "glowing koi",
                "image_prompts": ["neon koi <lora:neon_koi:0.5>", "koi <lora:neon_koi:0.7>", "<lora:neon_koi:1.2> koi"],
                "embedding": [0.1, 0.2], "embedding_model": "text-embedding-3-large"}),
    "[1, 2, 3]",
    json.dumps({"adapter_id": "t-008", "alias": "bad:alias", "title": "x"}),
    json.dumps({"adapter_id": "t-009", "alias": "w_string", "title": "Weird weight", "weight": "heavy"}),
]
with open("stylusdocs.jsonl", "w") as f:
    f.write("\n".join(lines) + "\n")
with open("stylusdocs.jsonl", "ab") as f:
    f.write(b'{"adapter_id": "t-010", "alias": "latin1", "title": "caf\xe9"}\n')  # line 10: not UTF-8
    f.write((json.dumps({"adapter_id": "t-011", "alias": "last_ok", "title": "Last OK", "tags": ["style"],
                         "description": "&lt;b&gt;bold&lt;/b&gt; ink look"}) + "\n").encode())


def version(vid, mid, base, words, name="v1.0", desc="<p>v1: first release</p>", prompts=(), fname=None, nsfw_level=1):
    return {"id": vid, "modelId": mid, "name": name, "baseModel": base, "trainedWords": words, "description": desc,
            "nsfwLevel": nsfw_level, "downloadUrl": f"https://civitai.com/api/download/models/{vid}",
            "files": [{"name": fname or f"file_{vid}.safetensors", "type": "Model", "primary": True, "sizeKB": 144000,
                       "hashes": {"AutoV2": "ABCDEF0123", "AutoV3": "0123456789AB", "SHA256": "AB" * 32}}],
            "images": [{"url": f"https://image.civitai.com/x/{vid}/width=450/1.jpeg", "nsfwLevel": 1,
                        "meta": {"prompt": p, "negativePrompt": "lowres"}} for p in prompts]
            + [{"url": "https://image.civitai.com/x/nometa.jpeg", "meta": None}]}


page = {"items": [
    {"id": 9001, "name": "Rusty Robots", "type": "LORA", "nsfw": False,
     "description": "<p>Rusty old robots.</p><p>Recommended weight: <strong>0.7</strong></p><p>Support me on Patreon!</p>",
     "tags": ["robot", "rust", "concept"], "creator": {"username": "maker"}, "stats": {"downloadCount": 1234, "rating": 4.8},
     "modelVersions": [version(19001, 9001, "SDXL 1.0", ["rustbot"], "v2 XL", fname="rusty_robots_xl.safetensors",
                               prompts=["rustbot, a robot in a field <lora:rusty_robots_xl:0.8>"]),
                       version(19000, 9001, "SD 1.5", ["rustbot"], "v1", fname="rusty_robots.safetensors",
                               prompts=["rustbot <lora:rusty_robots:0.6>"]),
                       version(18999, 9001, "SD 1.5", ["rustbot"], "v0", fname="rusty_robots_old.safetensors")]},
    {"id": 9002, "name": "Realistic Checkpoint", "type": "Checkpoint", "nsfw": False, "description": "not an adapter", "tags": [],
     "modelVersions": [version(19002, 9002, "SD 1.5", [])]},
    {"id": 9003, "name": "Velvet Dress", "type": "LoCon", "nsfw": False, "description": "velvet dresses", "tags": ["clothing", "dress"],
     "modelVersions": [version(19003, 9003, "Pony", ["velvetdress"], fname="velvet_dress_pony.safetensors",
                               prompts=["score_9, velvetdress <lora:velvet_dress_pony:1>"])]},
    {"id": 9004, "name": "Lewd Thing", "type": "LORA", "nsfw": True, "description": "nsfw", "tags": ["concept"],
     "modelVersions": [version(19004, 9004, "SD 1.5", ["lewd"], fname="lewd.safetensors", nsfw_level=16)]},
    "garbage",
], "metadata": {"nextCursor": "abc", "currentPage": 1, "pageSize": 5}}
json.dump(page, open("civitai_models_page.json", "w"), indent=1)
json.dump([page["items"][0], page["items"][2]], open("civitai_models_array.json", "w"), indent=1)
v = version(29000, 8000, "SDXL 1.0", ["goldleaf, gilded", "second prompt"], fname="gold_leaf_xl.safetensors",
            prompts=["goldleaf, a gilded fox <lora:gold_leaf_xl:0.75>"])
v["model"] = {"name": "Gold Leaf", "type": "LORA", "nsfw": False, "poi": False}
v2 = version(29001, 8001, "Illustrious", ["x"], fname="illu.safetensors")
v2["model"] = {"name": "Illu Thing", "type": "LORA", "nsfw": False}
json.dump([v, v2, {}], open("civitai_model_versions.json", "w"), indent=1)

info = version(39000, 7000, "SD 1.5", ["demotrig"], fname="sidecar_demo.safetensors",
               prompts=["demotrig, a lantern <lora:sidecar_demo:0.55>"])
info["model"] = {"name": "Sidecar Demo (Civitai)", "type": "LORA", "nsfw": False, "poi": False,
                 "description": "<p>Lanterns glowing in fog.</p>", "tags": ["object", "lantern"]}
json.dump(info, open("sidecar_demo.civitai.info", "w"), indent=1)
json.dump({"description": "my own notes: paper lanterns", "sd version": "SD1", "activation text": "demotrig, paper lantern",
           "preferred weight": 0.65, "negative text": "", "notes": "n"}, open("sidecar_demo.json", "w"), indent=1)
json.dump({"file_name": "sidecar_demo", "model_name": "Sidecar Demo (LM)", "base_model": "SDXL 1.0", "tags": ["object"],
           "modelDescription": "LM description", "usage_tips": json.dumps({"strength_min": 0.4, "strength_max": 0.6}),
           "civitai": {"trainedWords": ["lmtrig"]}, "sha256": "cd" * 32}, open("sidecar_demo.metadata.json", "w"), indent=1)
json.dump({"file_name": "lm_only", "model_name": "LM Only", "base_model": "Pony", "tags": ["clothing"], "modelDescription": "<p>capes</p>",
           "usage_tips": json.dumps({"strength_min": 0.4, "strength_max": 0.6}),
           "civitai": {"trainedWords": ["lmcape"], "images": [{"url": "u", "meta": {"prompt": "lmcape <lora:lm_only:0.9>"}}]}},
          open("lm_only.metadata.json", "w"), indent=1)
