import Foundation
import StylusML

/// What the renderer multiplies in. `.fp32`: Float32 everywhere (the reference). `.bf16`: linear
/// and convolution kernels held in bfloat16 and multiplied on the CPU's bf16 hardware (AMX or
/// AVX512-BF16) with Float32 accumulation; normalisation, attention softmax, the sampler and
/// everything element-wise stay Float32, as in PyTorch's bf16 autocast.
public enum ComputePrecision: String, Sendable, CaseIterable {
    case fp32, bf16
}

/// The `precision` setting of a render: `auto` is bf16 where the CPU has bf16 hardware (and
/// oneDNN is installed), fp32 elsewhere.
public enum PrecisionSetting: String, Sendable, CaseIterable {
    case auto, bf16, fp32

    /// Parses a setting's value (frontmatter, settings or `--precision`); nil if unknown.
    public init?(setting: String) {
        self.init(rawValue: setting.trimmingCharacters(in: .whitespaces).lowercased())
    }

    /// The setting `text` names, or the error front ends show for an unknown one.
    public static func parse(_ text: String) throws -> PrecisionSetting {
        guard let setting = PrecisionSetting(setting: text) else {
            throw RenderError.invalidArgument("unknown precision '\(text)'; use auto, bf16 or fp32")
        }
        return setting
    }

    /// The precision a render uses; explicit bf16 on a machine without it is an error that says why.
    public func resolved() throws -> ComputePrecision {
        switch self {
        case .fp32: return .fp32
        case .auto: return BFloat16Compute.path == nil ? .fp32 : .bf16
        case .bf16:
            try ComputePrecision.requireBF16()
            return .bf16
        }
    }
}

extension ComputePrecision {
    /// Throws, saying why, when bf16 products cannot run here.
    static func requireBF16() throws {
        if case let .failure(why) = BFloat16Compute.availability {
            throw RenderError.invalidArgument("precision bf16 is not available here: \(why); use precision auto or fp32")
        }
    }
}
