import Foundation

/// The composer's learned scorer: a logistic regression over `ComposerFeatures`, fit by
/// `scripts/fit_composer.py` on labelled benchmarks and shipped as JSON in the generated
/// `ComposerModelShipped.swift` (compiled in, so StylusCore reads no file).
/// Swift only evaluates it. Two variants are fit: `semantic` (sentence embeddings available) and
/// `lexical` (the degraded BM25-only mode, without the embedding features).
public struct ComposerModel: Sendable, Codable, Hashable {
    public struct Variant: Sendable, Codable, Hashable {
        /// Feature names in the order of `weights`; evaluation looks each up by name (once, in `scorer`).
        public var features: [String]
        /// Standardisation applied before the weights: (x - mean) / scale.
        public var mean: [Double]
        public var scale: [Double]
        public var weights: [Double]
        public var bias: Double
        /// Accept an adapter for a topic when its probability reaches this.
        public var threshold: Double
        /// What a topic's second and further adapters need (at least `threshold`): most keywords want
        /// one adapter, and the runners-up of a topic are mostly its narrower variants ("Samurai
        /// Armor" after "Knight Plate Armor" for "silver armor"). 0 in model files that predate it.
        public var furtherThreshold: Double

        public init(features: [String], mean: [Double], scale: [Double], weights: [Double], bias: Double, threshold: Double,
                    furtherThreshold: Double = 0) {
            self.features = features
            self.mean = mean
            self.scale = scale
            self.weights = weights
            self.bias = bias
            self.threshold = threshold
            self.furtherThreshold = furtherThreshold
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(features: try c.decode([String].self, forKey: .features), mean: try c.decode([Double].self, forKey: .mean),
                      scale: try c.decode([Double].self, forKey: .scale), weights: try c.decode([Double].self, forKey: .weights),
                      bias: try c.decode(Double.self, forKey: .bias), threshold: try c.decode(Double.self, forKey: .threshold),
                      furtherThreshold: try c.decodeIfPresent(Double.self, forKey: .furtherThreshold) ?? 0)
        }

        /// The probability the `rank`-th adapter (0-based) a topic gets must reach.
        public func acceptance(rank: Int) -> Double { rank == 0 ? threshold : max(threshold, furtherThreshold) }

        /// P(adapter fits topic) for a feature vector laid out as `ComposerFeatures.names`.
        public func probability(_ x: [Double]) -> Double { scorer().probability(x) }

        /// The variant with its features looked up once, for scoring many pairs.
        public func scorer() -> Scorer {
            Scorer(terms: features.indices.compactMap { k in
                ComposerFeatures.index[features[k]].map {
                    (name: features[k], column: $0, weight: weights[k], mean: mean[k], scale: scale[k] == 0 ? 1 : scale[k])
                }
            }, bias: bias)
        }

        /// The features that pushed this decision most, strongest first, as (name, contribution).
        public func contributions(_ x: [Double]) -> [(String, Double)] { scorer().contributions(x) }

        /// `probability` without a name lookup per feature and pair (a long prompt scores thousands).
        public struct Scorer: Sendable {
            let terms: [(name: String, column: Int, weight: Double, mean: Double, scale: Double)]
            let bias: Double

            /// One feature's term of the logit: its standardised value times its weight.
            private func term(_ t: (name: String, column: Int, weight: Double, mean: Double, scale: Double), _ x: [Double]) -> Double {
                t.weight * (x[t.column] - t.mean) / t.scale
            }

            public func probability(_ x: [Double]) -> Double {
                var z = bias
                for t in terms { z += term(t, x) }
                return 1 / (1 + Foundation.exp(-z))
            }

            public func contributions(_ x: [Double]) -> [(String, Double)] {
                terms.map { ($0.name, term($0, x)) }.sorted { abs($0.1) > abs($1.1) }
            }
        }
    }

    public var semantic: Variant
    public var lexical: Variant
    /// Where the parameters came from (training sets, date), for `--explain` and the docs.
    public var trainedOn: String

    public init(semantic: Variant, lexical: Variant, trainedOn: String) {
        self.semantic = semantic
        self.lexical = lexical
        self.trainedOn = trainedOn
    }

    /// Checks that every feature the file names exists here (a model from another version fails loudly).
    public func validated() throws -> ComposerModel {
        for v in [semantic, lexical] {
            guard v.features.count == v.weights.count, v.mean.count == v.weights.count, v.scale.count == v.weights.count else {
                throw ComposerModelError.invalid("feature, weight, mean and scale lists differ in length")
            }
            if let unknown = v.features.first(where: { ComposerFeatures.index[$0] == nil }) {
                throw ComposerModelError.invalid("unknown feature '\(unknown)'")
            }
            guard v.threshold > 0, v.threshold < 1 else { throw ComposerModelError.invalid("threshold must be in (0, 1)") }
            guard v.furtherThreshold >= 0, v.furtherThreshold < 1 else {
                throw ComposerModelError.invalid("furtherThreshold must be in [0, 1)")
            }
        }
        return self
    }

    public static func decode(_ data: Data) throws -> ComposerModel {
        do { return try JSONDecoder().decode(ComposerModel.self, from: data).validated() } catch let e as ComposerModelError {
            throw e
        } catch {
            throw ComposerModelError.invalid("\(error)")
        }
    }

    /// The model shipped with this build.
    public static let shipped: ComposerModel = {
        guard let model = try? decode(Data(shippedJSON.utf8)) else {
            fatalError("ComposerModelShipped.swift does not hold a valid model: regenerate it with scripts/fit_composer.py")
        }
        return model
    }()
}

public enum ComposerModelError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let why): return "composer model file is invalid: \(why)" }
    }
}
