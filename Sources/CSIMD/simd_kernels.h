// Header-only C kernels compiled for specific instruction sets with per-function target attributes,
// so the Swift package stays baseline x86-64 while hot loops use AVX2 where the CPU has it. Swift
// (StylusML's Kernels) checks the CPU before calling any of these; every kernel has a portable
// Swift fallback there.
#ifndef STYLUS_SIMD_KERNELS_H
#define STYLUS_SIMD_KERNELS_H

#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define STYLUS_HAVE_X86_KERNELS 1

/// out[r] = sum_j q[j] * m[r * dim + j] for `rows` rows of int8 codes; q holds int8-range values
/// widened to int16. dim must be a multiple of 32. Exact integer arithmetic (|sum| < 2^31 for
/// dim < 2^17).
__attribute__((target("avx2")))
static inline void stylus_dot_rows_i8_avx2(const int16_t *q, const int8_t *m, int32_t *out, long rows, long dim) {
    for (long r = 0; r < rows; r++) {
        const int8_t *row = m + r * dim;
        __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
        for (long c = 0; c < dim; c += 32) {
            __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + c)));
            __m256i a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + c + 16)));
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, _mm256_loadu_si256((const __m256i *)(q + c))));
            acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(a1, _mm256_loadu_si256((const __m256i *)(q + c + 16))));
        }
        __m256i s = _mm256_add_epi32(acc0, acc1);
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
        out[r] = _mm_cvtsi128_si32(t);
    }
}
#endif

#endif
