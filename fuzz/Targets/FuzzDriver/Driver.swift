/// libFuzzer's driver for an executable target: SwiftPM links `main` to `<Target>_main`, which
/// hands the command line and the target's callback to `LLVMFuzzerRunDriver`.
public typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: FuzzCallback) -> CInt

public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ callback: FuzzCallback) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, callback)
}
// Each target defines both `LLVMFuzzerTestOneInput` (for libFuzzer's own `main`) and
// `<Target>_main` (SwiftPM's entry point); the link keeps whichever `main` comes first.
