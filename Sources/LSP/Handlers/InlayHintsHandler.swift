import Foundation
import StylusCore

/// The effective weight of emphasis as an inlay hint after the group, e.g. `((cat))×1.21`
/// or `(a (b:1.5))`: `×1.65` after the inner group and `×1.1` after the outer one.
/// A group that only wraps another group shows the inner weight once, after the outermost
/// bracket; a top-level `(x:1.2)` shows nothing (the number is already there), nor does an
/// unclosed group. The number is the weight A1111 gives the group's first word (`A1111Prompt`),
/// which is what the tree suggests unless brackets elsewhere are unbalanced.
enum InlayHintsHandler {
    static func hints(_ snapshot: DocumentSnapshot, in range: LSPRange) -> [InlayHint] {
        let file = snapshot.file
        var out: [InlayHint] = []
        var prompts = [(file.positive, file.a1111Positive)]
        if let negative = file.negative, let a1111 = file.a1111Negative { prompts.append((negative, a1111)) }
        for (syntax, a1111) in prompts {
            for section in syntax.sections { collect(section.nodes, weight: 1, a1111: a1111, source: file.source, into: &out) }
        }
        return out.filter { range.start <= $0.position && $0.position <= range.end }
    }

    /// The offset of the first non-space byte of text among `nodes`.
    private static func firstWord(_ nodes: [PromptNode], _ source: SourceText) -> Int? {
        for node in nodes {
            guard case .text(let t) = node else { continue }
            for i in t.range.utf8 where source.bytes[i] > 0x20 && source.bytes[i] != 0x5C { return i }
        }
        return nil
    }

    private static func collect(_ nodes: [PromptNode], weight: Double, a1111: A1111Prompt, source: SourceText, into out: inout [InlayHint]) {
        for node in nodes {
            switch node {
            case .emphasis(let outer):
                // Follow a chain of groups that only wrap one group: ((x)) is one hint.
                var inner = outer
                var w = weight * outer.multiplier
                var wrappers = 0
                while inner.children.count == 1, case .emphasis(let next) = inner.children[0] {
                    inner = next
                    w *= next.multiplier
                    wrappers += 1
                }
                let obvious = wrappers == 0 && weight == 1 && inner.explicitWeight != nil
                // An unclosed group already has a syntax diagnostic; a hint at its implicit end would mislead.
                if hasText(inner.children), !obvious, outer.isClosed,
                   let w = firstWord(inner.children, source).flatMap(a1111.weight(atSourceOffset:)) {
                    out.append(InlayHint(
                        position: outer.range.lsp.end, label: "×" + formatNumber(w),
                        tooltip: "Effective emphasis weight of this group: \(formatNumber(w, maxDecimals: 4))"))
                }
                collect(inner.children, weight: w, a1111: a1111, source: source, into: &out)
            case .schedule(let s):
                if let from = s.from { collect(from, weight: weight, a1111: a1111, source: source, into: &out) }
                collect(s.to, weight: weight, a1111: a1111, source: source, into: &out)
            case .alternation(let a):
                for option in a.options { collect(option, weight: weight, a1111: a1111, source: source, into: &out) }
            default:
                break
            }
        }
    }

    private static func hasText(_ nodes: [PromptNode]) -> Bool {
        nodes.contains { node in
            switch node {
            case .text(let t): return !t.value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            case .wildcard, .schedule, .alternation: return true
            default: return false
            }
        }
    }
}
