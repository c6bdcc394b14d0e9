import Foundation
import GRDB
import StylusCore
import StylusML
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Building, writing and opening-or-rebuilding the retrieval index (`RetrievalIndex`).

extension RetrievalIndex {
    /// The index's sections and header fields, built from one snapshot of the catalog.
    struct Contents {
        var sections: [Data]
        var documentCount: Int
        var vectorCount: Int
        var catalogID: String
        var generation: UInt64
        var kind = IndexSegment.Kind.base
        /// For a delta: the generation and payload checksum of the base it extends.
        var baseGeneration: UInt64 = 0
        var baseChecksum: UInt64 = 0

        /// Sections padded to the alignment, the section table, and the header with its checksums.
        func layout() -> (header: Data, table: Data, sections: [Data]) {
            let a = RetrievalIndex.alignment
            func padded(_ d: Data) -> Data {
                var d = d
                let pad = (a - d.count % a) % a
                if pad > 0 { d.append(Data(count: pad)) }
                return d
            }
            var table = Data()
            let tableSize = (16 * sections.count + a - 1) / a * a
            var offset = RetrievalIndex.headerSize + tableSize
            var out: [Data] = []
            for s in sections {
                withUnsafeBytes(of: UInt64(offset).littleEndian) { table.append(contentsOf: $0) }
                withUnsafeBytes(of: UInt64(s.count).littleEndian) { table.append(contentsOf: $0) }
                let p = padded(s)
                offset += p.count
                out.append(p)
            }
            table = padded(table)
            var checksum = Checksum()
            table.withUnsafeBytes { checksum.update($0) }
            for (i, s) in out.enumerated() where i != Section.matrix.rawValue { s.withUnsafeBytes { checksum.update($0) } }
            var w = IndexWriter()
            w.bytes.append(contentsOf: RetrievalIndex.magic)
            w.u32(RetrievalIndex.formatVersion)
            w.u32(UInt32(RetrievalIndex.headerSize))
            w.u64(generation)
            var id = Array(catalogID.utf8.prefix(32))
            id += [UInt8](repeating: 0, count: 32 - id.count)
            w.bytes.append(contentsOf: id)
            w.u64(UInt64(offset))  // file length
            w.u32(UInt32(sections.count))
            w.u32(UInt32(MiniLMEncoder.dimension))
            w.u64(UInt64(documentCount))
            w.u64(UInt64(vectorCount))
            w.u64(checksum.value())
            w.u32(kind.rawValue)
            w.u32(0)
            w.u64(baseGeneration)
            w.u64(baseChecksum)
            let headerChecksum = w.bytes.withUnsafeBytes { Checksum.of($0) }
            w.u64(headerChecksum)
            return (Data(w.bytes), table, out)
        }

        /// The whole index in one buffer.
        func bytes() -> Data {
            let (header, table, sections) = layout()
            var d = header
            d.append(table)
            sections.forEach { d.append($0) }
            return d
        }
    }

