import StylusCore

/// Small helpers to read trees in tests.
extension PromptSyntax {
    var nodes: [PromptNode] { sections.flatMap(\.nodes) }
}

/// Every text span with its effective emphasis weight, in order.
func weightedTexts(_ syntax: PromptSyntax) -> [(String, Double)] {
    var out: [(String, Double)] = []
    for section in syntax.sections {
        PromptNode.walk(section.nodes) { node, weight in
            if case .text(let t) = node { out.append((t.value, weight)) }
        }
    }
    return out
}

func codes(_ diagnostics: [PromptDiagnostic]) -> [String] { diagnostics.map(\.code.rawValue) }
