import Foundation
import StylusCore
import StylusML
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The retrieval index: everything retrieval and the composer read about every adapter, in flat
/// files beside the catalog that a process maps and answers from at once, instead of reading
/// 75,000 rows from SQLite and rebuilding BM25 and the int8 codes.
///
/// Two files, log-structured: the base (`<catalog>.index`), built from the whole catalog, and a
/// small delta (`<catalog>.index.delta`) with the adapters added or changed since the base was
/// built and tombstones for the base's documents removed or changed since. A write to the catalog
/// rewrites only the delta (from the catalog's change log, `index_changes`); when the delta grows
/// past a sixteenth of the base, the base is rebuilt and the delta dropped (compaction). This
/// type is the merged view: documents numbered in adapter-id order over both files, exactly as a
/// base built from the whole catalog would number them, so rankings and ties do not depend on
/// where a document lives.
///
/// Contents of each file, per adapter ("document", ordered by adapter id as `summaries()`):
/// catalog row, adapter id, base model, NSFW flag and an encoded `AdapterSummary` (decoded on
/// demand); the BM25 postings with each document's raw term count and length (terms sorted by
/// UTF-8 bytes, binary-searched); the stored MiniLM vectors as fp32 (rescoring, composer features)
/// with a checksum per row, and as int8 codes with scales (the scan). BM25 weights depend on the
/// document count, the average length and each term's document frequency over base and delta
/// together, so they are computed per query from the counts (`BM25Postings.weight`), with the same
/// arithmetic a full build used.
///
/// File layout (little-endian): a 128-byte header (magic `STYLUSIX`, format version, generation,
/// catalog id, file length, counts, payload checksum, kind (base or delta), for a delta the
/// generation and payload checksum of the base it extends, header checksum), the section table
/// (offset, length per `Section`), then the sections, each 64-byte aligned and zero-padded. The
/// payload checksum (`Checksum`) covers every byte after the header but the fp32 vectors, which are
/// 60 % of the file and only ever read a few hundred rows at a time: each row has its own checksum,
/// checked when the row is read. Opening a 300,000-adapter index thus reads 300 MB instead of 760.
///
/// Kept consistent with the catalog by its generation: SQLite triggers bump `catalog_state`'s
/// generation on every change to an indexed field, in the writer's transaction, and log the
/// changed adapter id with it. Files whose catalog id, generation, version, length, checksums or
/// base binding do not match are never used: the delta is rebuilt, or the base (`open(store:)`),
/// with one line saying why. Writers write a temporary file, fsync it and rename it over the old
/// one, so a reader maps either the old file or the new one, never a mix; a delta names the base it
/// extends, so a reader never combines a base with another base's delta.
public final class RetrievalIndex: @unchecked Sendable {  // immutable after init
    static let magic = Array("STYLUSIX".utf8)
    /// Bumped whenever the layout or the meaning of a section changes (2: raw term counts and
    /// document lengths instead of weights; deltas. 3: per-row checksums of the fp32 vectors).
    public static let formatVersion: UInt32 = 3
    static let headerSize = 128
    static let alignment = 64

    enum Section: Int, CaseIterable {
        case rowIDs, baseOfDoc, nsfw, idOffsets, idBytes, summaryOffsets, summaryBytes, baseNames
        case termOffsets, termBytes, postingStarts, postings, documentLengths
        case rowOfDoc, matrixEntry, scales, codes, matrix
        /// Delta only: the base's documents it replaces or removes (sorted).
        case tombstones
        /// Per row of `matrix`: its checksum (the payload checksum leaves `matrix` out).
        case rowChecksums
    }

    /// Why an index file cannot be used.
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    public let generation: UInt64
    public let catalogID: String
    /// Decoded summaries of recently used documents. A prompt's per-topic candidate lists overlap
    /// (a long prompt's pool holds the same adapters many times over) and the next keystroke meets
    /// the same ones again; bounded.
    private let recentSummaries = BoundedMemo<Int, AdapterSummary>(capacity: 4096)
    /// Every vector row of a catalog small enough for `keptRows` rows (6 MB), kept once read: its
    /// dense search rescores most of them for every prompt. A larger catalog's rescoring reads
    /// thousands of rows per prompt, different ones each time, and keeping them costs more than it saves.
    private let keptRowVectors = BoundedMemo<Int, [Float]>(capacity: keptRows)
    static let keptRows = 4096
    /// Documents (adapters) in the index, base and delta together.
    public let documentCount: Int
    /// Documents with a vector.
    public let vectorCount: Int
    public let dimension: Int
    /// Where the base was mapped from (nil: built in memory).
    public let path: String?

    let base: IndexSegment
    let delta: IndexSegment?
    /// Documents in the delta and tombstones in it (0 without a delta).
    public var deltaDocumentCount: Int { delta?.documentCount ?? 0 }
    public var tombstoneCount: Int { delta?.tombstoneCount ?? 0 }

    /// Base models by id (`baseOfDoc`), and ids by name, over both files.
    let baseModels: [BaseModel?]
    let baseIDByName: [String: Int32]
    // Per document of the merged view: base model id and NSFW flag; per vector row (base rows,
    // then delta rows): its document, -1 for a row of a removed document.
    let baseOfDoc: UnsafePointer<Int32>
    let nsfwOfDoc: UnsafePointer<UInt8>
    let matrixEntry: UnsafePointer<Int32>
    /// Vector rows of both files, removed ones included (the row space of `matrixEntry`).
    let vectorRows: Int
    /// Sum of the BM25 lengths of every document (for the average length).
    let totalLength: UInt64
    /// `rows(ofBase:)`, computed on first use (a handful of base models per catalog).
    private let rowsByBase = BoundedMemo<Int32, BaseRows>(capacity: 64)

