/// A piece of an already-parsed A1111 prompt: text with its emphasis weight, or `BREAK`.
public enum PromptFragment: Equatable, Sendable {
    case text(String, weight: Float)
    case chunkBreak
}

/// One 77-token CLIP window: BOS, 75 prompt tokens (padded with EOS), EOS, and a weight per token.
public struct TokenChunk: Equatable, Sendable {
    public static let promptTokens = 75
    public static let length = promptTokens + 2
    public var ids: [Int32]
    public var multipliers: [Float]

    public init(ids: [Int32], multipliers: [Float]) {
        self.ids = ids
        self.multipliers = multipliers
    }
}

/// The prompt split into CLIP windows the way A1111 does it (`sd_hijack_clip.tokenize_line`).
public struct TokenChunking: Equatable, Sendable {
    public var chunks: [TokenChunk]
    /// A1111's token counter: 75 per full chunk plus the tokens of the last one.
    public var tokenCount: Int

    public init(chunks: [TokenChunk], tokenCount: Int) {
        self.chunks = chunks
        self.tokenCount = tokenCount
    }
}

extension ClipTokenizer {
    /// A1111 semantics: 75-token chunks; when a chunk fills up within `commaBacktrack` tokens after
    /// a comma, the text after that comma moves to the next chunk; `BREAK` starts a new chunk; an
    /// empty prompt is one chunk of padding.
    public func chunk(_ fragments: [PromptFragment], commaBacktrack: Int = 20) -> TokenChunking {
        let limit = TokenChunk.promptTokens
        var chunks: [TokenChunk] = []
        var ids: [Int32] = []
        var weights: [Float] = []
        var count = 0
        var lastComma = -1
        let comma = commaId

        func close(isLast: Bool = false) {
            count += isLast ? ids.count : limit
            let pad = limit - ids.count
            chunks.append(TokenChunk(
                ids: [Self.bos] + ids + Array(repeating: Self.eos, count: pad) + [Self.eos],
                multipliers: [1] + weights + Array(repeating: 1, count: pad) + [1]))
            ids = []
            weights = []
            lastComma = -1
        }

        for fragment in fragments {
            guard case let .text(text, weight) = fragment else { close(); continue }
            for token in encode(text) {
                if token == comma {
                    lastComma = ids.count
                } else if commaBacktrack > 0, ids.count == limit, lastComma != -1, ids.count - lastComma <= commaBacktrack {
                    let cut = lastComma + 1
                    let movedIds = Array(ids[cut...]), movedWeights = Array(weights[cut...])
                    ids.removeSubrange(cut...)
                    weights.removeSubrange(cut...)
                    close()
                    ids = movedIds
                    weights = movedWeights
                }
                if ids.count == limit { close() }
                ids.append(token)
                weights.append(weight)
            }
        }
        if !ids.isEmpty || chunks.isEmpty { close(isLast: true) }
        return TokenChunking(chunks: chunks, tokenCount: count)
    }
}

import StylusCore

extension A1111Prompt {
    /// The text CLIP encodes, as A1111 fragments: A1111's emphasis weights (`PromptAttention`),
    /// its `BREAK` markers, extra-network tags and comments removed. Without per-step conditioning,
    /// prompt editing and alternation take the text A1111 uses at the middle sampling step.
    /// `AND` parts are joined in order.
    public func fragments() -> [PromptFragment] {
        let middle = (steps + 1) / 2
        var out: [PromptFragment] = []
        for section in sections {
            for span in section.step(at: middle).spans {
                if span.isBreak {
                    out.append(.chunkBreak)
                } else if !span.text.isEmpty {
                    out.append(.text(span.text, weight: Float(span.weight)))
                }
            }
        }
        return out
    }
}
