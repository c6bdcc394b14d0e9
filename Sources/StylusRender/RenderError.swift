/// Errors of the renderer. Each message says what is wrong, where, and what to do.
public enum RenderError: Error, Equatable, CustomStringConvertible {
    case unreadableFile(path: String, reason: String)
    case badVocabulary(path: String, reason: String)
    case invalidArgument(String)
    /// The checkpoint is not an SD 1.x model this renderer can run.
    case unsupportedCheckpoint(path: String, reason: String)
    case missingWeight(path: String, name: String)
    case badWeight(path: String, name: String, reason: String)
    /// Every render server of a job failed; one line per server.
    case serversFailed([String])

    public var description: String {
        switch self {
        case let .unreadableFile(path, reason):
            return "\(path): \(reason)"
        case let .badVocabulary(path, reason):
            return "\(path): not a CLIP BPE vocabulary (\(reason)); reinstall it with scripts/setup"
        case let .invalidArgument(message):
            return message
        case let .unsupportedCheckpoint(path, reason):
            return "\(path): \(reason); Stylus renders Stable Diffusion 1.x and SDXL checkpoints (single-file .safetensors or a diffusers folder)"
        case let .missingWeight(path, name):
            return "\(path): missing weight \(name); the checkpoint is incomplete or not SD 1.x or SDXL"
        case let .badWeight(path, name, reason):
            return "\(path): weight \(name) \(reason); the checkpoint is damaged"
        case let .serversFailed(lines):
            return "every render server failed, so some images were not rendered: " + lines.joined(separator: "; ")
        }
    }
}
