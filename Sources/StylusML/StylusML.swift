// StylusML: CPU numerics for Stylus (docs/ARCHITECTURE.md).
//
// - Safetensors.swift / SafetensorsFile.swift: header parsing (hostile-input safe), header-only reads,
//   memory-mapped tensor access with f16/bf16/f64 → Float conversion.
// - Tensor.swift / Kernels.swift: a row-major Float tensor, `Linear`, and pointer-level kernels
//   (OpenBLAS sgemm, layer norm, GELU, softmax, SIMD loops).
// - WordPiece.swift / MiniLM.swift: the BERT tokenizer and the all-MiniLM-L6-v2 sentence encoder.
