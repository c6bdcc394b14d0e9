import FuzzDriver
import Foundation
import JSONRPC
import LSP

/// The JSON-RPC framer fed in two pieces, and every framed body decoded as the server does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONRPC(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var framer = MessageFramer()
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    framer.feed(bytes[..<cut])
    var events = 0
    while let event = framer.next() {
        events += 1
        if case .message(let body) = event { FuzzHooks.decode(body) }
    }
    framer.feed(bytes[cut...])
    while let event = framer.next() {
        events += 1
        precondition(events <= bytes.count + 1, "more events than bytes")
        if case .message(let body) = event { FuzzHooks.decode(body) }
    }
    // The body alone, as if framed correctly.
    FuzzHooks.decode(Data(bytes))
    return 0
}

@_cdecl("FuzzJSONRPC_main")
public func fuzzJSONRPCMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, { data, size in fuzzJSONRPC(data, size) })
}
