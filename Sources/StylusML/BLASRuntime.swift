// OpenBLAS kernel selection and threads.
//
// Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels from the CPU model number when the
// library loads. On CPUs newer than it knows (e.g. Intel family 6 model 207, or CPUs that VMs report
// with a generic model) it falls back to the SSE3 "Prescott" kernels, 3-5x slower than the AVX-512
// or AVX2 ones the CPU supports. The only switch is the OPENBLAS_CORETYPE environment variable, read
// at load time, so an executable that wants the fast kernels must have it set before it starts.

import CBLAS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum BLASRuntime {
    /// The kernel family OpenBLAS uses in this process (e.g. "SkylakeX", "Haswell", "Prescott").
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The core type to request for this CPU when OpenBLAS fell back to generic kernels, from the
    /// instruction-set flags in /proc/cpuinfo; nil when nothing better is known or needed.
    public static func recommendedCoreType(currentCore: String = coreName, cpuFlags: Set<String>? = nil) -> String? {
        guard currentCore == "Prescott" || currentCore == "Core2" || currentCore == "Nehalem" else { return nil }
        guard let flags = cpuFlags ?? readCPUFlags() else { return nil }
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// For executables (`stylus`, benchmarks), first thing in `main`: if OpenBLAS chose generic kernels
    /// on a CPU with AVX2/AVX-512 and OPENBLAS_CORETYPE is unset, set it and re-execute the same
    /// program with the same arguments (stdin/stdout stay connected). Returns if nothing needs doing
    /// or the re-exec fails. Never call this from a library or a server that already did work.
    public static func reexecWithFastKernelsIfNeeded() {
        #if os(Linux)
        guard getenv("OPENBLAS_CORETYPE") == nil, getenv("STYLUS_NO_BLAS_REEXEC") == nil,
              let core = recommendedCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv only returns on failure: carry on with the slow kernels.
        unsetenv("OPENBLAS_CORETYPE")
        #endif
    }

    /// For executables, first thing in `main`: stops the threads OpenBLAS's pthread build started
    /// when it loaded (one per core). Stylus runs OpenBLAS single-threaded (`Kernels.gemm` spreads
    /// work over its own pool), but each of those threads first spins in `sched_yield` for about
    /// 0.1 s of CPU before it sleeps: on a 2-core machine that took one core from a cold
    /// `stylus compose` for most of its life (0.18 s wall, 0.14 s without). Builds of OpenBLAS
    /// without that entry point (OpenMP, serial) are left alone.
    public static func stopIdleThreads() {
        openblas_set_num_threads(1)
        #if os(Linux)
        typealias Shutdown = @convention(c) () -> Int32
        if let entry = dlsym(nil, "blas_thread_shutdown_") { _ = unsafeBitCast(entry, to: Shutdown.self)() }
        #endif
    }

    static func readCPUFlags() -> Set<String>? {
        guard let file = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!)
            if text.hasPrefix("flags") {
                let parts = text.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { return nil }
                return Set(parts[1].split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init))
            }
        }
        return nil
    }
}
