import Foundation
import Quantization

/// Reads the `map_drop` table of a `sensitivity.json` (`{"layers": [{"name", "results": [{"bits", "map_drop"}]}]}`).
enum SensitivityTable {
    struct FileError: LocalizedError, CustomStringConvertible {
        let description: String
        var errorDescription: String? { description }
    }
    private struct File: Decodable {
        struct Layer: Decodable { let name: String; let results: [Result] }
        struct Result: Decodable {
            let bits: Int
            let mapDrop: Double
            enum CodingKeys: String, CodingKey { case bits, mapDrop = "map_drop" }
        }
        let layers: [Layer]
        let quantize: String?
    }

    static func load(_ url: URL) throws -> [String: [Int: Double]] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FileError(description: "\(url.path): cannot read the sensitivity file (\(error.localizedDescription))")
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw FileError(description: "\(url.path): not a sensitivity.json with layers[].results[].bits/map_drop")
        }
        if let what = file.quantize, what != SensitivityOperand.weights.rawValue {
            throw FileError(description: "\(url.path): made with mpq sensitivity --quantize \(what); mixed chooses "
                + "weight widths and needs a --quantize weights report")
        }
        var table: [String: [Int: Double]] = [:]
        for layer in file.layers {
            table[layer.name] = Dictionary(layer.results.map { ($0.bits, $0.mapDrop) }, uniquingKeysWith: { a, _ in a })
        }
        return table
    }
}
