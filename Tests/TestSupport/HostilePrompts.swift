/// Prompt files whose numbers once crashed the CLI and the language server (a double converted to
/// Int without a range check): huge, non-finite and deeply multiplied weights, and frontmatter numbers.
public enum HostilePrompts {
    public static let numbers = [
        "a cat, <lora:x:1e30>",
        "<lora:x:inf>",
        "<lora:x:-1e308>",
        "<lora:x:1:1e30>",
        "<lora:x:te=1e300:unet=nan>",
        "(knight:99999999999999999999)",
        "[x:1e19]",
        String(repeating: "(", count: 20) + "x" + String(repeating: ":9.9)", count: 20),
        "(x:" + String(repeating: "9", count: 400) + ")",
        "---\ncfg: 1e300\n---\na cat",
        "---\ncfg: .inf\n---\na cat",
    ]
}

/// Random prompt files for property tests: brackets, escapes, tags, BREAK/AND, frontmatter, and
/// numbers in every notation (exponents, signs, inf/nan, hex floats, huge digit runs, tiny values).
public enum RandomPrompts {
    public static let numbers = [
        "0", "1", "1.2", ".5", "5.", "+1", "-0", "-1.5", "1e30", "1E-30", "-1e308", "1e-400", "1e400", "inf", "-inf",
        "nan", "NaN", "Infinity", ".inf", "0x1p3", "1_000", "99999999999999999999", String(repeating: "9", count: 400),
        "4.9e-324", "1.7976931348623157e308", "١٢", "1.2.3", "--1", "1e", "e5",
    ]
    static let pieces = [
        "(", ")", "[", "]", ":", "|", "\\(", "\\", "a cat", ", ", " ", "\n", "BREAK", " AND ", "#c\n", "__w__",
        "<lora:x:", "<lora:y:", ">", "te=", ":unet=", "<hypernet:h:", "é", "🐱", "[a:b:", "(x:",
    ]

    /// A deterministic prompt file for `seed`: sometimes with frontmatter whose values are numbers.
    public static func file(_ rng: inout some RandomNumberGenerator) -> String {
        func pick(_ list: [String]) -> String { list[Int.random(in: 0..<list.count, using: &rng)] }
        var text = ""
        if Bool.random(using: &rng) {
            text += "---\n"
            for key in ["steps", "cfg", "seed", "size", "clip_skip", "samples"].shuffled(using: &rng).prefix(Int.random(in: 1...4, using: &rng)) {
                text += key + ": " + (key == "size" ? pick(numbers) + "x" + pick(numbers) : pick(numbers)) + "\n"
            }
            text += "---\n"
        }
        for _ in 0..<Int.random(in: 0..<40, using: &rng) {
            text += Int.random(in: 0..<3, using: &rng) == 0 ? pick(numbers) : pick(pieces)
        }
        if Int.random(in: 0..<4, using: &rng) == 0 { text += "\nNegative prompt: " + pick(pieces) + pick(numbers) }
        return text
    }
}