    /// Builds the contents from summaries (in document order) and stored vectors (in catalog row
    /// order, as `CatalogStore.embeddings`; vectors of unknown adapters or the wrong size are left out).
    static func contents(summaries: [AdapterSummary], vectors: [(adapterID: String, vector: [Float])],
                         catalogID: String, generation: UInt64) -> Contents {
        let n = summaries.count, d = MiniLMEncoder.dimension
        func data<T>(_ a: [T]) -> Data { a.withUnsafeBytes { Data($0) } }
        var bases: [String] = []
        var baseIDs: [String: Int32] = [:]
        let baseOfDoc: [Int32] = summaries.map { s in
            guard let name = s.baseModel?.name else { return -1 }
            if let id = baseIDs[name] { return id }
            bases.append(name)
            baseIDs[name] = Int32(bases.count - 1)
            return Int32(bases.count - 1)
        }
        var names = IndexWriter()
        names.strings(bases)
        var idOffsets: [UInt32] = [0], idBytes: [UInt8] = []
        var summaryOffsets: [UInt64] = [0]
        var summaryBytes = IndexWriter()
        var docOfID: [String: Int] = [:]
        docOfID.reserveCapacity(n)
        for (i, s) in summaries.enumerated() {
            idBytes.append(contentsOf: s.adapterId.utf8)
            idOffsets.append(UInt32(idBytes.count))
            summaryBytes.summary(s)
            summaryOffsets.append(UInt64(summaryBytes.bytes.count))
            if docOfID[s.adapterId] == nil { docOfID[s.adapterId] = i }
        }
        let bm25 = BM25Postings(entries: summaries.map(\.candidateEntry))

        var matrix: [Float] = []
        var matrixEntry: [Int32] = []
        matrix.reserveCapacity(vectors.count * d)
        for (id, v) in vectors where v.count == d {
            guard let i = docOfID[id] else { continue }
            matrix += v
            matrixEntry.append(Int32(i))
        }
        var quantized = Kernels.Int8Codes(dimension: d)
        quantized.reserveCapacity(matrixEntry.count)
        matrix.withUnsafeBufferPointer { m in
            for r in 0..<matrixEntry.count { quantized.append(UnsafeBufferPointer(rebasing: m[(r * d)..<((r + 1) * d)])) }
        }
        var rowOfDoc = [Int32](repeating: -1, count: n)
        for (r, e) in matrixEntry.enumerated() { rowOfDoc[Int(e)] = Int32(r) }

        var sections = [Data](repeating: Data(), count: Section.allCases.count)
        sections[Section.rowIDs.rawValue] = data(summaries.map(\.rowID))
        sections[Section.baseOfDoc.rawValue] = data(baseOfDoc)
        sections[Section.nsfw.rawValue] = data(summaries.map { $0.nsfw ? UInt8(1) : 0 })
        sections[Section.idOffsets.rawValue] = data(idOffsets)
        sections[Section.idBytes.rawValue] = Data(idBytes)
        sections[Section.summaryOffsets.rawValue] = data(summaryOffsets)
        sections[Section.summaryBytes.rawValue] = Data(summaryBytes.bytes)
        sections[Section.baseNames.rawValue] = Data(names.bytes)
        sections[Section.termOffsets.rawValue] = data(bm25.termOffsets)
        sections[Section.termBytes.rawValue] = Data(bm25.termBytes)
        sections[Section.postingStarts.rawValue] = data(bm25.starts)
        sections[Section.postings.rawValue] = data(bm25.postings)
        sections[Section.documentLengths.rawValue] = data(bm25.documentLengths)
        sections[Section.rowOfDoc.rawValue] = data(rowOfDoc)
        sections[Section.matrixEntry.rawValue] = data(matrixEntry)
        sections[Section.scales.rawValue] = data(quantized.scales)
        sections[Section.codes.rawValue] = data(quantized.codes)
        sections[Section.matrix.rawValue] = data(matrix)
        sections[Section.rowChecksums.rawValue] = matrix.withUnsafeBytes { m in
            data((0..<matrixEntry.count).map { r in Checksum.of(UnsafeRawBufferPointer(rebasing: m[(4 * r * d)..<(4 * (r + 1) * d)])) })
        }
        return Contents(sections: sections, documentCount: n, vectorCount: matrixEntry.count, catalogID: catalogID, generation: generation)
    }

    /// An index held in memory (not written anywhere).
    static func inMemory(_ contents: Contents) -> RetrievalIndex {
        RetrievalIndex(base: IndexSegment.inMemory(contents), delta: nil)
    }

    /// An in-memory index over cards (tests, and sources built from cards rather than a catalog).
    static func inMemory(entries: [(AdapterCard, AdapterRefinement)]) -> RetrievalIndex {
        let summaries = entries.enumerated().map { i, e in AdapterSummary(card: e.0, refinement: e.1, rowID: Int64(i + 1)) }
        return inMemory(contents(summaries: summaries, vectors: [], catalogID: "", generation: 0))
    }

    /// The index a full rebuild would give, built in memory (tests compare a base and its delta with it).
    package static func rebuiltInMemory(store: CatalogStore) throws -> RetrievalIndex { inMemory(try contents(of: store)) }

    /// Reads one snapshot of the catalog: its summaries, stored vectors, id and generation.
    static func contents(of store: CatalogStore) throws -> Contents {
        let (summaries, vectors, state) = try store.snapshot { db in
            (try store.summaries(db), try store.embeddings(model: MiniLMEncoder.modelID, db), try store.indexState(db))
        }
        return contents(summaries: summaries, vectors: vectors, catalogID: state.catalogID, generation: state.generation)
    }

