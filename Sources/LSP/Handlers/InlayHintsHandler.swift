import Foundation
import StylusCore

/// The effective weight of emphasis as an inlay hint after the group, e.g. `((cat))×1.21`
/// or `(a (b:1.5))`: `×1.65` after the inner group and `×1.1` after the outer one.
/// A group that only wraps another group shows the inner weight once, after the outermost
/// bracket; a top-level `(x:1.2)` shows nothing (the number is already there), nor does an
/// unclosed group.
enum InlayHintsHandler {
    static func hints(_ snapshot: DocumentSnapshot, in range: LSPRange) -> [InlayHint] {
        let file = snapshot.file
        var out: [InlayHint] = []
        for syntax in [file.positive] + (file.negative.map { [$0] } ?? []) {
            for section in syntax.sections { collect(section.nodes, weight: 1, into: &out) }
        }
        return out.filter { range.start <= $0.position && $0.position <= range.end }
    }

    private static func collect(_ nodes: [PromptNode], weight: Double, into out: inout [InlayHint]) {
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
                if hasText(inner.children), !obvious, outer.isClosed {
                    out.append(InlayHint(
                        position: outer.range.lsp.end, label: "×" + formatNumber(w),
                        tooltip: "Effective emphasis weight of this group: \(formatNumber(w, maxDecimals: 4))"))
                }
                collect(inner.children, weight: w, into: &out)
            case .schedule(let s):
                if let from = s.from { collect(from, weight: weight, into: &out) }
                collect(s.to, weight: weight, into: &out)
            case .alternation(let a):
                for option in a.options { collect(option, weight: weight, into: &out) }
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
