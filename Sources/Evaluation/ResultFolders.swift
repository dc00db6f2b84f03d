import VOC
import Foundation

/// Detections of one split loaded from one or more result folders, ready for `DetectionEvaluator`.
public struct LoadedResults: Sendable {
    /// `detections[c]` for class `c`, in the order that ranks ties (see `ResultFolders.load`).
    public var detections: [[ScoredBox]]
    /// Human-readable remarks (e.g. a class without a result file), for the CLI to print on stderr.
    public var notes: [String]
}

/// Loads `comp4_det_<split>_<class>.txt` files from result folders.
///
/// One folder: each class's lines are used in file order (the devkit's tie order).
/// Several folders (the shards of one sharded run): each image may appear in only one folder, and each class's
/// detections are put in image-set order (stable: an image's own lines keep their order). `mpq evaluate` writes
/// its files in image-set order, so the merged shards rank exactly like a single run over the whole split,
/// ties included.
public enum ResultFolders {
    /// - Throws: `ResultFileError` for unreadable or malformed files, and when two folders hold detections for
    ///   the same image (overlapping shards).
    public static func load(_ folders: [URL], split: String, groundTruth: GroundTruth) throws -> LoadedResults {
        var notes: [String] = []
        var perClass = [[ScoredBox]](repeating: [], count: groundTruth.classNames.count)
        // owner[i] = the folder that holds detections of image i, to catch overlapping shards.
        var owner = [Int](repeating: -1, count: groundTruth.imageIDs.count)
        for (f, folder) in folders.enumerated() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory),
                  isDirectory.boolValue else {
                throw ResultFileError(file: folder.path, line: nil, problem: "results folder does not exist")
            }
            var missing: [String] = []
            for (c, name) in groundTruth.classNames.enumerated() {
                let url = folder.appendingPathComponent(ResultFiles.fileName(split: split, className: name))
                guard let boxes = try ResultFiles.read(url, imageIndex: groundTruth.imageIndex(of:)) else {
                    missing.append(name)
                    continue
                }
                if folders.count > 1 {
                    for b in boxes {
                        if owner[b.imageIndex] == -1 {
                            owner[b.imageIndex] = f
                        } else if owner[b.imageIndex] != f {
                            throw ResultFileError(file: url.path, line: nil, problem: "image "
                                + "'\(groundTruth.imageIDs[b.imageIndex])' also has detections in "
                                + "\(folders[owner[b.imageIndex]].path): the result folders overlap")
                        }
                    }
                }
                perClass[c].append(contentsOf: boxes)
            }
            if !missing.isEmpty {
                notes.append("note: \(folder.path) has no result file for \(missing.joined(separator: ", ")) "
                    + "(scored as no detections)")
            }
        }
        // Folders written by `mpq evaluate` say which images they ran: warn about a missing shard or a --limit run.
        let journals = folders.map { EvaluationJournal.finishedImageIDs(in: $0) }
        if !journals.contains(where: { $0 == nil }) {
            let covered = journals.compactMap { $0 }.reduce(into: Set<String>()) { $0.formUnion($1) }
            let missing = groundTruth.imageIDs.filter { !covered.contains($0) }.count
            if missing > 0 {
                notes.append("warning: the results cover \(groundTruth.imageIDs.count - missing) of the "
                    + "\(groundTruth.imageIDs.count) images of the split (a missing shard, an unfinished or a --limit "
                    + "run?); the objects of the other \(missing) images count as missed")
            }
        }
        if folders.count > 1 {
            for c in perClass.indices {
                perClass[c] = perClass[c].enumerated().sorted { a, b in
                    a.element.imageIndex != b.element.imageIndex ? a.element.imageIndex < b.element.imageIndex
                        : a.offset < b.offset
                }.map(\.element)
            }
        }
        return LoadedResults(detections: perClass, notes: notes)
    }
}
