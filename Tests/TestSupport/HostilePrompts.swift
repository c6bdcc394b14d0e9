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
