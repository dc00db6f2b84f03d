import Foundation
import SSD
import VOC

/// The model and dataset of a job, falling back to the embedded demo data (said in one line).
public struct JobInputs {
    let model: SSDModel
    let modelPath: String
    let root: URL
    let classes: ClassList

    public static func resolve(model: String?, vocRoot: String?) throws -> JobInputs {
        let (modelURL, resolvedRoot) = try EmbeddedDemo.resolve(model: model, vocRoot: vocRoot)
        guard let root = resolvedRoot else { throw DemoDataError(message: "no dataset given") }
        guard FileManager.default.fileExists(atPath: modelURL.path) else {
            throw DemoDataError(message: "\(modelURL.path): model file does not exist")
        }
        let loaded = try SSDModel.load(contentsOf: modelURL)
        let classes = try ClassList.forDataset(root: root)
        guard loaded.model.classes == classes.count + 1 else {
            throw DemoDataError(message: "\(modelURL.path): the model has \(loaded.model.classes - 1) classes but "
                + "\(classes.sourceDescription) has \(classes.count)")
        }
        return JobInputs(model: loaded.model, modelPath: modelURL.path, root: root, classes: classes)
    }
}
