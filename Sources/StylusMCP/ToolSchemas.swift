import MCP
import StylusCore

/// The tools' JSON schemas (input and output) and annotations (docs/CONTRACTS.md, MCP server).
package enum ToolSchemas {
    static func object(_ properties: [String: Value], required: [String] = [], additional: Bool = false) -> Value {
        ["type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) }),
         "additionalProperties": .bool(additional)]
    }
    static func string(_ description: String) -> Value { ["type": "string", "description": .string(description)] }
    static func integer(_ description: String, _ min: Int, _ max: Int) -> Value {
        ["type": "integer", "description": .string(description), "minimum": .int(min), "maximum": .int(max)]
    }
    static func number(_ description: String) -> Value { ["type": "number", "description": .string(description)] }
    static func boolean(_ description: String) -> Value { ["type": "boolean", "description": .string(description)] }
    static func array(_ items: Value) -> Value { ["type": "array", "items": items] }
    static func nullable(_ type: String) -> Value { ["type": [.string(type), "null"]] }
    static func choice(_ description: String, _ options: [String]) -> Value {
        ["type": "string", "description": .string(description), "enum": .array(options.map { .string($0) })]
    }

    static let baseModel = string("Base model the prompt is for: \"SD 1.5\", \"SDXL 1.0\", \"Pony\", \"Illustrious\", \"Flux.1 D\", …; adapters of other base models are left out.")
    static let masks = ["all", "one_hot_loras", "one_hot_concepts"]

    /// What the catalog tools promise: they only read (show_adapter caches a file hash it computes).
    static let readOnly = Tool.Annotations(readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false)

    static let shortCard = object([
        "title": ["type": "string"], "base_model": nullable("string"), "category": ["type": "string"],
        "weight": ["type": "number"], "trigger_words": array(["type": "string"]), "description": ["type": "string"],
        "nsfw": ["type": "boolean"],
    ], required: ["title", "base_model", "category", "weight", "trigger_words", "description", "nsfw"])

    /// The dialect the output schemas declare. They use only keywords that mean the same in draft-07
    /// and 2020-12 (MCP's default, SEP-1613: a schema may name another). Clients that validate each
    /// result check the schema itself first, on every call: the official Python SDK's `jsonschema`
    /// does that 3–4× faster against the draft-07 metaschema (README, "AI agents (MCP)").
    package static let outputDialect = "http://json-schema.org/draft-07/schema#"

    /// A tool whose input is an object of `input` (no other keys).
    static func tool(_ name: String, _ title: String, _ description: String, input: [String: Value], required: [String] = [],
                     annotations: Tool.Annotations = readOnly, output: Value) -> Tool {
        var declared = output.objectValue ?? [:]
        declared["$schema"] = .string(outputDialect)
        return Tool(name: name, title: title, description: description, inputSchema: object(input, required: required),
                    annotations: annotations, outputSchema: .object(declared))
    }

    static let searchAdapters = tool(
        "search_adapters", "Search adapters",
        "Rank the catalog's LoRA adapters for a prompt or a description (sentence embeddings + BM25, as `stylus search`). "
            + "Returns adapter ids, aliases (the name in <lora:alias:weight>), scores and short cards.",
        input: [
            "query": string("The prompt or a description of the wanted style, subject or concept."),
            "base_model": baseModel,
            "k": integer("How many adapters to return (default 10).", 1, 100),
            "nsfw": boolean("Also return NSFW adapters (default false)."),
        ], required: ["query"],
        output: object([
            "results": array(object([
                "adapter_id": ["type": "string"], "alias": ["type": "string"], "score": ["type": "number"], "card": shortCard,
            ], required: ["adapter_id", "alias", "score", "card"])),
        ], required: ["results"]))

    static let composeTopic = object([
        "keyword": ["type": "string"],
        "range": ["type": "array", "items": ["type": "integer"], "minItems": 2, "maxItems": 2],
        "adapters": array(object(["adapter_id": ["type": "string"], "alias": ["type": "string"], "weight": ["type": "number"]],
                                 required: ["adapter_id", "alias", "weight"])),
    ], required: ["keyword", "range", "adapters"])

    /// `compose_prompt`'s `retrieved` count: the adapters an agent may look at next, without the 150
    /// ids of the CLI's benchmark output in its context (or in the SDK's per-result schema check).
    static let defaultRetrieved = 20

    static let composePrompt = tool(
        "compose_prompt", "Compose adapters for a prompt",
        "Run the Stylus composer (as `stylus compose --json`): split the prompt into topics (keywords), choose adapters per topic "
            + "with weights, and return the prompt with <lora:alias:weight> tags appended. `explain` adds every accept/reject decision with its reason.",
        input: [
            "prompt": string("An A1111-style prompt, or the whole text of a .sdprompt file (YAML frontmatter allowed)."),
            "base_model": baseModel,
            "masks": choice("Also return masked variants of the composed prompt (the paper's masking): which adapters each sample keeps.", masks),
            "samples": integer("How many masked variants (with masks; default 1).", 1, 16),
            "seed": integer("Seed of mask sampling (default 0).", 0, Int(Int32.max)),
            "explain": boolean("Add each topic's accept/reject decisions with reasons (default false)."),
            "nsfw": boolean("Allow NSFW adapters (default false)."),
            "add_trigger_words": boolean("Add the trigger words the chosen adapters need, before the tags (default true)."),
            "retrieved": integer("How many of the whole-prompt retrieval ranking to list in `retrieved` "
                                     + "(default \(defaultRetrieved); `stylus compose --json` lists \(ComposeRequest.defaultRetrieveLimit)).",
                                 0, ComposeRequest.defaultRetrieveLimit),
        ], required: ["prompt"],
        output: object([
            "prompt": ["type": "string"], "base_model": nullable("string"),
            "retrieved": array(["type": "string"]), "topics": array(composeTopic),
            "prompt_with_adapters": ["type": "string"], "timings_ms": ["type": "object", "additionalProperties": ["type": "number"]],
            "samples": array(["type": "string"]),
            // Described, not spelled out: clients that validate each result (the Python SDK) check
            // the schema itself on every call, and each nested object costs every call ~0.1 ms;
            // these explanations are for people and the fields are listed here.
            "explanation": [
                "type": "array", "items": ["type": "object"],
                "description": .string("With explain: per topic, {keyword, decisions: [{adapter_id, alias, accepted, reason, score (the scorer's probability; null for "
                    + "a rule-only decision)}]}: every accept/reject decision with its reason, as `stylus compose --json --explain`."),
            ],
        ], required: ["prompt", "base_model", "retrieved", "topics", "prompt_with_adapters", "timings_ms"]))

    static let position = object(["line": ["type": "integer", "minimum": 0], "character": ["type": "integer", "minimum": 0]],
                                 required: ["line", "character"])

    static let checkPrompt = tool(
        "check_prompt", "Check a prompt",
        "The diagnostics an editor shows for a prompt or .sdprompt text: syntax, frontmatter, duplicate or unknown LoRAs, "
            + "base-model mismatches, missing trigger words, weights out of range, the CLIP token limit, and adapters that would fit (hints). "
            + "Positions are 0-based lines and UTF-16 characters; severity 1 error, 2 warning, 3 information, 4 hint.",
        input: [
            "text": string("The prompt, or the whole text of a .sdprompt file."),
            "base_model": string("Base model to assume when the text has no base_model frontmatter (as the editor's baseModel setting)."),
        ], required: ["text"],
        output: object([
            "diagnostics": array(object([
                "range": object(["start": position, "end": position], required: ["start", "end"]),
                "severity": ["type": "integer", "minimum": 1, "maximum": 4],
                "code": ["type": "string"], "source": ["type": "string"], "message": ["type": "string"],
            ], required: ["range", "severity", "code", "message"], additional: true)),
            "counts": object(["error": ["type": "integer"], "warning": ["type": "integer"], "information": ["type": "integer"], "hint": ["type": "integer"]],
                             required: ["error", "warning", "information", "hint"]),
        ], required: ["diagnostics", "counts"]))

    static let fullCard = object([
        "adapter_id": ["type": "string"], "alias": ["type": "string"], "title": ["type": "string"], "base_model": nullable("string"),
        "type": ["type": "string"], "category": ["type": "string"], "weight": ["type": "number"], "weight_source": ["type": "string"],
        "trigger_words": array(["type": "string"]), "refined_description": ["type": "string"], "description": ["type": "string"],
        "tags": array(["type": "string"]), "nsfw": ["type": "boolean"],
        "file": object(["path": ["type": "string"], "stem": ["type": "string"], "size": ["type": "integer"],
                        "preview": nullable("string"), "autov3": nullable("string"), "autov2": nullable("string"), "sha256": nullable("string")],
                       required: ["path", "stem", "size", "autov3", "autov2", "sha256"], additional: true),
    ], required: ["adapter_id", "alias", "title", "base_model", "category", "weight", "trigger_words", "refined_description", "nsfw"],
       additional: true)

    static let showAdapter = tool(
        "show_adapter", "Show an adapter's card",
        "The full card of one adapter (as `stylus catalog show --json`): refined description, trigger words, recommended weight and "
            + "where it comes from, tags, the raw description, and the local file with its hashes (the SHA-256 is computed and cached in the catalog the first time).",
        input: ["alias_or_id": string("Adapter id, alias (the name in <lora:alias:…>) or file name stem.")], required: ["alias_or_id"],
        output: object(["adapter": fullCard, "also_matches": array(["type": "string"])], required: ["adapter", "also_matches"]))

    static let renderImage = tool(
        "render_image", "Render an image",
        "Render a Stable Diffusion 1.x image on this machine (or on an A1111/Forge or ComfyUI server) and write it as a new PNG, never replacing a file: "
            + "beside the prompt file given as prompt_path (<stem>-<n>.png), else in the server's --output-dir (stylus-<n>.png). "
            + "Give the .sdprompt text (prompt_file_text), a bare prompt with settings, or just prompt_path. Sends progress notifications while sampling "
            + "when the request has a progressToken, stops on notifications/cancelled. Returns the PNG path(s) and a small thumbnail.",
        input: [
            "prompt_file_text": string("The whole .sdprompt text (frontmatter with checkpoint, steps, cfg, sampler, seed, size, … and the prompt)."),
            "prompt": string("A bare A1111-style prompt (instead of prompt_file_text); settings below."),
            "prompt_path": string("An existing .sdprompt file: read when no text is given; images are written beside it."),
            "negative": string("Negative prompt (overrides the file's)."),
            "checkpoint": string("SD 1.x checkpoint: a .safetensors file or a diffusers folder (for a1111: the model's name)."),
            "steps": integer("Sampling steps.", PromptSettings.stepRange.lowerBound, PromptSettings.stepRange.upperBound),
            "cfg": number("Classifier-free guidance scale (0–100; 5–9 is usual)."),
            "seed": integer("Seed (-1 for a random one).", -1, Int(Int32.max)),
            "sampler": choice("Sampler.", ["Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DDIM", "LCM"]),
            "size": string("Image size WxH in multiples of 8, e.g. \"512x768\"."),
            "precision": choice("Local renders: auto (bf16 where the CPU has AVX512-BF16 or AMX, the default), bf16 or fp32.", ["auto", "bf16", "fp32"]),
            "compose": boolean("Run the composer first and render its prompt with <lora:…> tags (default false)."),
            "add_trigger_words": boolean("With compose: add the trigger words the composed adapters need (default true)."),
            "base_model": baseModel,
            "backend": choice("local (this machine, the default), a1111 (an A1111/Forge server started with --api) or comfyui (a ComfyUI server).", ["local", "a1111", "comfyui"]),
            "a1111_url": string("The A1111/Forge server for backend a1111 (default http://127.0.0.1:7860)."),
            "comfyui_url": string("The ComfyUI server for backend comfyui (default $STYLUS_COMFYUI_URL, else http://127.0.0.1:8188)."),
        ],
        annotations: Tool.Annotations(readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false),
        output: object([
            "images": array(object([
                "path": ["type": "string"], "prompt": ["type": "string"], "seed": ["type": "integer"],
                "adapters": array(object(["name": ["type": "string"], "path": nullable("string"), "hash": nullable("string")],
                                         required: ["name", "path", "hash"])),
                "timings_s": ["type": "object", "additionalProperties": ["type": "number"]],
            ], required: ["path", "prompt", "seed", "adapters", "timings_s"])),
            "warnings": array(["type": "string"]),
            "thumbnail": object(["width": ["type": "integer"], "height": ["type": "integer"]], required: ["width", "height"]),
        ], required: ["images", "warnings"]))

    package static let all = [searchAdapters, composePrompt, checkPrompt, showAdapter, renderImage]
}
