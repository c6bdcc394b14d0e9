import FuzzDriver
import StylusCore

/// The frontmatter reader: any bytes between `---` lines.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrontmatter(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let file = PromptFile(text: "---\n" + body + "\n---\na cat")
    let count = file.source.utf8Count
    for d in file.diagnostics { precondition(d.range.utf8.upperBound <= count, "diagnostic out of range") }
    if let steps = file.settings.steps { precondition((1...1000).contains(steps), "steps out of range") }
    _ = file.settings.size?.description
    return 0
}

@_cdecl("FuzzFrontmatter_main")
public func fuzzFrontmatterMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, { data, size in fuzzFrontmatter(data, size) })
}