    /// The merged numbering, nil without a delta (then it is the base's): per view document its
    /// source (>= 0: base document; < 0: delta document ~x), per base document its view document
    /// (-1: removed), per delta document its view document.
    private let sourceOfDoc: [Int32]?
    private let docOfBase: [Int32]?
    private let docOfDelta: [Int32]?
    /// Buffers behind the merged per-document tables (freed with the view).
    private let owned: [UnsafeMutableRawPointer]

    /// The view of a base alone, or of a base and a delta that extends it (checked by the caller).
    init(base: IndexSegment, delta: IndexSegment?) {
        self.base = base
        self.delta = delta
        path = base.path
        catalogID = base.catalogID
        dimension = base.dimension
        guard let delta else {
            generation = base.generation
            documentCount = base.documentCount
            vectorCount = base.vectorCount
            vectorRows = base.vectorCount
            baseModels = base.baseModels
            baseIDByName = base.baseIDByName
            baseOfDoc = base.baseOfDoc
            nsfwOfDoc = base.nsfwOfDoc
            matrixEntry = base.matrixEntry
            totalLength = base.totalLength
            sourceOfDoc = nil; docOfBase = nil; docOfDelta = nil; owned = []
            return
        }
        generation = delta.generation
        // Base documents the delta removes.
        var docOfBase = [Int32](repeating: 0, count: base.documentCount)
        var removedLength: UInt64 = 0
        for t in 0..<delta.tombstoneCount {
            let d = Int(delta.tombstones[t])
            if docOfBase[d] == 0 { removedLength += UInt64(base.documentLengths[d]) }
            docOfBase[d] = -1
        }
        // Merge by adapter id: each delta document goes before the first base document whose id
        // is not smaller (ids are unique among live documents: a changed adapter's base document is
        // a tombstone).
        let nb = base.documentCount, nd = delta.documentCount
        var sourceOfDoc: [Int32] = []
        sourceOfDoc.reserveCapacity(nb + nd)
        var docOfDelta = [Int32](repeating: 0, count: nd)
        var i = 0
        for j in 0..<nd {
            let position = base.lowerBound(delta.adapterIDBytes(j))
            while i < position {
                if docOfBase[i] >= 0 { docOfBase[i] = Int32(sourceOfDoc.count); sourceOfDoc.append(Int32(i)) }
                i += 1
            }
            docOfDelta[j] = Int32(sourceOfDoc.count)
            sourceOfDoc.append(~Int32(j))
        }
        while i < nb {
            if docOfBase[i] >= 0 { docOfBase[i] = Int32(sourceOfDoc.count); sourceOfDoc.append(Int32(i)) }
            i += 1
        }
        let n = sourceOfDoc.count
        documentCount = n
        totalLength = base.totalLength - removedLength + delta.totalLength

        // One table of base model names; the delta's ids are translated into it.
        var baseModels = base.baseModels
        var baseIDByName = base.baseIDByName
        let deltaBaseIDs: [Int32] = delta.baseModels.map { model in
            let name = model?.name ?? ""
            if let id = baseIDByName[name] { return id }
            baseModels.append(model)
            baseIDByName[name] = Int32(baseModels.count - 1)
            return Int32(baseModels.count - 1)
        }
        self.baseModels = baseModels
        self.baseIDByName = baseIDByName

        let bases = UnsafeMutablePointer<Int32>.allocate(capacity: max(n, 1))
        let nsfw = UnsafeMutablePointer<UInt8>.allocate(capacity: max(n, 1))
        for (doc, source) in sourceOfDoc.enumerated() {
            if source >= 0 {
                bases[doc] = base.baseOfDoc[Int(source)]
                nsfw[doc] = base.nsfwOfDoc[Int(source)]
            } else {
                let b = delta.baseOfDoc[Int(~source)]
                bases[doc] = b < 0 ? -1 : deltaBaseIDs[Int(b)]
                nsfw[doc] = delta.nsfwOfDoc[Int(~source)]
            }
        }
        vectorRows = base.vectorCount + delta.vectorCount
        let entries = UnsafeMutablePointer<Int32>.allocate(capacity: max(vectorRows, 1))
        var live = 0
        for r in 0..<base.vectorCount {
            entries[r] = docOfBase[Int(base.matrixEntry[r])]
            if entries[r] >= 0 { live += 1 }
        }
        for r in 0..<delta.vectorCount { entries[base.vectorCount + r] = docOfDelta[Int(delta.matrixEntry[r])] }
        vectorCount = live + delta.vectorCount
        baseOfDoc = UnsafePointer(bases)
        nsfwOfDoc = UnsafePointer(nsfw)
        matrixEntry = UnsafePointer(entries)
        owned = [UnsafeMutableRawPointer(bases), UnsafeMutableRawPointer(nsfw), UnsafeMutableRawPointer(entries)]
        self.sourceOfDoc = sourceOfDoc
        self.docOfBase = docOfBase
        self.docOfDelta = docOfDelta
    }

