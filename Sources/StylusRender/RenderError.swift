/// Errors of the renderer. Each message says what is wrong, where, and what to do.
public enum RenderError: Error, Equatable, CustomStringConvertible {
    case unreadableFile(path: String, reason: String)
    case badVocabulary(path: String, reason: String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .unreadableFile(path, reason):
            return "\(path): \(reason)"
        case let .badVocabulary(path, reason):
            return "\(path): not a CLIP BPE vocabulary (\(reason)); reinstall it with scripts/setup"
        case let .invalidArgument(message):
            return message
        }
    }
}
