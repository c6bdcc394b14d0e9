import FuzzDriver
import StylusML

/// The safetensors header reader on any bytes (the whole input is the file).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    if let header = try? SafetensorsHeader.parse(bytes, fileSize: size) {
        for t in header.tensors { precondition(header.dataStart <= size, "data start past the end: \(t.name)") }
    }
    return 0
}

@_cdecl("FuzzSafetensors_main")
public func fuzzSafetensorsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, { data, size in fuzzSafetensors(data, size) })
}
