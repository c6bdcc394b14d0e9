#!/usr/bin/env python3
"""Generate a folder of tiny LoRA .safetensors files with realistic kohya metadata and sidecars.

Usage: gen_lora_folder.py OUT_DIR [--count 2000] [--seed 7] [--hostile]

Each file has a few tiny tensors (kohya key names, fp16) and a `__metadata__` like sd-scripts
writes it: ss_output_name, ss_base_model_version, ss_network_module/dim/alpha, ss_tag_frequency,
ss_datasets, modelspec.* and (for most files) sshs_model_hash, the addnet hash of the tensor bytes.
Around them, like a real collection: Civitai Helper `.civitai.info`, A1111 `<stem>.json`,
Lora-Manager `.metadata.json`, `.preview.png` files, nested folders, a few duplicate file names
and shared ss_output_name values. `--hostile` adds broken files the scanner must survive.
Pure Python (json + struct + hashlib), deterministic for a given seed. Not run by CI.
"""
import argparse
import hashlib
import json
import os
import random
import struct

SUBJECTS = {
    "style": ["watercolor", "ink wash", "pixel art", "oil painting", "comic book", "ukiyo-e", "low poly", "pastel",
              "charcoal sketch", "synthwave", "art nouveau", "claymation", "stained glass", "blueprint", "papercut"],
    "character": ["red-haired swordswoman", "robot butler", "fox spirit girl", "space pirate captain",
                  "knight commander", "cyber ninja", "witch apprentice", "desert nomad"],
    "clothing": ["raincoat", "leather jacket", "kimono", "plate armor", "sundress", "hoodie", "tuxedo", "overalls"],
    "background": ["misty forest", "neon alley", "snowy village", "desert canyon", "sunken temple", "rooftop garden"],
    "animal": ["red fox", "barn owl", "corgi", "koi fish", "snow leopard", "axolotl"],
    "vehicle": ["vintage motorcycle", "steam locomotive", "hover car", "cargo airship"],
    "building": ["lighthouse", "pagoda", "brutalist tower", "tree house"],
    "concept": ["bioluminescence", "shattered glass", "smoke trails", "floating islands", "frozen motion"],
    "pose": ["crouching", "over the shoulder", "sitting cross-legged"],
    "tool": ["detail slider", "contrast fix", "hand fix"],
}
BASES = [("sd_v1", "SD 1.5", "stable-diffusion-v1/lora", "SD1"), ("sdxl_base_v1-0", "SDXL 1.0",
         "stable-diffusion-xl-v1-base/lora", "SDXL"), ("sdxl_base_v1-0", "Pony", "stable-diffusion-xl-v1-base/lora", "SDXL")]
GENERIC = ["1girl", "solo", "looking at viewer", "simple background", "upper body", "outdoors", "smile"]