    deinit { owned.forEach { $0.deallocate() } }

    /// The file of document `doc` and its number there.
    @inline(__always) private func locate(_ doc: Int) -> (IndexSegment, Int) {
        guard let sourceOfDoc, let delta else { return (base, doc) }
        let source = sourceOfDoc[doc]
        return source >= 0 ? (base, Int(source)) : (delta, Int(~source))
    }

    // MARK: - Opening

    /// The base index file of the catalog at `catalogPath`.
    public static func path(forCatalog catalogPath: String) -> String { catalogPath + ".index" }

    /// The delta file beside the base index file at `indexPath`.
    public static func deltaPath(forIndex indexPath: String) -> String { indexPath + ".delta" }

    /// Maps and checks the index files at `path` (and its delta, when there is one that extends this
    /// base) against the catalog's id and generation. Throws a `Problem` saying what is wrong
    /// (missing, empty, truncated, foreign, older version, another catalog's, stale, damaged).
    public static func map(path: String, catalogID: String, generation: UInt64) throws -> RetrievalIndex {
        let index = try mapFiles(path: path, catalogID: catalogID).index
        guard index.generation == generation else {
            throw Problem(description: "is stale (generation \(index.generation), catalog at \(generation))")
        }
        return index
    }

    /// Maps and checks the index files without matching them to a catalog (tests of concurrent readers).
    package static func mapAny(path: String) throws -> RetrievalIndex { try mapFiles(path: path, catalogID: nil).index }

    /// The base at `path` with its delta when one extends it; `deltaProblem` says why a delta file
    /// that exists was left out (damaged, truncated, of another base…).
    static func mapFiles(path: String, catalogID: String?) throws -> (index: RetrievalIndex, deltaProblem: Problem?) {
        let base = try IndexSegment.map(path: path)
        guard base.kind == .base else { throw Problem(description: "is damaged (a delta where the base should be)") }
        if let catalogID, base.catalogID != catalogID {
            throw Problem(description: "belongs to another catalog (id \(base.catalogID), catalog \(catalogID))")
        }
        let deltaPath = Self.deltaPath(forIndex: path)
        do {
            let delta = try IndexSegment.map(path: deltaPath)
            guard delta.kind == .delta else { throw Problem(description: "is damaged (not a delta)") }
            guard delta.catalogID == base.catalogID, delta.baseGeneration == base.generation,
                  delta.baseChecksum == base.payloadChecksum else {
                throw Problem(description: "extends another base index (generation \(delta.baseGeneration), base at \(base.generation))")
            }
            for t in 0..<delta.tombstoneCount where Int(delta.tombstones[t]) >= base.documentCount {
                throw Problem(description: "is damaged (tombstone \(t) out of range)")
            }
            return (RetrievalIndex(base: base, delta: delta), nil)
        } catch let problem as Problem {
            if problem.description == IndexSegment.missing { return (RetrievalIndex(base: base, delta: nil), nil) }
            return (RetrievalIndex(base: base, delta: nil), Problem(description: "delta \(deltaPath) \(problem.description)"))
        }
    }

    // MARK: - Reading

    /// The catalog row of document `doc`.
    public func rowID(_ doc: Int) -> Int64 { let (s, d) = locate(doc); return s.rowIDs[d] }

    /// The adapter id of document `doc`.
    public func adapterID(_ doc: Int) -> String { String(decoding: adapterIDBytes(doc), as: UTF8.self) }

    func adapterIDBytes(_ doc: Int) -> UnsafeRawBufferPointer { let (s, d) = locate(doc); return s.adapterIDBytes(d) }

    /// The document of an adapter id (documents are in the adapter ids' byte order), or nil.
    public func document(adapterID: String) -> Int? {
        var id = adapterID
        return id.withUTF8 { key in
            var lo = 0, hi = documentCount
            while lo < hi {
                let mid = (lo + hi) / 2
                let c = IndexSegment.compare(adapterIDBytes(mid), UnsafeRawBufferPointer(key))
                if c == 0 { return mid }
                if c < 0 { lo = mid + 1 } else { hi = mid }
            }
            return nil
        }
    }

    /// The documents of these adapter ids (ids not in the index are left out); nil for nil.
    public func documents(adapterIDs: Set<String>?) -> Set<Int>? {
        guard let adapterIDs else { return nil }
        // A file's documents are in adapter-id order (binary search); one built in memory from
        // cards keeps the cards' order, so it is scanned.
        guard path == nil else { return Set(adapterIDs.compactMap { document(adapterID: $0) }) }
        return Set((0..<documentCount).filter { adapterIDs.contains(adapterID($0)) })
    }

    public func baseModel(_ doc: Int) -> BaseModel? { baseOfDoc[doc] < 0 ? nil : baseModels[Int(baseOfDoc[doc])] }
    public func isNSFW(_ doc: Int) -> Bool { nsfwOfDoc[doc] != 0 }
    /// The id `baseOfDoc` uses for a base model (-2: no document has it).
    func baseID(_ base: BaseModel) -> Int32 { baseIDByName[base.name] ?? -2 }

    /// The summary of document `doc`, decoded from the index.
    public func summary(_ doc: Int) -> AdapterSummary {
        recentSummaries.value(doc) { doc in
            let (s, d) = locate(doc)
            return s.summary(d, baseModel: baseModel(doc))
        }
    }

