// StylusBench: timing driver for benchmarks/embed_bench.py (not shipped as part of `stylus`).
//
//   StylusBench embed FILE [--batch N] [--repeat R]   one text per line (\n escaped as \\n); prints JSON
//   StylusBench latency FILE [--repeat R]             each line embedded alone, R rounds; prints JSON
//   StylusBench vectors FILE                          the unit embedding of each line, as JSON
//
// The model comes from the data directory (STYLUS_HOME etc.). Output is one JSON object on stdout.

import Foundation
import StylusCore
import StylusML

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(2)
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

// Use OpenBLAS's AVX2/AVX-512 kernels on CPUs it does not recognise (see BLASRuntime).
BLASRuntime.reexecWithFastKernelsIfNeeded()
BLASRuntime.stopIdleThreads()

var arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 2 else { fail("usage: StylusBench embed|latency FILE [--batch N] [--repeat R]") }
let mode = arguments.removeFirst()
let file = arguments.removeFirst()
var batch = 32, rounds = 3
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    guard let value = arguments.first.flatMap(Int.init) else { fail("\(flag) needs a number") }
    arguments.removeFirst()
    switch flag {
    case "--batch": batch = value
    case "--repeat": rounds = value
    default: fail("unknown option \(flag)")
    }
}
guard let content = try? String(contentsOfFile: file, encoding: .utf8) else { fail("\(file): cannot read") }
let texts = content.split(separator: "\n", omittingEmptySubsequences: false).dropLast(content.hasSuffix("\n") ? 1 : 0)
    .map { $0.replacingOccurrences(of: "\\n", with: "\n") }

let loadStart = now()
let encoder: MiniLMEncoder
do {
    encoder = try MiniLMEncoder(paths: DataPaths(environment: ProcessInfo.processInfo.environment))
} catch {
    fail("\(error)")
}
let loadSeconds = now() - loadStart
let tokens = texts.map { encoder.tokenizer.encode($0).count }

var result: [String: Any] = [
    "texts": texts.count, "tokens": tokens.reduce(0, +), "max_tokens": tokens.max() ?? 0,
    "load_ms": loadSeconds * 1000, "blas_threads": Kernels.blasThreads, "blas_core": BLASRuntime.coreName,
]
switch mode {
case "embed":
    _ = encoder.embed(Array(texts.prefix(batch)), batchSize: batch)  // warm-up
    var seconds: [Double] = []
    var checksum: Float = 0
    for _ in 0..<rounds {
        let start = now()
        let vectors = encoder.embed(texts, batchSize: batch)
        seconds.append(now() - start)
        checksum = vectors.reduce(0) { $0 + $1[0] }
    }
    let median = percentile(seconds, 0.5)
    result["batch"] = batch
    result["seconds"] = seconds
    result["median_seconds"] = median
    result["texts_per_second"] = Double(texts.count) / median
    result["checksum"] = checksum
case "latency":
    for text in texts.prefix(5) { _ = encoder.embed(text) }  // warm-up
    var ms: [Double] = []
    for _ in 0..<rounds {
        for text in texts {
            let start = now()
            _ = encoder.embed(text)
            ms.append((now() - start) * 1000)
        }
    }
    result["samples"] = ms.count
    result["median_ms"] = percentile(ms, 0.5)
    result["p95_ms"] = percentile(ms, 0.95)
    result["max_ms"] = ms.max() ?? 0
case "vectors":  // the embeddings themselves, for prototyping features in Python
    result["vectors"] = encoder.embed(texts, batchSize: batch).map { $0.map(Double.init) }
case "kernels":
    for (name, ns) in kernelTimings(rounds: rounds) { result[name] = ns }
default:
    fail("unknown mode \(mode); use embed, latency, vectors or kernels")
}
let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))

/// ns per element of the elementwise kernels, on a 64 × 1536 block.
func kernelTimings(rounds: Int) -> [(String, Double)] {
    let source = (0..<(64 * 1536)).map { Float($0 % 977) / 100 - 4.8 }
    var block = source
    let ones = [Float](repeating: 1, count: 384)
    func time(_ body: (UnsafeMutablePointer<Float>) -> Void) -> Double {
        let start = now()
        // Fresh input every round (repeated GELU would drift into denormals).
        for _ in 0..<rounds { block = source; block.withUnsafeMutableBufferPointer { body($0.baseAddress!) } }
        return (now() - start) / Double(rounds * block.count) * 1e9
    }
    return [
        ("gelu_ns", time { Kernels.gelu($0, count: 64 * 1536) }),
        ("softmax_ns", time { Kernels.softmax($0, rows: 64 * 16, columns: 96) }),
        ("layernorm_ns", time { p in
            ones.withUnsafeBufferPointer { g in
                Kernels.layerNorm(p, rows: 256, columns: 384, gamma: g.baseAddress!, beta: g.baseAddress!, epsilon: 1e-12)
            }
        }),
    ]
}
