import Foundation

/// The images of one job shared by render servers (docs/ARCHITECTURE.md, "A render"): one worker
/// thread per server takes the next image, so each server renders one image at a time, its own
/// queue never holding more than that. A server whose image fails is taken out of the rotation for
/// the job and the image goes back to the front of the queue for the others; nothing is lost
/// unless every server failed. Images are written in their order (image i waits for images before
/// it), so the file names are those a single server gives. Events from the workers are delivered
/// one at a time, with the server named when there are several, and the job's fraction never
/// goes back.
package final class ServerPool: @unchecked Sendable {
    package struct Produced {
        package var png: [UInt8]
        package var image: RenderedImage

        package init(png: [UInt8], image: RenderedImage) {
            self.png = png
            self.image = image
        }
    }

    package typealias Progress = (RenderStage, Int, Int) -> Void

    private let count: Int
    private let servers: [RemoteServer]
    private let cancellation: RenderCancellation
    private let events: (RenderEvent) -> Void
    private let cond = NSCondition()
    private var pending: [Int]
    private var inFlight = 0
    private var produced: [Int: Produced] = [:]
    private var written: [RenderedImage] = []
    private var failures: [(server: RemoteServer, error: Error)] = []
    private var fatal: Error?
    private var notes: [String] = []
    private let writeLock = NSLock()
    private let eventLock = NSLock()
    private var within: [Double]
    private var reported = 0.0

    package init(count: Int, servers: [RemoteServer], cancellation: RenderCancellation, events: @escaping (RenderEvent) -> Void) {
        self.count = count
        self.servers = servers
        self.cancellation = cancellation
        self.events = events
        pending = Array(0..<count)
        within = Array(repeating: 0, count: count)
    }

    /// Problems that did not stop the job (a server dropped, a default chosen), each once.
    package var warnings: [String] { cond.lock(); defer { cond.unlock() }; return notes }

    /// Runs `work` for every image on the servers and `write` for each result in image order;
    /// returns the written images. Throws the first cancellation or write error, else, when some
    /// image could not be rendered anywhere, the server's error (one server) or every server's.
    package func run(work: @escaping (RemoteServer, Int, @escaping Progress, (String) -> Void) throws -> Produced,
             write: @escaping (Produced) throws -> RenderedImage) throws -> [RenderedImage] {
        let group = DispatchGroup()
        let jobs = Jobs(work: work, write: write)
        for server in servers {
            group.enter()
            Thread.detachNewThread { [self] in
                worker(server, work: jobs.work, write: jobs.write)
                group.leave()
            }
        }
        group.wait()
        cond.lock(); defer { cond.unlock() }
        if let fatal { throw fatal }
        if written.count < count {
            if servers.count == 1, let only = failures.first { throw only.error }
            throw RenderError.serversFailed(failures.map { "\($0.server.label): \($0.error)" })
        }
        return written
    }

    /// The job's two closures, handed to the worker threads (each closure synchronises what it shares).
    private final class Jobs: @unchecked Sendable {
        let work: (RemoteServer, Int, @escaping Progress, (String) -> Void) throws -> Produced
        let write: (Produced) throws -> RenderedImage
        init(work: @escaping (RemoteServer, Int, @escaping Progress, (String) -> Void) throws -> Produced,
             write: @escaping (Produced) throws -> RenderedImage) {
            self.work = work
            self.write = write
        }
    }

    private func worker(_ server: RemoteServer, work: (RemoteServer, Int, @escaping Progress, (String) -> Void) throws -> Produced,
                        write: (Produced) throws -> RenderedImage) {
        while true {
            cond.lock()
            // A busy peer may fail and hand its image back: wait while any image is out.
            while pending.isEmpty && inFlight > 0 && fatal == nil { cond.wait() }
            guard fatal == nil, !pending.isEmpty else { cond.unlock(); return }
            let index = pending.removeFirst()
            inFlight += 1
            cond.unlock()
            let progress: Progress = { [self] stage, step, steps in report(index, server: server, stage: stage, step: step, steps: steps) }
            do {
                let result = try work(server, index, progress) { [self] note in warn(note) }
                cond.lock()
                produced[index] = result
                inFlight -= 1
                cond.broadcast()
                cond.unlock()
                flush(server: server, write: write)
            } catch {
                cond.lock()
                inFlight -= 1
                if error is RenderCancelled || cancellation.isCancelled {
                    if fatal == nil { fatal = RenderCancelled() }
                } else {
                    failures.append((server, error))
                    pending.insert(index, at: 0)
                    if servers.count > 1 {
                        let note = "render server \(server.label) failed and was left out of this job (\(error)); its image went to another server"
                        if !notes.contains(note) { notes.append(note) }
                    }
                }
                cond.broadcast()
                cond.unlock()
                return  // this server is out of the rotation
            }
        }
    }

    /// Writes the results that are next in order; one writer at a time.
    private func flush(server: RemoteServer, write: (Produced) throws -> RenderedImage) {
        writeLock.lock(); defer { writeLock.unlock() }
        while true {
            cond.lock()
            let index = written.count
            guard fatal == nil, let next = produced.removeValue(forKey: index) else { cond.unlock(); return }
            cond.unlock()
            report(index, server: server, stage: .write, step: 0, steps: 0)
            do {
                let image = try write(next)
                cond.lock(); written.append(image); cond.unlock()
            } catch {
                cond.lock()
                if fatal == nil { fatal = error }
                cond.broadcast()
                cond.unlock()
                return
            }
        }
    }

    private func warn(_ note: String) {
        cond.lock(); defer { cond.unlock() }
        if !notes.contains(note) { notes.append(note) }
    }

    private func report(_ index: Int, server: RemoteServer, stage: RenderStage, step: Int, steps: Int) {
        eventLock.lock(); defer { eventLock.unlock() }
        var part = stage == .write ? 0.98 : 0.05
        if stage == .remote, steps > 0 { part += 0.9 * Double(step) / Double(steps) }
        within[index] = max(within[index], part)
        reported = max(reported, within.reduce(0, +) / Double(count))
        events(RenderEvent(stage: stage, step: step, steps: steps, variation: index + 1, variations: count, fraction: reported,
                           server: servers.count > 1 ? server.label : nil))
    }
}

extension RenderedImage {
    /// An image not written yet (tests of the pool).
    package init(prompt: String, seed: UInt64) {
        self.init(path: "", parameters: "", prompt: prompt, seed: seed, adapters: [], timings: [:], checkpointWasWarm: false)
    }
}