    /// Every summary, in document order (decoded in place: all of them are read anyway).
    public func summaries() -> [AdapterSummary] {
        (0..<documentCount).map { doc in
            let (s, d) = locate(doc)
            return s.summary(d, baseModel: baseModel(doc), inPlace: true)
        }
    }

    /// The BM25 length averaged over all documents (at least 1), as a full build computed it.
    var averageLength: Double { max(1, Double(totalLength) / Double(max(1, documentCount))) }

    /// At least as many documents as hold `term` (entries of both files; the delta may have removed
    /// some of the base's), read from the postings' lengths without walking them.
    func documentsHoldingAtMost(term: String) -> Int {
        ((base.postings(term)?.count ?? 0) + (delta?.postings(term)?.count ?? 0)) / 2
    }

    /// Adds each document's BM25 weight for `term` to `scores` (indexed by document), appending
    /// the documents whose score was still 0 to `touched`. Weights are computed from the counts
    /// of both files (`BM25Postings.weight`), so they equal those of one index over the catalog.
    func addScores(term: String, to scores: UnsafeMutableBufferPointer<Float>, touched: inout [Int32]) {
        let inBase = base.postings(term), inDelta = delta?.postings(term)
        guard inBase != nil || inDelta != nil else { return }
        var frequency = (inDelta?.count ?? 0) / 2
        if let inBase {
            if let docOfBase {
                var k = 0
                while k + 1 < inBase.count {
                    let d = Int(inBase[k])
                    if d >= 0, d < docOfBase.count, docOfBase[d] >= 0 { frequency += 1 }
                    k += 2
                }
            } else {
                frequency += inBase.count / 2
            }
        }
        guard frequency > 0 else { return }
        let n = Double(max(1, documentCount))
        let idf = BM25Postings.idf(documents: n, frequency: Double(frequency))
        let averageLength = self.averageLength
        func add(_ list: UnsafeBufferPointer<Int32>, _ segment: IndexSegment, _ viewDoc: [Int32]?) {
            let count = segment.documentCount
            var k = 0
            while k + 1 < list.count {
                let local = Int(list[k]), termCount = Double(UInt32(bitPattern: list[k + 1]))
                k += 2
                guard local >= 0, local < count else { continue }  // never in an index this build wrote
                let doc = viewDoc.map { Int($0[local]) } ?? local
                guard doc >= 0 else { continue }  // removed by the delta
                let weight = Float(BM25Postings.weight(idf: idf, termCount: termCount,
                                                       length: Double(segment.documentLengths[local]), averageLength: averageLength))
                if scores[doc] == 0 { touched.append(Int32(doc)) }
                scores[doc] += weight
            }
        }
        if let inBase { add(inBase, base, docOfBase) }
        if let inDelta, let delta { add(inDelta, delta, docOfDelta) }
    }

    /// The vector of document `doc` (nil when it has none), read without mapping its pages in.
    package func vector(_ doc: Int) -> [Float]? {
        let (s, d) = locate(doc)
        let row = Int(s.rowOfDoc[d])
        return row < 0 ? nil : matrixRow(s === base ? row : base.vectorCount + row)
    }

    /// Row `row` of the fp32 vectors (base rows, then delta rows).
    func matrixRow(_ row: Int) -> [Float] {
        func read(_ row: Int) -> [Float] {
            if row < base.vectorCount { return base.matrixRow(row) }
            return delta!.matrixRow(row - base.vectorCount)  // rows past the base exist only with a delta
        }
        return vectorRows <= Self.keptRows ? keptRowVectors.value(row, read) : read(row)
    }

    /// The int8 codes and scales of each file, with the first row (of `matrixEntry`) they hold.
    var codeBlocks: [(firstRow: Int, rows: Int, codes: UnsafePointer<Int8>, scales: UnsafePointer<Float>)] {
        var blocks = [(0, base.vectorCount, base.codes, base.scales)]
        if let delta { blocks.append((base.vectorCount, delta.vectorCount, delta.codes, delta.scales)) }
        return blocks
    }

    /// The vector rows of one base model's documents, ascending: per code block (numbered within
    /// the block) and over all blocks (numbered as `matrixEntry`). Rows of removed documents are left out.
    final class BaseRows: Sendable {
        let perBlock: [[Int32]]
        let all: [Int32]
        init(perBlock: [[Int32]], all: [Int32]) { (self.perBlock, self.all) = (perBlock, all) }
    }

    /// `BaseRows` of the base model with id `base` (a query for one base model scans only these),
    /// found in one pass over the rows and kept for the view's life.
    func rows(ofBase base: Int32) -> BaseRows {
        rowsByBase.value(base) { base in
            var perBlock: [[Int32]] = []
            var all: [Int32] = []
            for block in codeBlocks {
                var local: [Int32] = []
                for r in 0..<block.rows {
                    let doc = matrixEntry[block.firstRow + r]
                    if doc >= 0, baseOfDoc[Int(doc)] == base { local.append(Int32(r)) }
                }
                all += local.map { $0 + Int32(block.firstRow) }
                perBlock.append(local)
            }
            return BaseRows(perBlock: perBlock, all: all)
        }
    }
}

/// One index file (or an in-memory index): a base, or a delta over a base. `RetrievalIndex` is the
/// view over a base and its delta.
final class IndexSegment: @unchecked Sendable {  // immutable after init
    enum Kind: UInt32 { case base = 0, delta = 1 }
    static let missing = "does not exist"