    /// Writes the index to `path` crash-safely: a temporary file in the same folder, fsynced, then
    /// renamed over `path` (and the folder fsynced), so readers see the old file or the new one.
    static func write(_ contents: Contents, to path: String) throws {
        let (header, table, sections) = contents.layout()
        let dir = (path as NSString).deletingLastPathComponent
        let temp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = posixOpen(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Problem(description: "cannot be written (\(temp): \(String(cString: strerror(errno))))") }
        var ok = false
        defer {
            if !ok { close(fd); unlink(temp) }
        }
        func put(_ d: Data) throws {
            try d.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = posixWrite(fd, raw.baseAddress! + done, raw.count - done)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw Problem(description: "cannot be written (\(temp): \(String(cString: strerror(errno))))") }
                    done += n
                }
            }
        }
        try put(header)
        try put(table)
        for s in sections { try put(s) }
        guard fsync(fd) == 0 else { throw Problem(description: "cannot be written (fsync \(temp): \(String(cString: strerror(errno))))") }
        close(fd)
        ok = true
        guard rename(temp, path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(temp)
            throw Problem(description: "cannot be written (rename \(temp): \(why))")
        }
        let dfd = posixOpen(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// The catalog's index: its files when they match the catalog; else brought up to date from
    /// the catalog and written beside it (in memory when the folder is not writable): the delta
    /// rewritten when the base is sound and the catalog's change log reaches back to it and the
    /// changes are few (`deltaContents`), else the base rebuilt and the delta dropped. `note` gets
    /// one line when the files were stale, damaged or foreign, or could not be written.
    public static func open(store: CatalogStore, note: (String) -> Void = RetrievalIndex.stderrNote) throws -> RetrievalIndex {
        let path = Self.path(forCatalog: store.path)
        let state = try store.indexState()
        let problem: Problem
        var sound: IndexSegment?  // a base of this catalog that a new delta can extend
        do {
            let (index, deltaProblem) = try mapFiles(path: path, catalogID: state.catalogID)
            if index.generation == state.generation { return index }
            sound = index.base
            problem = deltaProblem ?? Problem(description: "is stale (generation \(index.generation), catalog at \(state.generation))")
        } catch let p as Problem {
            problem = p
        }
        let start = DispatchTime.now().uptimeNanoseconds
        func seconds() -> String { String(format: "%.1f", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        if let base = sound, let update = try deltaContents(extending: base, store: store) {
            let index = writeDelta(update.contents, over: base, path: path, note: note)
            let changed = update.documentCount + update.tombstones
            let time = String(format: "%.3f", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            note("stylus: retrieval index \(path) \(problem.description); rebuilding its delta (\(changed) adapters changed, \(time) s)")
            return index
        }
        let contents = try Self.contents(of: store)
        let missing = IndexSegment.missing
        let what = problem.description == missing ? "building it" : "rebuilding it"
        do {
            try write(contents, to: path)
            // The delta extended the old base: no reader may combine it with the new one (it
            // would not anyway: a delta names its base).
            unlink(deltaPath(forIndex: path))
            let index = try map(path: path, catalogID: contents.catalogID, generation: contents.generation)
            // A first build is expected (a new catalog, or one from before the index existed): no note.
            if problem.description != missing {
                note("stylus: retrieval index \(path) \(problem.description); \(what) (\(contents.documentCount) adapters, \(seconds()) s)")
            }
            return index
        } catch let p as Problem {
            note("stylus: retrieval index \(path) \(problem.description) and \(p.description); using an index in memory")
            return inMemory(contents)
        }
    }

    /// Writes a delta over `base` (already mapped and checked: it is not read again) and maps it;
    /// when the delta cannot be written (or another writer replaced it meanwhile), the delta is
    /// used from memory.
    private static func writeDelta(_ contents: Contents, over base: IndexSegment, path: String,
                                   note: (String) -> Void) -> RetrievalIndex {
        let deltaPath = Self.deltaPath(forIndex: path)
        do {
            try write(contents, to: deltaPath)
            let delta = try IndexSegment.map(path: deltaPath)
            guard delta.generation == contents.generation, delta.baseChecksum == base.payloadChecksum,
                  delta.baseGeneration == base.generation else {
                throw Problem(description: "was replaced by another writer")
            }
            return RetrievalIndex(base: base, delta: delta)
        } catch let p as Problem {
            note("stylus: retrieval index delta \(deltaPath) \(p.description); using a delta in memory")
            return RetrievalIndex(base: base, delta: IndexSegment.inMemory(contents))
        } catch {
            note("stylus: retrieval index delta \(deltaPath) could not be written (\(error)); using a delta in memory")
            return RetrievalIndex(base: base, delta: IndexSegment.inMemory(contents))
        }
    }

    /// Brings the index files up to date unless they already match the catalog (after writes to
    /// the catalog), without a note: updating after a write is expected. Errors are returned as
    /// one line.
    @discardableResult
    public static func refresh(store: CatalogStore) -> String? {
        do {
            _ = try open(store: store, note: { _ in })
            return nil
        } catch {
            return "retrieval index for \(store.path) was not updated: \(error)"
        }
    }

    /// The delta is rewritten (not the base) while it holds at most this fraction of the base's
    /// documents: its build costs in proportion to its size, and every reader merges it.
    static let compactionFraction = 16

    /// The delta over `base` for the catalog as it is now: the adapters changed since the base's
    /// generation (from the catalog's change log) as documents, and tombstones for their base
    /// documents. Nil when a full rebuild is due instead: the log does not reach back to the base
    /// (a catalog from before the log, or restored from a copy), or too many adapters changed.
    static func deltaContents(extending base: IndexSegment, store: CatalogStore) throws
        -> (contents: Contents, documentCount: Int, tombstones: Int)? {
        try store.snapshot { db -> (contents: Contents, documentCount: Int, tombstones: Int)? in
            let state = try store.indexState(db)
            guard state.catalogID == base.catalogID, base.generation <= state.generation,
                  let logStart = try store.changeLogStart(db), logStart <= base.generation else { return nil }
            let changed = try store.adaptersChanged(after: base.generation, db)
            guard changed.count <= max(1, base.documentCount / compactionFraction) else { return nil }
            let summaries = try store.summaries(changedAfter: base.generation, db)
            let vectors = try store.embeddings(model: MiniLMEncoder.modelID, changedAfter: base.generation, db)
            let tombstones = changed.compactMap { base.document(adapterID: $0) }.sorted().map { Int32($0) }
            var contents = contents(summaries: summaries, vectors: vectors, catalogID: state.catalogID, generation: state.generation)
            contents.kind = .delta
            contents.baseGeneration = base.generation
            contents.baseChecksum = base.payloadChecksum
            contents.sections[Section.tombstones.rawValue] = tombstones.withUnsafeBytes { Data($0) }
            return (contents, summaries.count, tombstones.count)
        }
    }

    /// Writes a note on stderr (never stdout: the servers' stdout carries their protocol).
    public static let stderrNote: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
}

/// BM25 postings in the index's layout: distinct terms sorted by UTF-8 bytes with their postings
/// (document, term count) in document order, and each document's length. The weights are computed
/// from these per query (`weight`), so a delta's documents and the base's are weighted with the
/// statistics of both together.
struct BM25Postings {
    var termOffsets: [UInt32] = [0]
    var termBytes: [UInt8] = []
    var starts: [UInt32] = [0]
    /// doc, term count, doc, term count, …
    var postings: [Int32] = []
    var documentLengths: [UInt32] = []

    static let k1 = 1.2, b = 0.75

    /// A term's inverse document frequency among `documents`.
    static func idf(documents n: Double, frequency df: Double) -> Double { log(1 + (n - df + 0.5) / (df + 0.5)) }

    /// A term's weight in a document: idf × saturated term count (in Double, used as Float).
    @inline(__always)
    static func weight(idf: Double, termCount tf: Double, length: Double, averageLength: Double) -> Double {
        idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / averageLength))
    }

    init(entries: [(AdapterCard, AdapterRefinement)]) {
        var lists: [String: [Int32]] = [:]
        documentLengths.reserveCapacity(entries.count)
        for (i, (card, refinement)) in entries.enumerated() {
            var terms: [String: Int] = [:]
            // Names count more than the description.
            let named = [card.title, card.alias.replacingOccurrences(of: "_", with: " ")] + card.tags + card.triggerWords
            for w in named.flatMap({ BM25Index.tokens($0) }) { terms[w, default: 0] += 3 }
            for w in BM25Index.tokens(refinement.refinedDescription) { terms[w, default: 0] += 1 }
            documentLengths.append(UInt32(clamping: terms.values.reduce(0, +)))
            for (t, count) in terms { lists[t, default: []].append(contentsOf: [Int32(i), Int32(bitPattern: UInt32(clamping: count))]) }
        }
        for term in lists.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            termBytes.append(contentsOf: term.utf8)
            termOffsets.append(UInt32(termBytes.count))
            postings += lists[term]!
            starts.append(UInt32(postings.count / 2))
        }
    }
}

extension IndexSegment {
    /// A segment held in memory (not written anywhere).
    static func inMemory(_ contents: RetrievalIndex.Contents) -> IndexSegment {
        // Our own bytes: they always parse.
        try! IndexSegment(storage: Storage(copying: contents.bytes()), path: nil)
    }
}

extension AdapterSummary {
    /// A summary of a card not (yet) in a catalog.
    init(card: AdapterCard, refinement: AdapterRefinement, rowID: Int64) {
        self.init(rowID: rowID, adapterId: card.adapterId, alias: card.alias, title: card.title, baseModel: card.baseModel,
                  category: refinement.category, weight: refinement.weight, weightSource: refinement.weightSource,
                  triggerWords: refinement.triggerWords, cardTriggerWords: card.triggerWords, isCharacter: refinement.isCharacter,
                  tags: card.tags, refinedDescription: refinement.refinedDescription, nsfw: card.nsfw,
                  downloadCount: card.downloadCount ?? 0, downloadURL: card.downloadURL, source: "", sourceRef: nil,
                  filePath: card.file, fileStem: nil)
    }
}
