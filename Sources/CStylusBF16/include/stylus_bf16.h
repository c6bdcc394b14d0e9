// bfloat16 matrix products on the CPU's bf16 hardware (AMX tiles or AVX512-BF16), through oneDNN
// loaded at run time: a machine without libdnnl still runs every fp32 path.
#ifndef STYLUS_BF16_H
#define STYLUS_BF16_H

#include <stdint.h>

/// Which of the CPU's bf16 instruction sets oneDNN may use.
typedef enum {
    stylus_bf16_cap_none = 0,      ///< whatever the CPU has
    stylus_bf16_cap_avx512 = 1,    ///< AVX512-BF16 at most (no AMX tiles)
    stylus_bf16_cap_amx = 2,       ///< AMX tiles at most
} stylus_bf16_cap;

/// What the loaded library computes bf16 products with.
typedef enum {
    stylus_bf16_isa_unavailable = 0,  ///< libdnnl missing, or the CPU has no bf16 instructions
    stylus_bf16_isa_avx512 = 1,
    stylus_bf16_isa_amx = 2,
} stylus_bf16_isa;

/// Loads libdnnl.so.2 once (later calls return the first result), capped at `cap`, with `threads`
/// OpenMP threads. `error` (may be NULL) receives a static message when the result is unavailable.
stylus_bf16_isa stylus_bf16_load(stylus_bf16_cap cap, long threads, const char **error);

/// C = A·B (+ C when `accumulate`), A m×k and B k×n in bf16 bits, C in float; each operand
/// row-major with its leading dimension, or transposed (A stored k×m, B stored n×k). Products
/// accumulate in float. Returns 0, or a oneDNN status (the library is not loaded: -1).
int stylus_bf16_gemm(long m, long n, long k, const uint16_t *a, long lda, int transpose_a,
                     const uint16_t *b, long ldb, int transpose_b, float *c, long ldc, int accumulate);

/// The oneDNN implementation behind the last product of these sizes ("brg:avx512_core_bf16"), for reports.
const char *stylus_bf16_implementation(long m, long n, long k, int transpose_a, int transpose_b);

#endif