    let kind: Kind
    let generation: UInt64
    let catalogID: String
    let payloadChecksum: UInt64
    /// For a delta: the generation and payload checksum of the base it extends.
    let baseGeneration: UInt64
    let baseChecksum: UInt64
    let documentCount: Int
    let vectorCount: Int
    let dimension: Int
    let path: String?

    private let storage: Storage
    private let sections: [UnsafeRawBufferPointer]
    let baseModels: [BaseModel?]
    let baseIDByName: [String: Int32]

    // Typed views of the fixed-width sections.
    let rowIDs: UnsafePointer<Int64>
    let baseOfDoc: UnsafePointer<Int32>
    let nsfwOfDoc: UnsafePointer<UInt8>
    let idOffsets: UnsafePointer<UInt32>
    let summaryOffsets: UnsafePointer<UInt64>
    let termOffsets: UnsafePointer<UInt32>
    let termCount: Int
    let postingStarts: UnsafePointer<UInt32>
    let postingDocs: UnsafePointer<Int32>  // doc, term count, doc, term count, …
    let documentLengths: UnsafePointer<UInt32>
    let totalLength: UInt64
    let rowOfDoc: UnsafePointer<Int32>
    let matrixEntry: UnsafePointer<Int32>
    let scales: UnsafePointer<Float>
    let codes: UnsafePointer<Int8>
    let matrix: UnsafePointer<Float>
    let rowChecksums: UnsafePointer<UInt64>
    /// Set once a row failed its checksum (reported once; the file is then removed for a rebuild).
    private let damageLock = NSLock()
    private var damageReported = false
    let tombstones: UnsafePointer<Int32>
    let tombstoneCount: Int

    typealias Section = RetrievalIndex.Section
    typealias Problem = RetrievalIndex.Problem

