import FuzzDriver
import Foundation
import StylusCatalog

/// The catalog JSONL importer: the input is the file, imported into one store per process.
private let work: (store: CatalogStore, file: String) = {
    let dir = NSTemporaryDirectory() + "stylus-fuzz-import-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return (try! CatalogStore(path: dir + "/catalog.sqlite"), dir + "/input.jsonl")
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCatalogImport(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = FileManager.default.createFile(atPath: work.file, contents: Data(bytes: data, count: size))
    if let report = try? CatalogImporter(store: work.store).importJSONL(work.file) {
        precondition(report.accepted >= 0)
    }
    return 0
}

@_cdecl("FuzzCatalogImport_main")
public func fuzzCatalogImportMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, { data, size in fuzzCatalogImport(data, size) })
}
