import Foundation
import StylusCore
import XCTest

/// A file a test needs but the repository does not ship (model files, the benchmark set).
public struct MissingRequiredFile: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

public enum RequiredFiles {
    /// True when missing model and benchmark files must fail tests (`make test`, CI) instead of skipping them.
    public static func areRequired(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        environment["STYLUS_REQUIRE_MODELS"] == "1"
    }

    /// Returns when `path` exists. Otherwise the calling test skips, or, with
    /// STYLUS_REQUIRE_MODELS=1, fails: the thrown error says what is missing and how to get it.
    public static func require(_ path: String, _ what: String, hint: String = "run scripts/setup",
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        let message = "\(what) missing at \(path); \(hint)"
        if areRequired(environment) { throw MissingRequiredFile(description: message + " (STYLUS_REQUIRE_MODELS=1)") }
        throw XCTSkip(message)
    }

    /// The CLIP vocabulary scripts/setup installs (the renderer's tokenizer, `token-limit`).
    public static func clipVocabulary() throws -> String {
        let path = DataPaths(environment: ProcessInfo.processInfo.environment).clipVocabPath
        try require(path, "the CLIP vocabulary")
        return path
    }

    /// The directory of the all-MiniLM-L6-v2 files scripts/setup installs.
    public static func miniLMDirectory() throws -> String {
        let directory = DataPaths(environment: ProcessInfo.processInfo.environment).miniLMDirectory
        for name in ["model.safetensors", "vocab.txt"] { try require(directory + "/" + name, "all-MiniLM-L6-v2") }
        return directory
    }

    /// A file of the development benchmark, which is kept outside the repository.
    public static func benchmarkFile(_ relative: String, testFile: String = #filePath) throws -> URL {
        let url = URL(fileURLWithPath: testFile).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/bench/" + relative).standardized
        try require(url.path, "the development benchmark", hint: "the benchmark is not part of the repository; CI provides it")
        return url
    }
}
