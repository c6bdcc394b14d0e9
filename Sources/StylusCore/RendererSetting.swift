import Foundation

/// The `renderer` setting (frontmatter, editor settings, `--backend`): where images are made.
/// One entry or several, separated by commas or new lines (a YAML list in the frontmatter):
/// `local`; `a1111` (also `forge`, `automatic1111`) or `comfyui` (also `comfy`), each optionally
/// followed by a space and the server's URL; or a URL alone, which names an A1111/Forge server.
/// Several servers share the images of one render; `local` stands alone. README, "Render backends".
public enum RendererSetting {
    public enum Kind: String, Sendable, Equatable {
        case local, a1111, comfyui
    }

    public struct Entry: Sendable, Equatable {
        public var kind: Kind
        /// The server's address as written (http or https with a host); nil: the kind's default.
        public var url: String?

        public init(kind: Kind, url: String? = nil) {
            self.kind = kind
            self.url = url
        }
    }

    /// The entries of a setting, or a message saying what is wrong with it.
    public static func parse(_ setting: String) -> Result<[Entry], RendererSettingError> {
        let parts = setting.split(whereSeparator: { $0 == "," || $0 == "\n" })
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !parts.isEmpty else { return .success([Entry(kind: .local)]) }
        var entries: [Entry] = []
        for part in parts {
            var name = part, url: String?
            if isURL(part) {
                (name, url) = ("a1111", part)
            } else if let space = part.firstIndex(where: { $0 == " " || $0 == "\t" }) {
                name = String(part[..<space])
                url = part[space...].trimmingCharacters(in: .whitespaces)
            }
            let kind: Kind
            switch name.lowercased() {
            case "local": kind = .local
            case "a1111", "forge", "automatic1111": kind = .a1111
            case "comfyui", "comfy": kind = .comfyui
            default:
                return .failure(RendererSettingError(message: "unknown renderer '\(name)'; use local, a1111, comfyui, a server URL, or several servers separated by commas"))
            }
            if let u = url {
                guard kind != .local else {
                    return .failure(RendererSettingError(message: "'local' takes no URL (got '\(part)')"))
                }
                guard isURL(u), !u.contains(" ") else {
                    return .failure(RendererSettingError(message: "'\(u)' is not a server URL; write http://HOST:PORT, e.g. \(kind == .comfyui ? "http://127.0.0.1:8188" : "http://127.0.0.1:7860")"))
                }
            }
            entries.append(Entry(kind: kind, url: url))
        }
        if entries.count > 1, entries.contains(where: { $0.kind == .local }) {
            return .failure(RendererSettingError(message: "'local' cannot be combined with servers; list only servers to share a render between them"))
        }
        return .success(entries)
    }

    /// `http://` or `https://` followed by a host.
    public static func isURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        for scheme in ["http://", "https://"] where lower.hasPrefix(scheme) {
            let rest = lower.dropFirst(scheme.count)
            return !rest.isEmpty && !rest.hasPrefix("/") && !rest.hasPrefix(":")
        }
        return false
    }
}

public struct RendererSettingError: Error, Equatable, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
