// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets over the project's own sources (docs/TESTING.md, "Fuzzing"). `scripts/fuzz`
// fills Sources/ with links to ../Sources and Targets/ and builds with `-sanitize=fuzzer,address`;
// the dependencies are the checkouts of the main package's release build (no network).
let package = Package(
    name: "stylus-fuzz",
    dependencies: [
        .package(path: "../.build/checkouts/GRDB.swift"),
        .package(path: "../.build/checkouts/Yams"),
        .package(path: "../.build/checkouts/swift-log"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib"),
        .target(name: "CStylusKernels"),
        .target(name: "StylusCore", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "StylusML", dependencies: ["StylusCore", "CBLAS", "CStylusKernels"]),
        .target(name: "StylusCatalog", dependencies: ["StylusCore", "StylusML", .product(name: "GRDB", package: "GRDB.swift")],
                resources: [.copy("Resources")]),
        .target(name: "StylusRender", dependencies: ["StylusCore", "StylusML", "CZlib"]),
        .target(name: "JSONRPC"),
        .target(name: "LSP", dependencies: ["JSONRPC", "StylusCore", "StylusCatalog", "StylusML", "StylusRender",
                                            .product(name: "Logging", package: "swift-log")]),
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzPrompt", dependencies: ["FuzzDriver", "StylusCore", "LSP"]),
        .executableTarget(name: "FuzzFrontmatter", dependencies: ["FuzzDriver", "StylusCore"]),
        .executableTarget(name: "FuzzSafetensors", dependencies: ["FuzzDriver", "StylusML"]),
        .executableTarget(name: "FuzzJSONRPC", dependencies: ["FuzzDriver", "JSONRPC", "LSP"]),
        .executableTarget(name: "FuzzCatalogImport", dependencies: ["FuzzDriver", "StylusCatalog"]),
    ]
)
