#!/usr/bin/env python3
"""Write the starter catalog shipped as a package resource (Sources/StylusCatalog/Resources/starter_catalog.jsonl).

Usage: gen_starter_catalog.py [OUT.jsonl]

The cards are the project's own writing: invented adapters across all categories and the three
base models, written the way real Civitai cards are (terse, HTML, changelogs, donation plugs,
weights stated in prose or only visible in example prompts, CJK notes). Characters and people are
public-domain figures. Deterministic. Not run by CI; its output is committed.
"""
import json
import os
import random
import sys

# (category, title, extra tags, trigger, description, example scenes, bases)
# bases: string of letters: 1 = SD 1.5, X = SDXL 1.0, P = Pony
SEEDS = [
    # --- style
    ("style", "Gouache Storybook", ["gouache", "storybook", "illustration"], "gouachebook",
     "<p>Opaque gouache like old children's books. flat shapes, soft paper texture, limited palette.</p><p>weight 0.6-0.8</p>",
     ["a bear reading under a tree", "a lighthouse keeper at dusk"], "1XP"),
    ("style", "Linocut Print", ["linocut", "printmaking", "black and white"], "linoprint",
     "Carved linoleum block print look. bold black shapes, white gouges, slight ink unevenness.\nv2 - less mushy lines",
     ["a fox in tall grass", "a fishing boat on waves"], "1X"),
    ("style", "Risograph Zine", ["risograph", "print", "grain"], "risozine",
     "<p>two/three colour riso print with misregistration and grain. pink + teal works best</p><p>ko-fi.com/someone if u like it</p>",
     ["a girl on a bicycle", "city skyline"], "1X"),
    ("style", "Byzantine Mosaic", ["mosaic", "gold leaf", "icon"], "byzmosaic",
     "gold tesserae mosaics like church apses. works on portraits and animals. recommended 0.7",
     ["portrait of a queen", "a peacock"], "1XP"),
    ("style", "Blueprint Schematic", ["blueprint", "technical drawing", "schematic"], "blprnt",
     "turns anything into white-line technical drawings on blue paper. cars, robots, buildings all ok",
     ["a steam engine", "a robot arm"], "1X"),
    ("style", "Cel Shaded Game Render", ["cel shading", "toon", "3d"], "toonrender",
     "<p>3D toon shading like modern anime games: hard shadow edges, rim light, outlines.</p>",
     ["a knight standing in a field", "a cat on a roof"], "XP"),
    ("style", "Charcoal Figure Drawing", ["charcoal", "sketch", "drawing"], "charcoaldrw",
     "Life-drawing charcoal on toned paper, smudges, erased highlights. 炭笔素描风格，推荐权重0.7",
     ["old man portrait", "dancer study"], "1X"),
    ("style", "Art Nouveau Poster", ["art nouveau", "poster", "mucha-like"], "nouveauposter",
     "<p>Flowing hair, floral frames, pale ornamental borders, flat decorative colour.</p><p>0.5 - 0.7 is enough, above 0.9 everything becomes a frame</p>",
     ["woman with flowers in her hair", "a swan on a lake"], "1XP"),
    ("style", "Vintage Travel Poster", ["travel poster", "retro", "1930s"], "travelposter",
     "Golden-age railway/travel poster look, big flat skies and bold type areas. (no real text, SD can't spell lol)",
     ["mountain village with a train", "seaside resort"], "1X"),
    ("style", "Neon Noir", ["noir", "neon", "cinematic"], "neonnoir",
     "rain, neon reflections, hard shadows, detective-movie framing. weight 0.8",
     ["a detective under a streetlight", "a car in the rain"], "XP"),
    ("style", "Paper Quill Art", ["quilling", "paper", "craft"], "quillart",
     "rolled paper strip (quilling) art. good for flowers and animals. <br>Changelog<br>v1.1: fixed colours", ["a hummingbird", "a rose"], "X"),
    ("style", "Embroidery Patch", ["embroidery", "stitch", "patch"], "embroid",
     "<p>makes subjects look embroidered / sewn patches with thread texture and satin stitch.</p><p>刺繍風。ウェイト0.6〜0.8</p>",
     ["a tiger head patch", "a mushroom"], "1XP"),
    ("style", "Sumi Ink Sketchbook", ["ink", "sumi", "brush"], "sumisketch",
     "quick brush ink sketches, dry brush and splatter, lots of white space", ["a heron", "mountain pass"], "1"),
    ("style", "Low Light Film Still", ["film", "cinematic", "35mm"], "lowlightfilm",
     "night film stills, halation around lights, muted colour. suggested weight 0.5-0.7 on photo models",
     ["a diner at night", "a woman at a bus stop"], "1X"),
    # --- character (public domain)
    ("character", "Sherlock Holmes (classic)", ["sherlock holmes", "detective", "victorian"], "holmes_221b",
     "<p>Victorian detective. deerstalker, inverness cape, pipe. Book-illustration look, not any actor.</p>",
     ["holmes examining a clue with a magnifying glass", "holmes in a foggy london street"], "1XP"),
    ("character", "Alice (Wonderland)", ["alice", "wonderland", "fairy tale"], "alice_wl",
     "Alice from the 1865 book: blue dress, white pinafore, black headband, blonde hair. 0.7",
     ["alice at a tea party", "alice falling down a rabbit hole"], "1XP"),
    ("character", "Sun Wukong, the Monkey King", ["sun wukong", "monkey king", "journey to the west"], "wukong_jttw",
     "孙悟空. golden circlet, staff, cloud. classic opera-inspired look. 权重0.7-0.9",
     ["wukong standing on a cloud", "wukong with his staff"], "1XP"),
    ("character", "Count Dracula (gothic)", ["dracula", "vampire", "gothic"], "dracula_count",
     "The count as in the novel: old-world nobleman, cape with high collar, pale, red eyes optional",
     ["dracula in a castle hall", "dracula on a balcony at night"], "1X"),
    ("character", "Robin Hood", ["robin hood", "archer", "sherwood"], "robinhood_sh",
     "green hood, longbow, quiver, leather jerkin. <lora:robinhood_sh:0.8> works well with forest loras",
     ["robin hood aiming a bow", "robin hood in sherwood forest"], "1P"),
    ("character", "Little Red Riding Hood", ["red riding hood", "fairy tale", "red cloak"], "redhood_ft",
     "<p>Fairy-tale girl with red hooded cloak and basket. no wolf included :)</p>",
     ["red riding hood walking through a dark forest"], "1XP"),
    ("character", "Frankenstein's Creature", ["frankenstein", "monster", "horror"], "fcreature",
     "the creature: stitched skin, heavy brow, dark coat. book version, NOT the green film makeup",
     ["the creature in a laboratory", "the creature on an ice field"], "1X"),
    ("character", "Don Quixote", ["don quixote", "knight", "spain"], "quixote_lm",
     "Old thin knight with makeshift armour and a lance. Rocinante (horse) sometimes shows up, weight 0.75",
     ["don quixote charging a windmill"], "1"),
    # --- celebrity (historical, public domain imagery)
    ("celebrity", "Abraham Lincoln", ["abraham lincoln", "president", "historical"], "lincoln_abe",
     "likeness of Lincoln from 1860s photos: beard without moustache, stovepipe hat. 0.6-0.8",
     ["abraham lincoln portrait", "lincoln giving a speech"], "1X"),
    ("celebrity", "Albert Einstein", ["albert einstein", "physicist", "historical"], "einstein_ae",
     "wild white hair, moustache, sweater. trained on public domain photos", ["einstein at a chalkboard"], "1X"),
    ("celebrity", "Frida Kahlo", ["frida kahlo", "painter", "historical"], "fridak",
     "<p>Frida likeness: unibrow, flower crown, tehuana dress.</p><p>recommended weight 0.7</p>",
     ["frida kahlo portrait with flowers", "frida painting at an easel"], "1XP"),
    ("celebrity", "Marie Curie", ["marie curie", "scientist", "historical"], "curie_m",
     "Marie Curie in her lab, early 1900s photo look", ["marie curie in a laboratory"], "1"),
    ("celebrity", "Napoleon Bonaparte", ["napoleon", "emperor", "historical"], "napoleon_b",
     "bicorne hat, hand in waistcoat, painted-portrait likeness. 0.8", ["napoleon on horseback"], "1X"),
    # --- concept
    ("concept", "Bioluminescent Glow", ["bioluminescence", "glow", "night"], "biolum",
     "<p>glowing blue-green light on plants, water, skin. Great at night.</p><p>0.6-0.9</p>",
     ["bioluminescent beach at night", "glowing mushrooms"], "1XP"),
    ("concept", "Shattered Glass", ["glass", "shards", "broken"], "shatterfx",
     "frozen moment of glass shattering around a subject. 0.7 - 0.8 works", ["a dancer breaking through glass"], "1X"),
    ("concept", "Smoke Trails", ["smoke", "wisps", "vfx"], "smoketrail",
     "colored smoke wisps and trails. nice for dancers and product shots", ["a dancer with purple smoke"], "XP"),
    ("concept", "Floating Islands", ["floating island", "fantasy", "sky"], "floatisle",
     "sky islands with waterfalls pouring off the edges. v3 fixes the cloud soup. weight: 0.8", ["floating islands above clouds"], "1X"),
    ("concept", "Snow Globe", ["snow globe", "miniature", "glass"], "snowglobe",
     "puts the scene inside a snow globe. works with anything small: houses, animals, people", ["a tiny village in a snow globe"], "1XP"),
    ("concept", "Origami Animals", ["origami", "paper fold", "paper"], "origamianml",
     "folded-paper animals, crisp creases. (it's a concept lora, for the art style use my papercraft style one)",
     ["an origami crane", "an origami fox"], "1X"),
    ("concept", "Crystal Growth", ["crystals", "gems", "minerals"], "crystgrow",
     "crystals growing out of things (rocks, skulls, people). 水晶。推奨ウェイト0.7",
     ["a skull covered in amethyst crystals"], "1XP"),
    ("concept", "Rainy Window", ["rain", "window", "droplets"], "rainwindow",
     "view through a rainy window, droplets in focus, bokeh behind. 0.5-0.8", ["city lights through a rainy window"], "1X"),
    ("concept", "Ice Magic", ["ice", "frost", "magic"], "icemagic",
     "frost spells, ice shards and cold mist around hands/weapons", ["a mage casting an ice spell"], "1P"),
    ("concept", "Steam Punk Gadgetry", ["gears", "brass", "gadgets"], "brassgadget",
     "<p>adds brass gears, pipes, gauges onto things. not a style, it adds the stuff.</p>", ["a brass mechanical owl"], "1X"),
    # --- clothing
    ("clothing", "Yellow Raincoat", ["raincoat", "rain gear", "yellow"], "ylwraincoat",
     "classic yellow rubber raincoat + boots. hood up or down", ["a child in a yellow raincoat in the rain"], "1XP"),
    ("clothing", "Biker Leather Jacket", ["leather jacket", "biker", "zipper"], "leatherjkt",
     "asymmetric zip biker jackets, worn leather. men and women. 0.6-0.8", ["a woman in a leather jacket"], "1X"),
    ("clothing", "Wool Fisherman Sweater", ["sweater", "knitwear", "cable knit"], "aransweater",
     "chunky cable-knit aran sweaters. cozy! weight 0.7", ["an old fisherman in a cable knit sweater"], "1X"),
    ("clothing", "Hanbok", ["hanbok", "korean", "traditional"], "hanbok_tr",
     "한복. jeogori + chima, vivid colours. 가중치 0.7 추천", ["a woman in a hanbok in a palace garden"], "1XP"),
    ("clothing", "Samurai Hakama", ["hakama", "samurai", "japanese"], "hakamafit",
     "hakama + kimono top, swordsman outfit. 袴。ウェイト0.8", ["a samurai in hakama"], "1P"),
    ("clothing", "Space Suit (NASA style)", ["spacesuit", "astronaut", "helmet"], "nasasuit",
     "white EVA suits with patches and gold visor", ["an astronaut on the moon"], "1X"),
    ("clothing", "Victorian Ball Gown", ["ball gown", "victorian", "dress"], "vicgown",
     "<p>bustles, lace, corsets, huge skirts.</p><ul><li>v2 more colours</li><li>v1 initial</li></ul><p>weight 0.7-0.9</p>",
     ["a lady in a victorian ball gown in a ballroom"], "1XP"),
    ("clothing", "Cozy Pajamas", ["pajamas", "sleepwear", "cozy"], "pjcozy",
     "flannel / fleece pajamas, sfw sleepwear", ["a girl in pajamas holding a mug"], "XP"),
    ("clothing", "Chef Whites", ["chef", "uniform", "kitchen"], "chefwhites",
     "double breasted chef jacket, apron, toque. 0.8", ["a chef plating food"], "1"),
    # --- background
    ("background", "Misty Pine Forest", ["forest", "pine", "fog"], "mistypine",
     "foggy pine forests, morning light rays. background lora, put your subject in front",
     ["a hiker in a misty pine forest"], "1XP"),
    ("background", "Desert Canyon", ["desert", "canyon", "red rock"], "redcanyon",
     "<p>red rock canyons, slot canyons, mesas. 0.6-0.8</p>", ["a rider in a desert canyon"], "1X"),
    ("background", "Cozy Library Interior", ["library", "interior", "books"], "cozylib",
     "old libraries, wooden shelves, warm lamps", ["a girl reading in a library"], "1XP"),
    ("background", "Underground Metro Station", ["subway", "metro", "urban"], "metrostation",
     "tiled subway platforms, fluorescent light, trains optional. weight 0.7", ["a man waiting on a subway platform"], "1X"),
    ("background", "Alpine Meadow", ["meadow", "mountains", "flowers"], "alpmeadow",
     "green alpine meadows with wildflowers and snowy peaks behind", ["a cow in an alpine meadow"], "1X"),
    ("background", "Rooftop at Night", ["rooftop", "city", "night"], "rooftopnite",
     "city rooftops with water tanks, antennas and skyline lights. <br>follow me on twitter for updates",
     ["two friends on a rooftop at night"], "1P"),
    ("background", "Coral Lagoon", ["lagoon", "tropical", "water"], "corallagoon",
     "clear turquoise lagoons, white sand. above-water views", ["a boat on a tropical lagoon"], "XP"),
    ("background", "Abandoned Mall", ["liminal", "abandoned", "mall"], "deadmall",
     "empty abandoned shopping malls, overgrown plants, skylights", ["an empty abandoned mall"], "1X"),
    # --- building
    ("building", "Lighthouse", ["lighthouse", "coast", "architecture"], "lighthse",
     "lighthouses on cliffs/piers. stripes or plain stone. 0.8", ["a lighthouse in a storm"], "1X"),
    ("building", "Japanese Pagoda", ["pagoda", "temple", "architecture"], "pagoda_jp",
     "五重塔. five-storey pagodas, red and white, with cherry trees if you prompt them", ["a pagoda in autumn"], "1XP"),
    ("building", "Treehouse", ["treehouse", "cabin", "architecture"], "treehouse",
     "elaborate treehouses with rope bridges. weight 0.6-0.9", ["a treehouse village in giant trees"], "1X"),
    ("building", "Windmill", ["windmill", "dutch", "architecture"], "windmill_nl",
     "dutch style windmills by canals", ["a windmill at sunset"], "1"),
    ("building", "Brutalist Apartment Block", ["brutalism", "apartment", "concrete"], "brutblock",
     "<p>concrete panel apartment blocks, balconies, grey skies.</p>", ["brutalist apartment blocks in winter"], "1X"),
    # --- vehicle
    ("vehicle", "Vintage Vespa", ["scooter", "vespa", "italy"], "vespa_vtg",
     "classic italian scooters, pastel colours. 0.7", ["a woman riding a scooter in rome"], "1X"),
    ("vehicle", "Steam Locomotive", ["train", "steam engine", "railway"], "steamloco",
     "black steam locomotives with smoke. wheels finally round in v2", ["a steam train crossing a bridge"], "1XP"),
    ("vehicle", "Sailing Ship", ["sailing ship", "galleon", "sea"], "galleon",
     "tall ships, galleons, full sails. recommended 0.8", ["a galleon in a storm"], "1X"),
    ("vehicle", "Hot Air Balloon", ["hot air balloon", "balloon", "sky"], "hotairbln",
     "colourful hot air balloons, festival or single", ["hot air balloons over a valley"], "1X"),
    ("vehicle", "Monster Truck", ["monster truck", "truck", "offroad"], "monstertrk",
     "huge tires, jumps, mud. 0.9", ["a monster truck jumping"], "1"),
    # --- animal
    ("animal", "Barn Owl", ["owl", "bird", "wildlife"], "barnowl",
     "realistic barn owls, heart shaped face. flight or perched", ["a barn owl on a fence post"], "1X"),
    ("animal", "Axolotl", ["axolotl", "amphibian", "cute"], "axolotl_a",
     "pink axolotls with frilly gills. realistic or cute", ["an axolotl in an aquarium"], "1XP"),
    ("animal", "Snow Leopard", ["snow leopard", "big cat", "wildlife"], "snowleo",
     "<p>snow leopards on rocky slopes. long tail, spotted fur. 0.7-0.9</p>", ["a snow leopard on a cliff"], "1X"),
    ("animal", "Koi Fish", ["koi", "fish", "pond"], "koipond",
     "koi carp from above, orange/white/black patterns. 鯉", ["koi fish in a pond"], "1XP"),
    ("animal", "Highland Cow", ["cow", "highland cattle", "farm"], "highlandcow",
     "shaggy ginger highland cattle. weight 0.8", ["a highland cow in the rain"], "1X"),
    ("animal", "Hedgehog", ["hedgehog", "small animal", "cute"], "hedgehog_r",
     "real hedgehogs (not the blue one lol)", ["a hedgehog in autumn leaves"], "1X"),
    ("animal", "Orca", ["orca", "whale", "ocean"], "orca_w",
     "killer whales breaching, underwater or surface. 0.6-0.8", ["an orca jumping out of the sea"], "1"),
    # --- pose
    ("pose", "Sitting on Stairs", ["sitting", "stairs", "pose"], "stairsit",
     "people sitting on steps, knees up, relaxed. 0.6-0.8", ["a man sitting on stairs"], "1XP"),
    ("pose", "Arms Crossed", ["arms crossed", "standing", "pose"], "armscross",
     "confident arms-crossed pose, waist up or full body", ["a woman with arms crossed"], "1X"),
    ("pose", "Kneeling Prayer", ["kneeling", "praying", "pose"], "kneelpray",
     "kneeling with hands together. fantasy priests etc. weight 0.7", ["a priestess kneeling in a temple"], "1"),
    ("pose", "Looking Up at the Sky", ["looking up", "from below", "pose"], "lookupsky",
     "subject looking up, camera slightly low. 0.8", ["a girl looking up at the stars"], "XP"),
    # --- action
    ("action", "Skateboarding Tricks", ["skateboarding", "skateboard", "sport"], "skatetrick",
     "kickflips, ollies, grinds. motion blur optional. 0.7", ["a skater doing a kickflip"], "1X"),
    ("action", "Sword Drawing (Iaido)", ["iaido", "sword", "drawing a sword"], "iaidodraw",
     "the moment of drawing a katana from the sheath. 抜刀。ウェイト0.8", ["a samurai drawing a katana"], "1P"),
    ("action", "Playing Violin", ["violin", "music", "playing instrument"], "violinplay",
     "correct violin holding, bow on strings. hands still hard sometimes", ["a girl playing violin on a stage"], "1X"),
    ("action", "Swimming Underwater", ["swimming", "underwater", "diving"], "swimunder",
     "people swimming underwater, bubbles, light rays. 0.6-0.8", ["a woman swimming underwater"], "1X"),
    # --- object
    ("object", "Pocket Watch", ["pocket watch", "clock", "antique"], "pocketwatch",
     "antique pocket watches, open or closed, chain. 0.8", ["a pocket watch on a table"], "1X"),
    ("object", "Ceramic Teapots", ["teapot", "ceramic", "tea"], "teapot_cer",
     "ceramic teapots, japanese and english styles. steam works if you prompt it", ["a teapot with steam"], "1X"),
    ("object", "Spell Books", ["book", "grimoire", "magic"], "grimoire",
     "old spellbooks with glowing runes and leather covers. weight 0.7-0.9", ["an open grimoire on a desk"], "1XP"),
    ("object", "Bonsai Tree", ["bonsai", "plant", "miniature"], "bonsai_t",
     "potted bonsai trees, juniper/pine/maple", ["a bonsai on a wooden table"], "1X"),
    ("object", "Antique Lantern", ["lantern", "lamp", "light"], "oldlantern",
     "old oil lanterns, warm light, glass panes", ["a lantern in the snow"], "1X"),
    # --- tool
    ("tool", "Detail Slider", ["slider", "detail", "utility"], "",
     "<p>More or less detail. positive adds detail, negative removes it.</p><p>use between -1 and 1. 0.5 is a good start.</p>",
     ["a forest landscape"], "1XP"),
    ("tool", "Contrast Fix", ["contrast", "utility", "lighting"], "",
     "fixes washed-out grey images, deeper blacks. 0.3-0.6", ["a portrait"], "1X"),
    ("tool", "Hand Helper", ["hands", "fix", "utility"], "",
     "better hands maybe 30% of the time. still inpaint. 0.7", ["a woman waving"], "1XP"),
    ("tool", "Flat Color Cleaner", ["flat color", "utility", "anime"], "",
     "removes gradients/noise for flat colour anime output. good before lineart. 0.6-1.0", ["an anime girl"], "XP"),
    ("tool", "Saturation Control", ["saturation", "slider", "utility"], "",
     "negative = desaturated, positive = vivid. 1.0 default", ["a flower field"], "1X"),
]

