// swift-tools-version:6.0
import PackageDescription

// Dependencies point one way: stylus → (StylusMCP, LSP) → (Catalog, Render) → ML → Core.
// Tests use `package` access instead of @testable so they also build with -c release.
let package = Package(
    name: "stylus",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "stylus", targets: ["stylus"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
    ],
    targets: [
        // System libraries
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        // Pure logic: prompt grammar, prompt files, keywords, adapter model, composer. No I/O.
        .target(name: "StylusCore", dependencies: [.product(name: "Yams", package: "Yams")]),
        // SQLite catalog, importers, folder scanner, refiner, retriever (uses StylusML's
        // safetensors header reader and sentence encoder).
        .target(name: "StylusCatalog", dependencies: [
            "StylusCore", "StylusML", .product(name: "GRDB", package: "GRDB.swift"),
        ], resources: [.copy("Resources")]),
        // CPU tensors over BLAS, safetensors, tokenizers, MiniLM.
        .target(name: "StylusML", dependencies: ["StylusCore", "CBLAS", "CStylusKernels", "CStylusBF16"]),
        // Vectorised C kernels compiled per instruction set, used by StylusML: attention, GEGLU and
        // Winograd for the renderer; the int8 scan and small-batch linear layers for retrieval.
        .target(name: "CStylusKernels"),
        // oneDNN's bf16 matmul, loaded with dlopen when a bf16 render asks for it (headers from
        // libdnnl-dev at build time; without libdnnl2 at run time, renders stay fp32).
        .target(name: "CStylusBF16", linkerSettings: [.linkedLibrary("dl")]),
        // SD 1.x pipeline, LoRA merging, PNG.
        .target(name: "StylusRender", dependencies: ["StylusCore", "StylusML", "CZlib"]),
        // JSON-RPC framing and connection; LSP types and server.
        .target(name: "JSONRPC"),
        .target(name: "LSP", dependencies: [
            "JSONRPC", "StylusCore", "StylusCatalog", "StylusML", "StylusRender",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The MCP server (`stylus mcp`): tools, resources and prompts over the same libraries.
        .target(name: "StylusMCP", dependencies: [
            "StylusCore", "StylusCatalog", "StylusML", "StylusRender",
            .product(name: "MCP", package: "swift-sdk"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "stylus", dependencies: [
            "LSP", "StylusMCP", "StylusCore", "StylusCatalog", "StylusML", "StylusRender",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Timing driver for benchmarks/embed_bench.py.
        .executableTarget(name: "StylusBench", dependencies: ["StylusML", "StylusCore"]),

        // A scripted local HTTP server for the tests of the project's HTTP clients.
        .target(name: "HTTPTestSupport", path: "Tests/HTTPTestSupport"),
        // Deadlines (a hang fails), FIFOs and the model-file guards, shared by the test targets.
        .target(name: "TestSupport", dependencies: ["StylusCore"], path: "Tests/TestSupport"),
        .testTarget(name: "StylusCoreTests", dependencies: ["StylusCore", "TestSupport"]),
        .testTarget(name: "StylusCatalogTests", dependencies: [
            "StylusCatalog", "StylusCore", "StylusML", "HTTPTestSupport", "TestSupport",
            .product(name: "GRDB", package: "GRDB.swift"),  // a catalog that refuses writes, made with real SQLite
        ]),
        .testTarget(name: "StylusMLTests", dependencies: ["StylusML", "StylusCore", "TestSupport"]),
        .testTarget(name: "StylusRenderTests", dependencies: ["StylusRender", "StylusML", "StylusCatalog", "HTTPTestSupport", "TestSupport"]),
        .testTarget(name: "JSONRPCTests", dependencies: ["JSONRPC", "StylusCore", "TestSupport"]),
        // Also spawns the built `stylus lsp` (process tests), hence the executable dependency.
        .testTarget(name: "LSPTests", dependencies: ["LSP", "JSONRPC", "StylusCore", "StylusRender", "stylus", "TestSupport"]),
        .testTarget(name: "StylusMCPTests", dependencies: ["StylusMCP", .product(name: "MCP", package: "swift-sdk")]),
        // Spawns the built `stylus` executable: real processes, real exit codes.
        .testTarget(name: "CLITests", dependencies: ["stylus", "StylusCore", "HTTPTestSupport", "TestSupport"]),
    ]
)