    /// The memory behind an index: a read-only mapping of a file, or an allocation.
    final class Storage: @unchecked Sendable {
        let base: UnsafeRawPointer
        let count: Int
        private let mapped: Bool
        /// The mapped file, kept open to read scattered rows without faulting them in (`read`).
        private let fd: Int32
        init(mapping base: UnsafeMutableRawPointer, count: Int, fd: Int32) {
            self.base = UnsafeRawPointer(base)
            self.count = count
            self.fd = fd
            mapped = true
        }
        init(copying data: Data) {
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(data.count, 1), alignment: RetrievalIndex.alignment)
            data.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: data.count) } }
            base = UnsafeRawPointer(p)
            count = data.count
            mapped = false
            fd = -1
        }
        deinit {
            if mapped {
                munmap(UnsafeMutableRawPointer(mutating: base), count)
                close(fd)
            } else {
                UnsafeMutableRawPointer(mutating: base).deallocate()
            }
        }

        /// The mapped file's status (false for memory).
        func descriptorStat(_ info: inout stat) -> Bool { mapped && fstat(fd, &info) == 0 }

        /// Copies `length` bytes at `source` (inside this storage) to `destination`. For a mapped
        /// file this is a `pread`: some kernels map a whole large folio (up to megabytes) on every
        /// page fault, so reading a few hundred scattered 1.5 KB vectors through the mapping made
        /// nearly all of a 110 MB matrix resident; read from the file, they cost only their bytes.
        func read(_ source: UnsafeRawPointer, _ length: Int, into destination: UnsafeMutableRawPointer) {
            if mapped {
                var done = 0
                let offset = source - base
                while done < length {
                    let n = pread(fd, destination + done, length - done, off_t(offset + done))
                    if n <= 0 { break }
                    done += n
                }
                if done == length { return }
            }
            destination.copyMemory(from: source, byteCount: length)  // memory, or a failed read
        }
    }

    /// Maps and checks the index file at `path` (its own consistency; matching it to a catalog and
    /// a base is the caller's). Throws a `Problem` saying what is wrong.
    static func map(path: String) throws -> IndexSegment {
        let fd = posixOpen(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw Problem(description: errno == ENOENT ? missing : "cannot be opened (\(String(cString: strerror(errno))))")
        }
        var keepOpen = false  // the storage owns the descriptor once the file is mapped
        defer { if !keepOpen { close(fd) } }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Problem(description: "cannot be read (\(String(cString: strerror(errno))))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw Problem(description: "is not a regular file") }
        let size = Int(info.st_size)
        guard size > 0 else { throw Problem(description: "is empty") }
        guard size >= RetrievalIndex.headerSize else { throw Problem(description: "is truncated (\(size) bytes, shorter than its header)") }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw Problem(description: "cannot be mapped (\(String(cString: strerror(errno))))")
        }
        let storage = Storage(mapping: p, count: size, fd: fd)
        keepOpen = true
        return try IndexSegment(storage: storage, path: path)
    }

    /// Parses and checks an index held in `storage`.
    init(storage: Storage, path: String?) throws {
        let headerSize = RetrievalIndex.headerSize
        let base = storage.base, size = storage.count
        func u32(_ o: Int) -> UInt32 { base.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
        func u64(_ o: Int) -> UInt64 { base.loadUnaligned(fromByteOffset: o, as: UInt64.self) }
        guard size >= headerSize else { throw Problem(description: "is truncated (\(size) bytes, shorter than its header)") }
        guard Array(UnsafeRawBufferPointer(start: base, count: 8)) == RetrievalIndex.magic else {
            throw Problem(description: "is not a stylus retrieval index (no STYLUSIX header)")
        }
        let version = u32(8)
        guard version == RetrievalIndex.formatVersion else {
            throw Problem(description: "has format version \(version); this stylus reads version \(RetrievalIndex.formatVersion)")
        }
        guard u32(12) == UInt32(headerSize),
              Checksum.of(UnsafeRawBufferPointer(start: base, count: 120)) == u64(120) else {
            throw Problem(description: "is damaged (header checksum mismatch)")
        }
        let fileLength = u64(56)
        guard fileLength == UInt64(size) else {
            throw Problem(description: fileLength > UInt64(size) ? "is truncated (\(size) of \(fileLength) bytes)"
                                                                  : "is damaged (\(size) bytes, header says \(fileLength))")
        }
        guard let kind = Kind(rawValue: u32(96)) else { throw Problem(description: "is damaged (unknown kind \(u32(96)))") }
        let sectionCount = Int(u32(64))
        let d = Int(u32(68)), n = Int(u64(72)), r = Int(u64(80))
        guard sectionCount == Section.allCases.count, d == MiniLMEncoder.dimension, n < Int(Int32.max), r <= n else {
            throw Problem(description: "is damaged (bad counts in its header)")
        }
        var sections: [UnsafeRawBufferPointer] = []
        for s in 0..<sectionCount {
            let o = Int(u64(headerSize + 16 * s)), len = Int(u64(headerSize + 16 * s + 8))
            guard o % RetrievalIndex.alignment == 0, o >= headerSize, len >= 0, o <= size, len <= size - o else {
                throw Problem(description: "is damaged (section \(s) out of bounds)")
            }
            sections.append(UnsafeRawBufferPointer(start: base + o, count: len))
        }
        // The payload checksum: every byte after the header but the fp32 vectors' (padded) section,
        // read in pieces that are dropped from this process's memory again (the pages stay in the
        // page cache), so checking a large index does not raise the resident size by its size.
        let matrixStart = sections[Section.matrix.rawValue].baseAddress! - base
        let matrixEnd = min(size, (matrixStart + sections[Section.matrix.rawValue].count + RetrievalIndex.alignment - 1)
            / RetrievalIndex.alignment * RetrievalIndex.alignment)
        var checksum = Checksum()
        for (from, to) in [(headerSize, matrixStart), (matrixEnd, size)] {
            let piece = 4 << 20
            var offset = from
            while offset < to {
                let count = min(piece, to - offset)
                checksum.update(UnsafeRawBufferPointer(start: base + offset, count: count))
                if path != nil {
                    let pageStart = (offset + 4095) & ~4095, pageEnd = (offset + count) & ~4095
                    if pageEnd > pageStart { madvise(UnsafeMutableRawPointer(mutating: base + pageStart), pageEnd - pageStart, MADV_DONTNEED) }
                }
                offset += count
            }
        }
        guard checksum.value() == u64(88) else { throw Problem(description: "is damaged (checksum mismatch)") }

        func section<T>(_ s: Section, _ bytes: Int, _ type: T.Type) throws -> UnsafePointer<T> {
            guard sections[s.rawValue].count >= bytes else { throw Problem(description: "is damaged (section \(s) too short)") }
            return (sections[s.rawValue].baseAddress ?? base).assumingMemoryBound(to: T.self)
        }
        let termCount = max(0, sections[Section.termOffsets.rawValue].count / 4 - 1)
        var names = IndexReader(sections[Section.baseNames.rawValue])
        let baseCount = Int(names.u32())
        var baseModels: [BaseModel?] = []
        var baseIDByName: [String: Int32] = [:]
        for i in 0..<min(baseCount, 1 << 16) {
            let name = names.string()
            baseModels.append(BaseModel(name))
            baseIDByName[name] = Int32(i)
        }
        guard names.ok, baseModels.count == baseCount else { throw Problem(description: "is damaged (base model names)") }

        self.storage = storage
        self.path = path
        self.kind = kind
        self.generation = u64(16)
        self.catalogID = String(decoding: UnsafeRawBufferPointer(start: base + 24, count: 32).prefix { $0 != 0 }, as: UTF8.self)
        self.payloadChecksum = u64(88)
        self.baseGeneration = u64(104)
        self.baseChecksum = u64(112)
        self.dimension = d
        self.documentCount = n
        self.vectorCount = r
        self.sections = sections
        self.baseModels = baseModels
        self.baseIDByName = baseIDByName
        self.termCount = termCount
        rowIDs = try section(.rowIDs, 8 * n, Int64.self)
        baseOfDoc = try section(.baseOfDoc, 4 * n, Int32.self)
        nsfwOfDoc = try section(.nsfw, n, UInt8.self)
        idOffsets = try section(.idOffsets, 4 * (n + 1), UInt32.self)
        summaryOffsets = try section(.summaryOffsets, 8 * (n + 1), UInt64.self)
        termOffsets = try section(.termOffsets, 4, UInt32.self)
        postingStarts = try section(.postingStarts, 4 * (termCount + 1), UInt32.self)
        postingDocs = try section(.postings, 0, Int32.self)
        documentLengths = try section(.documentLengths, 4 * n, UInt32.self)
        rowOfDoc = try section(.rowOfDoc, 4 * n, Int32.self)
        matrixEntry = try section(.matrixEntry, 4 * r, Int32.self)
        scales = try section(.scales, 4 * r, Float.self)
        codes = try section(.codes, r * d, Int8.self)
        matrix = try section(.matrix, 4 * r * d, Float.self)
        rowChecksums = try section(.rowChecksums, 8 * r, UInt64.self)
        tombstoneCount = sections[Section.tombstones.rawValue].count / 4
        tombstones = try section(.tombstones, 0, Int32.self)
        var total: UInt64 = 0
        for i in 0..<n { total += UInt64(documentLengths[i]) }
        totalLength = total

        // Offsets into the variable-length sections must stay inside them, and documents and
        // vectors refer to each other within range (checked once here, so lookups need not).
        func monotone<T: BinaryInteger>(_ p: UnsafePointer<T>, _ count: Int, _ limit: Int) -> Bool {
            var last: T = 0
            for i in 0..<count { if p[i] < last || Int(p[i]) > limit { return false }; last = p[i] }
            return true
        }
        guard monotone(idOffsets, n + 1, sections[Section.idBytes.rawValue].count),
              monotone(summaryOffsets, n + 1, sections[Section.summaryBytes.rawValue].count),
              monotone(termOffsets, termCount + 1, sections[Section.termBytes.rawValue].count),
              monotone(postingStarts, termCount + 1, sections[Section.postings.rawValue].count / 8) else {
            throw Problem(description: "is damaged (offsets out of order)")
        }
        for i in 0..<n where baseOfDoc[i] < -1 || Int(baseOfDoc[i]) >= baseCount || rowOfDoc[i] < -1 || Int(rowOfDoc[i]) >= r {
            throw Problem(description: "is damaged (document \(i) out of range)")
        }
        for i in 0..<r where matrixEntry[i] < 0 || Int(matrixEntry[i]) >= n { throw Problem(description: "is damaged (vector \(i) out of range)") }
        guard kind == .delta || tombstoneCount == 0 else { throw Problem(description: "is damaged (tombstones in a base)") }
        // Tombstones name base documents; the view checks them against the base's size.
        for i in 0..<tombstoneCount where tombstones[i] < 0 { throw Problem(description: "is damaged (tombstone \(i) out of range)") }
    }

    // MARK: - Reading

    func adapterIDBytes(_ doc: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: sections[Section.idBytes.rawValue][Int(idOffsets[doc])..<Int(idOffsets[doc + 1])])
    }

    func adapterID(_ doc: Int) -> String { String(decoding: adapterIDBytes(doc), as: UTF8.self) }

    /// The first document whose adapter id is not smaller than `key` (byte order).
    func lowerBound(_ key: UnsafeRawBufferPointer) -> Int {
        var lo = 0, hi = documentCount
        while lo < hi {
            let mid = (lo + hi) / 2
            if Self.compare(adapterIDBytes(mid), key) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The document of an adapter id, or nil.
    func document(adapterID: String) -> Int? {
        var id = adapterID
        return id.withUTF8 { key in
            let i = lowerBound(UnsafeRawBufferPointer(key))
            return i < documentCount && Self.compare(adapterIDBytes(i), UnsafeRawBufferPointer(key)) == 0 ? i : nil
        }
    }

    /// The summary of document `doc` (its base model given by the view, which owns the names table),
    /// read from the file like a vector row (`Storage.read`): summaries are read scattered, a few
    /// hundred per query, and through the mapping they made most of a 29 MB section resident.
    /// `inPlace`: decoded through the mapping, for a scan of them all.
    func summary(_ doc: Int, baseModel: BaseModel?, inPlace: Bool = false) -> AdapterSummary {
        let s = sections[Section.summaryBytes.rawValue]
        let range = UnsafeRawBufferPointer(rebasing: s[Int(summaryOffsets[doc])..<Int(summaryOffsets[doc + 1])])
        if inPlace {
            var r = IndexReader(range)
            return r.summary(rowID: rowIDs[doc], adapterId: adapterID(doc), baseModel: baseModel)
        }
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(range.count, 1), alignment: 8)
        defer { copy.deallocate() }
        if let source = range.baseAddress, !range.isEmpty { storage.read(source, range.count, into: copy.baseAddress!) }
        var r = IndexReader(UnsafeRawBufferPointer(rebasing: copy[0..<range.count]))
        return r.summary(rowID: rowIDs[doc], adapterId: adapterID(doc), baseModel: baseModel)
    }

    /// The postings of a term: (document, term count) pairs in document order.
    func postings(_ term: String) -> UnsafeBufferPointer<Int32>? {
        var t = term
        return t.withUTF8 { key -> UnsafeBufferPointer<Int32>? in
            let bytes = sections[Section.termBytes.rawValue]
            var lo = 0, hi = termCount
            while lo < hi {
                let mid = (lo + hi) / 2
                let c = Self.compare(UnsafeRawBufferPointer(rebasing: bytes[Int(termOffsets[mid])..<Int(termOffsets[mid + 1])]), UnsafeRawBufferPointer(key))
                if c == 0 {
                    let start = Int(postingStarts[mid]), end = Int(postingStarts[mid + 1])
                    return UnsafeBufferPointer(start: postingDocs + 2 * start, count: 2 * (end - start))
                }
                if c < 0 { lo = mid + 1 } else { hi = mid }
            }
            return nil
        }
    }

    /// Row `row` of the fp32 matrix (see `Storage.read` for why it is not read in place), checked
    /// against its checksum. A damaged row is never used: its int8 codes (checked with the file)
    /// stand in, within a few thousandths, the damage is reported once and the file is removed, so
    /// the next process rebuilds it.
    func matrixRow(_ row: Int) -> [Float] {
        let vector = [Float](unsafeUninitializedCapacity: dimension) { out, count in
            storage.read(UnsafeRawPointer(matrix + row * dimension), 4 * dimension, into: UnsafeMutableRawPointer(out.baseAddress!))
            count = dimension
        }
        if vector.withUnsafeBytes({ Checksum.of($0) }) == rowChecksums[row] { return vector }
        reportDamage("vector row \(row) fails its checksum")
        let scale = scales[row]
        return (0..<dimension).map { Float(codes[row * dimension + $0]) * scale }
    }

    private func reportDamage(_ what: String) {
        let first = damageLock.withLock { defer { damageReported = true }; return !damageReported }
        guard first else { return }
        var removed = false
        if let path {
            // Only the file this segment mapped: another writer may have replaced it meanwhile.
            var mapped = stat(), current = stat()
            if storage.descriptorStat(&mapped), stat(path, &current) == 0, mapped.st_ino == current.st_ino, mapped.st_dev == current.st_dev {
                removed = unlink(path) == 0
            }
        }
        RetrievalIndex.stderrNote("stylus: retrieval index \(path ?? "(in memory)") is damaged (\(what)); "
            + (removed ? "removed, the next start rebuilds it" : "run any stylus command again to rebuild it"))
    }

    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = min(a.count, b.count)
        if n > 0, let pa = a.baseAddress, let pb = b.baseAddress {
            let c = memcmp(pa, pb, n)
            if c != 0 { return Int(c) }
        }
        return a.count - b.count
    }
}

