import Foundation

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
    }

    static func load(_ url: URL) throws -> [String: [Int: Double]] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FileError(description: "\(url.path): cannot read the sensitivity file (\(error.localizedDescription))")
        }
        do {
            let file = try JSONDecoder().decode(File.self, from: data)
            var table: [String: [Int: Double]] = [:]
            for layer in file.layers {
                table[layer.name] = Dictionary(layer.results.map { ($0.bits, $0.mapDrop) }, uniquingKeysWith: { a, _ in a })
            }
            return table
        } catch {
            throw FileError(description: "\(url.path): not a sensitivity.json with layers[].results[].bits/map_drop")
        }
    }
}
