import Foundation
import StylusRender
import XCTest

/// The pool that shares a job's images between render servers, with work that stands in for the
/// servers (the real protocols run against scripted servers in Tests/e2e).
final class ServerPoolTests: XCTestCase {
    let a = RemoteServer(.comfyui, URL(string: "http://a:1")!)
    let b = RemoteServer(.a1111, URL(string: "http://b:2")!)

    struct Down: Error, CustomStringConvertible { var description: String { "connection refused" } }

    final class Log: @unchecked Sendable {
        let lock = NSLock()
        var entries: [String] = []
        var busy: [String: Int] = [:]
        var mostAtOnce: [String: Int] = [:]
        func add(_ s: String) { lock.lock(); entries.append(s); lock.unlock() }
        func begin(_ server: String) { lock.lock(); busy[server, default: 0] += 1; mostAtOnce[server] = max(mostAtOnce[server] ?? 0, busy[server]!); lock.unlock() }
        func end(_ server: String) { lock.lock(); busy[server, default: 0] -= 1; lock.unlock() }
    }

    func produced(_ i: Int) -> ServerPool.Produced {
        ServerPool.Produced(png: [UInt8(i)], image: RenderedImage(prompt: "image \(i)", seed: UInt64(i)))
    }

    /// Server a is slow, b fast and fails on its third image: every image is written, in order,
    /// b's failed image again on a, each server one image at a time, progress monotone and named.
    func testImagesAreWrittenInOrderAndAFailedImageGoesElsewhere() throws {
        let log = Log()
        var fractions: [Double] = []
        var servers = Set<String>()
        let pool = ServerPool(count: 6, servers: [a, b], cancellation: RenderCancellation()) { e in
            fractions.append(e.fraction)
            if let s = e.server { servers.insert(s) }
        }
        let bCalls = Log()
        let images = try pool.run(work: { server, index, progress, _ in
            log.begin(server.label)
            defer { log.end(server.label) }
            progress(.remote, 1, 2)
            if server == self.b {
                bCalls.add("\(index)")
                if bCalls.entries.count == 3 { throw Down() }
                usleep(10_000)
            } else {
                usleep(80_000)
            }
            log.add("\(server.label):\(index)")
            return self.produced(index)
        }, write: { p in
            var image = p.image
            image.path = "file-\(p.png[0])"
            return image
        })
        XCTAssertEqual(images.map(\.path), (0..<6).map { "file-\($0)" })
        XCTAssertEqual(images.map(\.seed), (0..<6).map(UInt64.init))
        XCTAssertEqual(log.entries.count, 6, "each image rendered once: \(log.entries)")
        XCTAssertEqual(log.mostAtOnce, ["a:1": 1, "b:2": 1])
        XCTAssertEqual(fractions, fractions.sorted())
        XCTAssertEqual(fractions.last ?? 0, 1, accuracy: 0.03)
        XCTAssertEqual(servers, ["a:1", "b:2"])
        XCTAssertEqual(pool.warnings.count, 1)
        XCTAssertTrue(pool.warnings[0].contains("render server b:2 failed and was left out of this job (connection refused)"), pool.warnings[0])
    }

    func testEveryServerFailingIsOneErrorNamingEach() {
        let pool = ServerPool(count: 2, servers: [a, b], cancellation: RenderCancellation()) { _ in }
        XCTAssertThrowsError(try pool.run(work: { _, _, _, _ in throw Down() }, write: { $0.image })) { e in
            guard case .serversFailed(let lines)? = e as? RenderError else { return XCTFail("\(e)") }
            XCTAssertEqual(lines.sorted(), ["a:1: connection refused", "b:2: connection refused"])  // in the order they failed
            XCTAssertTrue("\(e)".hasPrefix("every render server failed"), "\(e)")
        }
    }

    func testOneServersErrorIsThrownAsItIs() {
        let pool = ServerPool(count: 1, servers: [a], cancellation: RenderCancellation()) { _ in }
        XCTAssertThrowsError(try pool.run(work: { _, _, _, _ in throw Down() }, write: { $0.image })) { e in
            XCTAssertTrue(e is Down, "\(e)")
        }
    }

    func testCancellationStopsEveryServerAndWritesNothingMore() {
        let cancel = RenderCancellation()
        let written = Log()
        let pool = ServerPool(count: 8, servers: [a, b], cancellation: cancel) { _ in }
        XCTAssertThrowsError(try pool.run(work: { _, index, _, _ in
            if index == 2 { cancel.cancel() }
            if cancel.isCancelled { throw RenderCancelled() }
            return self.produced(index)
        }, write: { p in written.add("\(p.png[0])"); return p.image })) { e in
            XCTAssertTrue(e is RenderCancelled, "\(e)")
        }
        XCTAssertLessThanOrEqual(written.entries.count, 2)
    }
}
