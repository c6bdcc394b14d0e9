import FuzzDriver
import LSP
import StylusCore

/// The prompt parser, linter, keywords, A1111 weights and the LSP features on any bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPrompt(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let file = PromptFile(text: text)
    let count = file.source.utf8Count
    for d in PromptLinter().diagnostics(for: file) { precondition(d.range.utf8.upperBound <= count, "diagnostic out of range") }
    _ = file.topics
    let weights = file.a1111Positive
    precondition(!weights.sections.isEmpty, "no AND part")
    for section in weights.sections { precondition(!section.schedule.isEmpty, "no step") }
    var offset = 0
    while offset < count {
        _ = weights.weight(atSourceOffset: offset)
        offset += 7
    }
    _ = file.a1111Negative
    _ = PromptAttention.spans(text)
    FuzzHooks.exercise(text)
    return 0
}

@_cdecl("FuzzPrompt_main")
public func fuzzPromptMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, { data, size in fuzzPrompt(data, size) })
}