def tensors(rng, dim):
    """A handful of kohya-named tensors (fp16), returned as (header entries, data bytes)."""
    modules = ["lora_unet_down_blocks_0_attentions_0_proj_in", "lora_unet_mid_block_attentions_0_proj_out",
               "lora_te_text_model_encoder_layers_0_mlp_fc1", "lora_te_text_model_encoder_layers_0_self_attn_q_proj"]
    header, data = {}, bytearray()
    for m in modules:
        for suffix, shape in (("lora_down.weight", [dim, 8]), ("lora_up.weight", [8, dim]), ("alpha", [])):
            n = 1
            for s in shape:
                n *= s
            raw = bytes(rng.getrandbits(8) & 0x3B if i % 2 else rng.getrandbits(8) for i in range(2 * n))
            header[f"{m}.{suffix}"] = {"dtype": "F16", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
            data += raw
    return header, bytes(data)


def write_safetensors(path, header, data, metadata):
    h = dict(header)
    h["__metadata__"] = metadata
    blob = json.dumps(h, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        f.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--hostile", action="store_true")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    cats = list(SUBJECTS)
    for i in range(a.count):
        cat = cats[i % len(cats)]
        subject = rng.choice(SUBJECTS[cat])
        ss, civ_base, arch, sdver = rng.choice(BASES)
        slug = subject.replace(" ", "_").replace("-", "_")
        version = rng.randint(1, 4)
        stem = f"{slug}_v{version}_{i:04d}"
        if i % 97 == 5:
            stem = f"{slug}_v1"  # the same file name in two folders (A1111 keeps one)
        folder = os.path.join(a.out, civ_base.replace(" ", "").lower(), cat, f"batch{i % 7}")
        os.makedirs(folder, exist_ok=True)
        trigger = f"{slug.split('_')[0][:6]}{i:04d}"
        freq = {trigger: 40, subject: rng.randint(20, 40)}
        for g in rng.sample(GENERIC, 4):
            freq[g] = rng.randint(5, 36)
        dim = rng.choice([4, 8, 16])
        header, data = tensors(rng, dim)
        meta = {
            # Usually the file stem; sometimes a renamed file keeps its training name; rarely two
            # files share one (A1111 then falls back to the file names).
            "ss_output_name": "shared_name" if i % 53 == 3 else (f"{slug}{i}" if i % 11 == 0 else stem),
            "ss_base_model_version": ss,
            "ss_network_module": "networks.lora" if i % 5 else "lycoris.kohya",
            "ss_network_dim": str(dim), "ss_network_alpha": str(dim // 2),
            "ss_network_args": json.dumps({"algo": "locon"}) if i % 5 == 0 else "null",
            "ss_tag_frequency": json.dumps({f"10_{trigger}": freq}),
            "ss_datasets": json.dumps([{"subsets": [{"class_tokens": None, "num_repeats": 10}]}]),
            "ss_num_train_images": "40", "ss_epoch": str(rng.randint(5, 20)), "ss_learning_rate": "0.0001",
            "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors" if ss == "sd_v1" else "sd_xl_base_1.0.safetensors",
            "ss_training_started_at": str(1700000000 + i * 60), "ss_v2": "False",
            "modelspec.sai_model_spec": "1.0.0", "modelspec.architecture": arch, "modelspec.implementation": "https://github.com/Stability-AI/generative-models",
            "modelspec.title": f"{subject.title()} v{version}", "modelspec.resolution": "512x512" if ss == "sd_v1" else "1024x1024",
        }
        if i % 4:
            meta["sshs_model_hash"] = hashlib.sha256(data).hexdigest()
        path = os.path.join(folder, stem + ".safetensors")
        write_safetensors(path, header, data, meta)
        base = os.path.join(folder, stem)
        weight = rng.choice([0.6, 0.7, 0.8, 0.9, 1.0])
        if i % 10 < 3:
            info = {"id": 500000 + i, "modelId": 200000 + i, "name": f"v{version}.0", "baseModel": civ_base,
                    "trainedWords": [trigger], "description": f"<p>v{version}: cleaner results</p>",
                    "model": {"name": f"{subject.title()} LoRA", "type": "LORA", "nsfw": False,
                              "description": f"<p>A {cat} LoRA for {subject}.</p><p>Recommended weight {weight - 0.1:.1f}-{weight + 0.1:.1f}</p>",
                              "tags": [cat, subject]},
                    "files": [{"name": stem + ".safetensors", "primary": True, "hashes": {"SHA256": "", "AutoV3": ""}}],
                    "images": [{"url": f"https://image.example/{i}.png", "meta": {"prompt": f"{trigger}, {subject}, masterpiece <lora:{stem}:{weight}>", "negativePrompt": "lowres"}}]}
            with open(base + ".civitai.info", "w") as f:
                json.dump(info, f)
        if i % 10 in (3, 4):
            with open(base + ".json", "w") as f:
                json.dump({"description": f"my {subject} lora", "sd version": sdver, "activation text": trigger,
                           "preferred weight": weight, "negative text": "", "notes": ""}, f)
        if i % 10 == 5:
            with open(base + ".metadata.json", "w") as f:
                json.dump({"file_name": stem, "model_name": f"{subject.title()}", "base_model": civ_base,
                           "tags": [cat], "modelDescription": f"{subject} for {civ_base}",
                           "usage_tips": json.dumps({"strength_min": weight - 0.2, "strength_max": weight + 0.2}),
                           "civitai": {"trainedWords": [trigger]}, "from_civitai": False}, f)
        if i % 3 == 0:
            with open(base + ".preview.png", "wb") as f:
                f.write(b"\x89PNG\r\n\x1a\n" + bytes(16))
    if a.hostile:
        bad = os.path.join(a.out, "hostile")
        os.makedirs(bad, exist_ok=True)
        with open(os.path.join(bad, "truncated.safetensors"), "wb") as f:
            f.write(b"\x10\x00\x00")
        with open(os.path.join(bad, "claims_2gb.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", 2 << 30) + b"{}")
        with open(os.path.join(bad, "not_json.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", 8) + b"notjson!")
        h = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 4096]}}).encode()
        with open(os.path.join(bad, "offsets_past_end.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + bytes(16))


if __name__ == "__main__":
    main()