func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
    #if canImport(Glibc)
    Glibc.open(path, flags, mode)
    #else
    Darwin.open(path, flags, mode)
    #endif
}

func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, p, n)
    #else
    Darwin.write(fd, p, n)
    #endif
}

/// Sequential decoding of the index's variable-length records; `ok` turns false (and every read
/// returns empty values) when a record runs past its end.
struct IndexReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    private(set) var ok = true
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func take(_ n: Int) -> UnsafeRawBufferPointer? {
        guard ok, n >= 0, n <= bytes.count - offset else { ok = false; return nil }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
    }
    mutating func u32() -> UInt32 { take(4).map { $0.loadUnaligned(as: UInt32.self) } ?? 0 }
    mutating func u64() -> UInt64 { take(8).map { $0.loadUnaligned(as: UInt64.self) } ?? 0 }
    mutating func u8() -> UInt8 { take(1).map { $0[0] } ?? 0 }
    mutating func string() -> String {
        let n = Int(u32())
        return take(n).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
    mutating func optionalString() -> String? {
        guard u8() != 0 else { return nil }
        return string()
    }
    mutating func strings() -> [String] {
        let n = Int(u32())
        guard n <= bytes.count else { ok = false; return [] }
        return (0..<n).map { _ in string() }
    }

    mutating func summary(rowID: Int64, adapterId: String, baseModel: BaseModel?) -> AdapterSummary {
        let alias = string(), title = string(), category = string()
        let weight = Double(bitPattern: u64()), weightSource = string()
        let triggers = strings(), cardTriggers = strings()
        let isCharacter = u8() != 0
        let tags = strings(), refined = string()
        let nsfw = u8() != 0
        let downloads = Int(Int64(bitPattern: u64()))
        let url = optionalString(), source = string(), sourceRef = optionalString()
        let filePath = optionalString(), fileStem = optionalString()
        return AdapterSummary(rowID: rowID, adapterId: adapterId, alias: alias, title: title, baseModel: baseModel,
                              category: AdapterCategory(rawValue: category) ?? .concept, weight: weight,
                              weightSource: WeightSource(rawValue: weightSource) ?? .defaultValue, triggerWords: triggers,
                              cardTriggerWords: cardTriggers, isCharacter: isCharacter, tags: tags, refinedDescription: refined,
                              nsfw: nsfw, downloadCount: downloads, downloadURL: url, source: source, sourceRef: sourceRef,
                              filePath: filePath, fileStem: fileStem)
    }
}

/// Encoding of the variable-length records `IndexReader` decodes.
struct IndexWriter {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func string(_ s: String) {
        u32(UInt32(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }
    mutating func optionalString(_ s: String?) {
        u8(s == nil ? 0 : 1)
        if let s { string(s) }
    }
    mutating func strings(_ a: [String]) {
        u32(UInt32(a.count))
        a.forEach { string($0) }
    }

    mutating func summary(_ s: AdapterSummary) {
        string(s.alias); string(s.title); string(s.category.rawValue)
        u64(s.weight.bitPattern); string(s.weightSource.rawValue)
        strings(s.triggerWords); strings(s.cardTriggerWords)
        u8(s.isCharacter ? 1 : 0)
        strings(s.tags); string(s.refinedDescription)
        u8(s.nsfw ? 1 : 0)
        u64(UInt64(bitPattern: Int64(s.downloadCount)))
        optionalString(s.downloadURL); string(s.source); optionalString(s.sourceRef)
        optionalString(s.filePath); optionalString(s.fileStem)
    }
}