BASE_NAMES = {"1": "SD 1.5", "X": "SDXL 1.0", "P": "Pony"}
SUFFIX = {"1": "", "X": "XL", "P": "_pony"}
DONATE = ["\nif you like my stuff: ko-fi.com/placeholder", "<p>join the discord for previews: discord.gg/example</p>",
          "\nbuy me a coffee ☕ https://example.org/tip", ""]


def slug(s):
    return "".join(c if c.isalnum() else "_" for c in s.lower()).strip("_").replace("__", "_")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "Sources", "StylusCatalog", "Resources", "starter_catalog.jsonl")
    rng = random.Random(1504)
    rows = []
    n = 0
    for cat, title, tags, trigger, desc, scenes, bases in SEEDS:
        for b in bases:
            n += 1
            base_alias = trigger or slug(title)
            alias = {"1": base_alias + "_v" + str(rng.randint(1, 3)), "X": base_alias + SUFFIX["X"],
                     "P": base_alias + SUFFIX["P"]}[b]
            t = title + {"1": "", "X": " XL", "P": " (Pony)"}[b]
            d = desc
            if b == "X" and rng.random() < 0.4:
                d = "XL version. " + d
            if b == "P":
                d = d + "\nPony version, use score_9 tags as usual"
            d += rng.choice(DONATE)
            weight = None
            # some authors fill the structured weight, most don't
            if rng.random() < 0.3:
                weight = rng.choice([0.6, 0.7, 0.75, 0.8, 0.9, 1.0])
            w_prompt = rng.choice([0.6, 0.7, 0.8, 0.8, 0.9, 1])
            prompts = []
            for s in scenes[: rng.randint(1, len(scenes))]:
                trig = (trigger + ", ") if trigger else ""
                pre = "score_9, score_8_up, " if b == "P" else ""
                prompts.append(f"{pre}{trig}{s}, detailed <lora:{alias}:{w_prompt}>")
            rows.append({
                "adapter_id": f"stylus-starter-{n:04d}",
                "alias": alias,
                "title": t,
                "base_model": BASE_NAMES[b],
                "type": rng.choice(["LORA", "LORA", "LORA", "LoCon"]),
                "tags": [cat] + tags[:4],
                "trigger_words": [trigger] if trigger else [],
                "description": d,
                "weight": weight,
                "nsfw": False,
                "stats": {"downloadCount": rng.randint(50, 60000), "rating": round(rng.uniform(3.6, 5.0), 2)},
                "image_prompts": prompts,
            })
    with open(out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    cats = {}
    for r in rows:
        cats[r["tags"][0]] = cats.get(r["tags"][0], 0) + 1
    print(f"{len(rows)} adapters -> {out}; by category: {cats}", file=sys.stderr)


if __name__ == "__main__":
    main()
