// Retrieval's kernels (the int8 dense scan, the encoder's small-batch linear layers), written with
// AVX2/AVX-512 intrinsics under per-function target attributes. Unlike kernels.c (target_clones,
// picked by the loader) these have no baseline clone: Swift (StylusML's Kernels) checks the CPU
// before calling them and has a portable fallback for each.
#ifndef STYLUS_RETRIEVAL_KERNELS_H
#define STYLUS_RETRIEVAL_KERNELS_H

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

/// Small-batch linear layer, y = x · Wᵀ + bias (or y += that when `accumulate`), for the encoder's
/// short prompts (a few dozen rows) where BLAS spends most of its time packing W on every call.
/// W is pre-packed once into panels of 16 output columns: panel p holds W[16p + j][kk] at
/// wp[p·16·k + kk·16 + j]. Computes panels [panel_begin, panel_end) for all m rows, 8 rows × 3
/// panels per register block (24 accumulators). n = 16 × number of panels.
__attribute__((target("avx512f")))
static inline void stylus_linear_packed_avx512(const float *x, long m, long k, const float *wp, long n,
                                               const float *bias, float *y, int accumulate,
                                               long panel_begin, long panel_end) {
    for (long p0 = panel_begin; p0 < panel_end; p0 += 3) {
        long np = panel_end - p0 < 3 ? panel_end - p0 : 3;
        const float *w0 = wp + p0 * 16 * k;
        const float *w1 = np > 1 ? w0 + 16 * k : w0;
        const float *w2 = np > 2 ? w0 + 32 * k : w0;
        for (long r0 = 0; r0 < m; r0 += 8) {
            long nr = m - r0 < 8 ? m - r0 : 8;
            const float *xr[8];
            for (int r = 0; r < 8; r++) xr[r] = x + (r0 + (r < nr ? r : nr - 1)) * k;
            __m512 acc[8][3];
            for (int r = 0; r < 8; r++) { acc[r][0] = _mm512_setzero_ps(); acc[r][1] = _mm512_setzero_ps(); acc[r][2] = _mm512_setzero_ps(); }
            for (long kk = 0; kk < k; kk++) {
                __m512 b0 = _mm512_loadu_ps(w0 + kk * 16);
                __m512 b1 = _mm512_loadu_ps(w1 + kk * 16);
                __m512 b2 = _mm512_loadu_ps(w2 + kk * 16);
                for (int r = 0; r < 8; r++) {
                    __m512 a = _mm512_set1_ps(xr[r][kk]);
                    acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
                    acc[r][2] = _mm512_fmadd_ps(a, b2, acc[r][2]);
                }
            }
            // Constant indices only (the loops unroll fully), so the accumulators stay in registers.
#define STYLUS_STORE(q) do { \
                float *out = y + (r0 + r) * n + (p0 + (q)) * 16; \
                __m512 v = acc[r][q]; \
                if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + (p0 + (q)) * 16)); \
                if (accumulate) v = _mm512_add_ps(v, _mm512_loadu_ps(out)); \
                _mm512_storeu_ps(out, v); \
            } while (0)
            for (int r = 0; r < 8; r++) {
                if (r >= nr) break;
                STYLUS_STORE(0);
                if (np > 1) STYLUS_STORE(1);
                if (np > 2) STYLUS_STORE(2);
            }
#undef STYLUS_STORE
        }
    }
}
#endif

#endif
