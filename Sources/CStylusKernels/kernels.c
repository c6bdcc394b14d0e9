#include "stylus_kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// One source, three instruction sets: the loops are written on 16-lane vectors (one AVX-512
// register, two AVX2 ones, four SSE ones) and the loader picks the best clone for the CPU.
// Not under ThreadSanitizer: target_clones makes an ifunc resolver, which the dynamic loader runs
// while relocating, before the TSan runtime is initialised; TSan instruments the resolver too
// (__tsan_func_entry), so every TSan binary died with SIGSEGV at start-up. Under TSan the kernels
// are built once for baseline x86-64 (same source, still instrumented).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STYLUS_NO_CLONES 1
#endif
#endif
#if defined(__x86_64__) && defined(__linux__) && defined(__clang__) && !defined(STYLUS_NO_CLONES)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

typedef float v16 __attribute__((ext_vector_type(16)));
typedef int i16 __attribute__((ext_vector_type(16)));
typedef _Float16 h16 __attribute__((ext_vector_type(16)));

#define ALWAYS static inline __attribute__((always_inline))

// Helpers are macros, not functions: a 16-lane vector passed to a function would need one ABI
// per instruction set.
#define load(p) ({ v16 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define store(p, v) ({ v16 s_ = (v); memcpy((p), &s_, sizeof s_); })
#define splat(x) ((v16)(float)(x))
/// 16 IEEE halves at p (any alignment) widened to floats.
#define load_half(p) ({ h16 h_; memcpy(&h_, (p), sizeof h_); __builtin_convertvector(h_, v16); })

/// exp for x ≤ 88: 2^n · p(r), x = n·ln2 + r, |r| ≤ ln2/2, p degree 7 (relative error ≈ 1e-7).
/// Inputs below −87.3 give 0 (the true value is subnormal or less).
#define vexp(xin) ({                                                                                 \
    v16 xi_ = (xin), x_ = xi_;                                                                       \
    x_ = x_ < -87.3f ? splat(-87.3f) : x_;                                                           \
    x_ = x_ > 88.0f ? splat(88.0f) : x_;                                                             \
    const v16 magic_ = splat(12582912.0f); /* 1.5·2^23: adding it rounds to an integer */            \
    v16 shifted_ = x_ * 1.44269504088896341f + magic_;                                               \
    v16 n_ = shifted_ - magic_;                                                                      \
    v16 r_ = x_ - n_ * 0.693145751953125f - n_ * 1.42860682030941723e-06f;                           \
    v16 p_ = splat(1.0f / 5040);                                                                     \
    p_ = p_ * r_ + 1.0f / 720;                                                                       \
    p_ = p_ * r_ + 1.0f / 120;                                                                       \
    p_ = p_ * r_ + 1.0f / 24;                                                                        \
    p_ = p_ * r_ + 1.0f / 6;                                                                         \
    p_ = p_ * r_ + 0.5f;                                                                             \
    p_ = p_ * r_ + 1;                                                                                \
    p_ = p_ * r_ + 1;                                                                                \
    i16 ni_ = (i16)shifted_ - (i16)magic_;                                                           \
    v16 e_ = p_ * (v16)((ni_ + 127) << 23);                                                          \
    xi_ < -87.3f ? splat(0) : e_;                                                                    \
})

/// erf (Abramowitz & Stegun 7.1.26, absolute error ≤ 1.5e-7).
#define verf(xin) ({                                                                                 \
    v16 xe_ = (xin);                                                                                 \
    v16 a_ = xe_ < 0 ? -xe_ : xe_;                                                                   \
    v16 t_ = 1 / (1 + 0.3275911f * a_);                                                              \
    v16 q_ = splat(1.061405429f);                                                                    \
    q_ = q_ * t_ - 1.453152027f;                                                                     \
    q_ = q_ * t_ + 1.421413741f;                                                                     \
    q_ = q_ * t_ - 0.284496736f;                                                                     \
    q_ = q_ * t_ + 0.254829592f;                                                                     \
    v16 y_ = 1 - q_ * t_ * vexp(-(a_ * a_));                                                         \
    xe_ < 0 ? -y_ : y_;                                                                              \
})

/// Subnormal lanes → 0. Products with subnormal inputs take a microcode assist on Intel CPUs
/// (~100× slower), and GELU's far negative tail (and small probabilities) land there; values
/// below 1.2e-38 change no result we keep.
#define flush(vin) ({ v16 f_ = (vin); (f_ < 1.17549435e-38f && f_ > -1.17549435e-38f) ? splat(0) : f_; })

long stylus_attention_padded_width(long d) { return (d + 47) / 48 * 48; }
long stylus_attention_padded_keys(long m) { return (m + 31) / 32 * 32; }
long stylus_attention_scratch(long rows, long m, long d) {
    return rows * (stylus_attention_padded_keys(m) + 16) + rows * stylus_attention_padded_width(d) + rows;
}

// Scores s[i, j] = scale · q[i]·k[j] for R rows and keys j0..<j1 (multiples of 32): R × 32
// scores per step in registers, summed over the head width; each 32-key panel of kt is d × 32.
#define SCORES(R)                                                                                   \
    for (long j = j0; j + 32 <= j1; j += 32) {                                                       \
        v16 a0[R], a1[R];                                                                            \
        for (int i = 0; i < R; i++) { a0[i] = 0; a1[i] = 0; }                                        \
        for (long c = 0; c < d; c++) {                                                               \
            v16 k0 = load(kt + j * d + c * 32), k1 = load(kt + j * d + c * 32 + 16);                 \
            for (int i = 0; i < R; i++) {                                                            \
                v16 qv = splat(qg[i * ldq + c]);                                                     \
                a0[i] += qv * k0;                                                                    \
                a1[i] += qv * k1;                                                                    \
            }                                                                                        \
        }                                                                                            \
        for (int i = 0; i < R; i++) {                                                                \
            store(sg + i * ms + j, a0[i] * scale);                                                   \
            store(sg + i * ms + j + 16, a1[i] * scale);                                              \
        }                                                                                            \
    }

// acc[i, 0..<dp] += Σ_j p[i, j] · vp[j, 0..<dp] for R rows and keys j0..<j1, 48 columns at a time.
#define VALUES(R)                                                                                   \
    for (long b = 0; b < dp; b += 48) {                                                              \
        v16 a0[R], a1[R], a2[R];                                                                     \
        for (int i = 0; i < R; i++) {                                                                \
            a0[i] = load(ag + i * dp + b); a1[i] = load(ag + i * dp + b + 16); a2[i] = load(ag + i * dp + b + 32); \
        }                                                                                            \
        for (long j = j0; j < j1; j++) {                                                             \
            const float *vr = vp + j * dp + b;                                                       \
            v16 v0 = load(vr), v1 = load(vr + 16), v2 = load(vr + 32);                               \
            for (int i = 0; i < R; i++) {                                                            \
                v16 pv = splat(sg[i * ms + j]);                                                      \
                a0[i] += pv * v0;                                                                    \
                a1[i] += pv * v1;                                                                    \
                a2[i] += pv * v2;                                                                    \
            }                                                                                        \
        }                                                                                            \
        for (int i = 0; i < R; i++) {                                                                \
            store(ag + i * dp + b, a0[i]); store(ag + i * dp + b + 16, a1[i]); store(ag + i * dp + b + 32, a2[i]); \
        }                                                                                            \
    }

/// Softmax numerators of one row in place (exp(x − max)); returns their sum.
ALWAYS float softmax_numerators(float *row, long m) {
    v16 mv = splat(-__builtin_inff());
    long j = 0;
    for (; j + 16 <= m; j += 16) { v16 x = load(row + j); mv = x > mv ? x : mv; }
    float mx = -__builtin_inff();
    for (int l = 0; l < 16; l++) mx = mv[l] > mx ? mv[l] : mx;
    for (; j < m; j++) mx = row[j] > mx ? row[j] : mx;
    v16 acc = 0;
    for (j = 0; j + 16 <= m; j += 16) {
        v16 e = vexp(load(row + j) - mx);
        store(row + j, e);
        acc += e;
    }
    float total = 0;
    for (int l = 0; l < 16; l++) total += acc[l];
    if (j < m) {  // the tail as one full vector, padded with −inf (exp gives ≈ 0 there, unused)
        float t[16];
        for (int l = 0; l < 16; l++) t[l] = j + l < m ? row[j + l] : -__builtin_inff();
        v16 e = vexp(load(t) - mx);
        for (long l = 0; l < m - j; l++) { row[j + l] = e[l]; total += e[l]; }
    }
    return total;
}

CLONES
void stylus_attention_short(const float *q, const float *k, const float *v, long ld, long m, long d, float scale,
                            float *scores, float *out, long ldo) {
    for (long i = 0; i < m; i++) {
        const float *qi = q + i * ld;
        for (long j = 0; j < m; j++) {
            const float *kj = k + j * ld;
            v16 acc = 0;
            for (long c = 0; c < d; c += 16) acc += load(qi + c) * load(kj + c);
            float dot = 0;
            for (int l = 0; l < 16; l++) dot += acc[l];
            scores[j] = dot * scale;
        }
        const float inv = 1.0f / softmax_numerators(scores, m);
        for (long c = 0; c < d; c += 16) {
            v16 o = 0;
            for (long j = 0; j < m; j++) o += splat(scores[j]) * load(v + j * ld + c);
            store(out + i * ldo + c, o * inv);
        }
    }
}

CLONES
void stylus_attention_rows(const float *q, long ldq, const float *kt, const float *vp, long rows, long m, long d,
                           float scale, float *scratch, float *out, long ldo) {
    const long mp = stylus_attention_padded_keys(m), ms = mp + 16, dp = stylus_attention_padded_width(d);
    float *s = scratch, *acc = s + rows * ms, *sums = acc + rows * dp;
    // Keys in blocks whose transposed keys and padded values stay in L2 (≈ 0.5 MB each) while
    // every row group of the call uses them.
    long block = (131072 / dp) & ~31L;
    if (block < 32) block = 32;
    for (long j0 = 0; j0 < mp; j0 += block) {
        long j1 = j0 + block < mp ? j0 + block : mp;
        long r = 0;
        for (; r + 8 <= rows; r += 8) { const float *qg = q + r * ldq; float *sg = s + r * ms; SCORES(8) }
        for (; r < rows; r++) { const float *qg = q + r * ldq; float *sg = s + r * ms; SCORES(1) }
    }
    for (long r = 0; r < rows; r++) sums[r] = softmax_numerators(s + r * ms, m);
    memset(acc, 0, (size_t)(rows * dp) * sizeof(float));
    for (long j0 = 0; j0 < m; j0 += block) {
        long j1 = j0 + block < m ? j0 + block : m;
        long r = 0;
        for (; r + 8 <= rows; r += 8) { float *ag = acc + r * dp; const float *sg = s + r * ms; VALUES(8) }
        for (; r < rows; r++) { float *ag = acc + r * dp; const float *sg = s + r * ms; VALUES(1) }
    }
    for (long r = 0; r < rows; r++) {
        float inv = 1.0f / sums[r];
        for (long c = 0; c < d; c++) out[r * ldo + c] = acc[r * dp + c] * inv;
    }
}

// MARK: attention in bf16 (AVX512-BF16)

// bf16 bits of x, nearest even on the dropped half; a pair packs (lo, hi) as one 32-bit lane of vdpbf16ps.
ALWAYS uint32_t bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}
ALWAYS uint32_t bf16_pair(float lo, float hi) { return bf16_bits(lo) | (bf16_bits(hi) << 16); }

long stylus_attention_bf16_packed(long m, long d) {
    return stylus_attention_padded_keys(m) * ((d + 1) / 2) + (m + 1) / 2 * stylus_attention_padded_width(d);
}

long stylus_attention_bf16_scratch(long rows, long m, long d) {
    const long mp = stylus_attention_padded_keys(m);
    return rows * (mp + 16) + rows * stylus_attention_padded_width(d) + rows + rows * ((d + 1) / 2) + rows * (mp / 2 + 16);
}

void stylus_attention_pack_bf16(const float *keys, const float *values, long ld, long m, long d, uint32_t *out) {
    const long mp = stylus_attention_padded_keys(m), d2 = (d + 1) / 2, dp = stylus_attention_padded_width(d);
    uint32_t *kp = out, *vp = out + mp * d2;
    for (long j = 0; j < mp; j++) {
        uint32_t *panel = kp + (j / 32) * 32 * d2 + j % 32;
        for (long c2 = 0; c2 < d2; c2++) {
            float lo = j < m ? keys[j * ld + 2 * c2] : 0, hi = j < m && 2 * c2 + 1 < d ? keys[j * ld + 2 * c2 + 1] : 0;
            panel[c2 * 32] = bf16_pair(lo, hi);
        }
    }
    for (long j2 = 0; j2 < (m + 1) / 2; j2++) {
        const float *a = values + 2 * j2 * ld, *b = 2 * j2 + 1 < m ? a + ld : NULL;
        for (long c = 0; c < dp; c++) vp[j2 * dp + c] = bf16_pair(c < d ? a[c] : 0, b && c < d ? b[c] : 0);
    }
}

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
#define BF16_TARGET __attribute__((target("avx512f,avx512bf16")))
#define DPBF16(acc, x, y) _mm512_dpbf16_ps((acc), (__m512bh)(x), (__m512bh)(y))

// Scores for R rows and 32-key panels j0..<j1 from bf16 pairs: a0/a1 hold keys j..j+15, j+16..j+31.
#define SCORES_BF16(R)                                                                              \
    for (long j = j0; j + 32 <= j1; j += 32) {                                                       \
        __m512 a0[R], a1[R];                                                                         \
        for (int i = 0; i < R; i++) { a0[i] = _mm512_setzero_ps(); a1[i] = _mm512_setzero_ps(); }   \
        const uint32_t *panel = kp + j * d2;                                                         \
        for (long c2 = 0; c2 < d2; c2++) {                                                           \
            __m512i k0 = _mm512_loadu_si512(panel + c2 * 32), k1 = _mm512_loadu_si512(panel + c2 * 32 + 16); \
            for (int i = 0; i < R; i++) {                                                            \
                __m512i qv = _mm512_set1_epi32((int)qg[i * d2 + c2]);                                \
                a0[i] = DPBF16(a0[i], k0, qv);                                                       \
                a1[i] = DPBF16(a1[i], k1, qv);                                                       \
            }                                                                                        \
        }                                                                                            \
        for (int i = 0; i < R; i++) {                                                                \
            _mm512_storeu_ps(sg + i * ms + j, _mm512_mul_ps(a0[i], _mm512_set1_ps(scale)));          \
            _mm512_storeu_ps(sg + i * ms + j + 16, _mm512_mul_ps(a1[i], _mm512_set1_ps(scale)));     \
        }                                                                                            \
    }

// acc[i, 0..<dp] += Σ_j p[i, j] · v[j] over key pairs j2 in [j20, j21), 48 columns at a time.
#define VALUES_BF16(R)                                                                              \
    for (long b = 0; b < dp; b += 48) {                                                              \
        __m512 a0[R], a1[R], a2[R];                                                                  \
        for (int i = 0; i < R; i++) {                                                                \
            a0[i] = _mm512_loadu_ps(ag + i * dp + b); a1[i] = _mm512_loadu_ps(ag + i * dp + b + 16);  \
            a2[i] = _mm512_loadu_ps(ag + i * dp + b + 32);                                           \
        }                                                                                            \
        for (long j2 = j20; j2 < j21; j2++) {                                                        \
            const uint32_t *vr = vp + j2 * dp + b;                                                   \
            __m512i v0 = _mm512_loadu_si512(vr), v1 = _mm512_loadu_si512(vr + 16), v2 = _mm512_loadu_si512(vr + 32); \
            for (int i = 0; i < R; i++) {                                                            \
                __m512i pv = _mm512_set1_epi32((int)pg[i * m2s + j2]);                               \
                a0[i] = DPBF16(a0[i], v0, pv);                                                       \
                a1[i] = DPBF16(a1[i], v1, pv);                                                       \
                a2[i] = DPBF16(a2[i], v2, pv);                                                       \
            }                                                                                        \
        }                                                                                            \
        for (int i = 0; i < R; i++) {                                                                \
            _mm512_storeu_ps(ag + i * dp + b, a0[i]); _mm512_storeu_ps(ag + i * dp + b + 16, a1[i]); \
            _mm512_storeu_ps(ag + i * dp + b + 32, a2[i]);                                           \
        }                                                                                            \
    }

BF16_TARGET
void stylus_attention_rows_bf16(const float *q, long ldq, const uint32_t *packed, long rows, long m, long d, float scale,
                                float *scratch, float *out, long ldo) {
    const long mp = stylus_attention_padded_keys(m), ms = mp + 16, dp = stylus_attention_padded_width(d);
    const long d2 = (d + 1) / 2, m2 = (m + 1) / 2, m2s = mp / 2 + 16;
    const uint32_t *kp = packed, *vp = packed + mp * d2;
    float *s = scratch, *acc = s + rows * ms, *sums = acc + rows * dp;
    uint32_t *qb = (uint32_t *)(sums + rows), *pb = qb + rows * d2;
    for (long r = 0; r < rows; r++)
        for (long c2 = 0; c2 < d2; c2++) qb[r * d2 + c2] = bf16_pair(q[r * ldq + 2 * c2], 2 * c2 + 1 < d ? q[r * ldq + 2 * c2 + 1] : 0);
    long block = (131072 / dp) & ~31L;  // keys whose panels stay in L2, as in the fp32 kernel
    if (block < 32) block = 32;
    for (long j0 = 0; j0 < mp; j0 += block) {
        long j1 = j0 + block < mp ? j0 + block : mp;
        long r = 0;
        for (; r + 8 <= rows; r += 8) { const uint32_t *qg = qb + r * d2; float *sg = s + r * ms; SCORES_BF16(8) }
        for (; r < rows; r++) { const uint32_t *qg = qb + r * d2; float *sg = s + r * ms; SCORES_BF16(1) }
    }
    // Softmax numerators in fp32, then rounded to bf16 pairs of keys (a zero partner past m).
    // Pairs of consecutive keys are the row's bf16 values in order: 16 at a time, rounded by
    // vcvtneps2bf16 (nearest even).
    for (long r = 0; r < rows; r++) {
        float *row = s + r * ms;
        sums[r] = softmax_numerators(row, m);
        row[m] = 0;  // the partner of an odd last key (the row has room past mp)
        uint16_t *dst = (uint16_t *)(pb + r * m2s);
        long j = 0;
        for (; j + 16 <= 2 * m2; j += 16) {
            __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(row + j));
            memcpy(dst + j, &h, sizeof h);
        }
        for (; j < 2 * m2; j++) dst[j] = (uint16_t)bf16_bits(row[j]);
    }
    memset(acc, 0, (size_t)(rows * dp) * sizeof(float));
    for (long j20 = 0; j20 < m2; j20 += block / 2) {
        long j21 = j20 + block / 2 < m2 ? j20 + block / 2 : m2;
        long r = 0;
        for (; r + 8 <= rows; r += 8) { float *ag = acc + r * dp; const uint32_t *pg = pb + r * m2s; VALUES_BF16(8) }
        for (; r < rows; r++) { float *ag = acc + r * dp; const uint32_t *pg = pb + r * m2s; VALUES_BF16(1) }
    }
    for (long r = 0; r < rows; r++) {
        float inv = 1.0f / sums[r];
        for (long c = 0; c < d; c++) out[r * ldo + c] = acc[r * dp + c] * inv;
    }
}

int stylus_attention_bf16_supported(void) { return __builtin_cpu_supports("avx512bf16"); }
#else
void stylus_attention_rows_bf16(const float *q, long ldq, const uint32_t *packed, long rows, long m, long d, float scale,
                                float *scratch, float *out, long ldo) {
    (void)q; (void)ldq; (void)packed; (void)rows; (void)m; (void)d; (void)scale; (void)scratch; (void)out; (void)ldo;
    abort();
}
int stylus_attention_bf16_supported(void) { return 0; }
#endif

CLONES
void stylus_geglu(const float *x, long rows, long inner, float *out) {
    for (long r = 0; r < rows; r++) {
        const float *value = x + r * 2 * inner, *gate = value + inner;
        float *o = out + r * inner;
        long i = 0;
        for (; i + 16 <= inner; i += 16) {
            v16 g = load(gate + i);
            store(o + i, flush(load(value + i) * (g * 0.5f * (1 + verf(g * 0.70710678118654752f)))));
        }
        if (i < inner) {
            float gt[16] = {0}, vt[16] = {0}, ot[16];
            memcpy(gt, gate + i, (size_t)(inner - i) * sizeof(float));
            memcpy(vt, value + i, (size_t)(inner - i) * sizeof(float));
            v16 g = load(gt);
            store(ot, flush(load(vt) * (g * 0.5f * (1 + verf(g * 0.70710678118654752f)))));
            memcpy(o + i, ot, (size_t)(inner - i) * sizeof(float));
        }
    }
}

CLONES
void stylus_gelu(float *x, long count) {
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        v16 v = load(x + i);
        store(x + i, flush(v * 0.5f * (1 + verf(v * 0.70710678118654752f))));
    }
    if (i < count) {
        float t[16] = {0};
        memcpy(t, x + i, (size_t)(count - i) * sizeof(float));
        v16 v = load(t);
        store(t, flush(v * 0.5f * (1 + verf(v * 0.70710678118654752f))));
        memcpy(x + i, t, (size_t)(count - i) * sizeof(float));
    }
}

CLONES
void stylus_softmax_rows(float *x, long rows, long columns, long stride) {
    for (long r = 0; r < rows; r++) {
        float *row = x + r * stride;
        v16 inv = splat(1.0f / softmax_numerators(row, columns));
        long j = 0;
        for (; j + 16 <= columns; j += 16) store(row + j, flush(load(row + j) * inv));
        for (; j < columns; j++) { float p = row[j] * inv[0]; row[j] = p < 1.17549435e-38f ? 0 : p; }
    }
}

// y rows r0..<r0+R for panels p0..p0+2 (w0..w2; missing panels alias w0 and are not stored):
// R × 48 outputs in registers, summed over k. `PANEL_ROWS` sets b0..b2 to row kk of the panels.
#define LINEAR_BLOCK_OF(R, PANEL_ROWS)                                                              \
    do {                                                                                             \
        v16 c0[R], c1[R], c2[R];                                                                     \
        for (int i = 0; i < R; i++) { c0[i] = 0; c1[i] = 0; c2[i] = 0; }                             \
        const float *xr = x + r0 * k;                                                                \
        for (long kk = 0; kk < k; kk++) {                                                            \
            v16 b0, b1, b2;                                                                          \
            PANEL_ROWS;                                                                              \
            for (int i = 0; i < R; i++) {                                                            \
                v16 a = splat(xr[i * k + kk]);                                                       \
                c0[i] += a * b0;                                                                     \
                c1[i] += a * b1;                                                                     \
                c2[i] += a * b2;                                                                     \
            }                                                                                        \
        }                                                                                            \
        for (int i = 0; i < R; i++) {                                                                \
            float *out = y + (r0 + i) * n + p0 * 16;                                                 \
            v16 v[3] = {c0[i], c1[i], c2[i]};                                                        \
            for (int q = 0; q < np; q++) {                                                           \
                if (bias) v[q] += load(bias + (p0 + q) * 16);                                        \
                if (accumulate) v[q] += load(out + q * 16);                                          \
                store(out + q * 16, v[q]);                                                           \
            }                                                                                        \
        }                                                                                            \
    } while (0)

// The panels as halves, widened as they are read.
#define LINEAR_BLOCK(R) LINEAR_BLOCK_OF(R, (b0 = load_half(w0 + kk * 16), b1 = load_half(w1 + kk * 16), \
                                            b2 = load_half(w2 + kk * 16)))
// The panels already widened to floats (f0..f2, 16·k each): the same products in the same order,
// so the same bits, without three conversions per 24 products in every block of rows.
#define LINEAR_BLOCK_F32(R) LINEAR_BLOCK_OF(R, (b0 = load(f0 + kk * 16), b1 = load(f1 + kk * 16), \
                                                b2 = load(f2 + kk * 16)))
// All m rows in blocks of FULL rows (8 for the wide kernel, 6 for the narrow one), then the rest
// as one block. Each block's R must be a constant to be fully unrolled, hence a case per remainder;
// the cases from FULL up never run.
#define BLOCKS_OF_ROWS(FULL, BLOCK)                                                                 \
    do {                                                                                             \
        long r0 = 0;                                                                                 \
        for (; r0 + (FULL) <= m; r0 += (FULL)) BLOCK(FULL);                                          \
        switch (m - r0) {                                                                            \
        case 7: if ((FULL) > 7) BLOCK(7); break;                                                     \
        case 6: if ((FULL) > 6) BLOCK(6); break;                                                     \
        case 5: BLOCK(5); break;                                                                     \
        case 4: BLOCK(4); break;                                                                     \
        case 3: BLOCK(3); break;                                                                     \
        case 2: BLOCK(2); break;                                                                     \
        case 1: BLOCK(1); break;                                                                     \
        default: break;                                                                              \
        }                                                                                            \
    } while (0)

/// Rows from which both packed kernels widen their panels once rather than in every block of rows.
#define WIDEN_ROWS 24

CLONES
void stylus_pack_linear(const float *w, long n, long k, uint16_t *wp) {
    for (long p = 0; p < n / 16; p++) {
        for (long kk = 0; kk < k; kk++) {
            v16 column;
            for (int j = 0; j < 16; j++) column[j] = w[(p * 16 + j) * k + kk];
            h16 h = __builtin_convertvector(column, h16);  // round to nearest even
            memcpy(wp + p * 16 * k + kk * 16, &h, sizeof h);
        }
    }
}

CLONES
void stylus_narrow_half(const float *x, long n, uint16_t *out) {
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        h16 h = __builtin_convertvector(load(x + i), h16);  // round to nearest even
        memcpy(out + i, &h, sizeof h);
    }
    for (; i < n; i++) {
        _Float16 h = (_Float16)x[i];
        memcpy(out + i, &h, sizeof h);
    }
}

CLONES
void stylus_narrow_bf16(const float *x, long n, uint16_t *out) {
    for (long i = 0; i < n; i++) out[i] = (uint16_t)bf16_bits(x[i]);
}

// Each thread's buffer for widened panels (both packed kernels), grown as needed and kept: a kernel
// runs once per group of panels, hundreds of times per forward pass, and a fresh allocation of up
// to 300 KB would come from mmap each time.
static _Thread_local float *widened;
static _Thread_local long widened_count;

/// Makes `widened` hold at least `count` floats (64-byte aligned); false when memory is short.
static int widened_panels(long count) {
    if (widened_count >= count) return 1;
    free(widened);
    widened = aligned_alloc(64, (size_t)count * sizeof(float));
    widened_count = widened ? count : 0;
    return widened != NULL;
}

CLONES
void stylus_linear_packed(const float *x, long m, long k, const uint16_t *wp, long n, const float *bias, float *y,
                          int accumulate, long panel_begin, long panel_end) {
    for (long p0 = panel_begin; p0 < panel_end; p0 += 3) {
        const int np = panel_end - p0 < 3 ? (int)(panel_end - p0) : 3;
        const uint16_t *w0 = wp + p0 * 16 * k;
        const uint16_t *w1 = np > 1 ? w0 + 16 * k : w0;
        const uint16_t *w2 = np > 2 ? w0 + 32 * k : w0;
        if (m >= WIDEN_ROWS && widened_panels(3 * 16 * k)) {
            float *f0 = widened, *f1 = np > 1 ? f0 + 16 * k : f0, *f2 = np > 2 ? f0 + 32 * k : f0;
            for (long i = 0; i < np * 16 * k; i += 16) store(widened + i, load_half(w0 + i));
            BLOCKS_OF_ROWS(8, LINEAR_BLOCK_F32);
        } else {
            BLOCKS_OF_ROWS(8, LINEAR_BLOCK);
        }
    }
}

// y rows r0..<r0+R for one panel p (16 outputs): R × 16 outputs in registers. With AVX2's 16
// vector registers a v16 takes two, so R ≤ 6 keeps 12 accumulators, the panel and a broadcast in
// registers, and the panel (16·k halves) stays in L1 across the blocks of rows. `PANEL_ROW` reads
// row kk of the panel as 16 floats.
#define NARROW_BLOCK_OF(R, PANEL_ROW)                                                               \
    do {                                                                                             \
        v16 c[R];                                                                                    \
        for (int i = 0; i < R; i++) c[i] = 0;                                                        \
        const float *xr = x + r0 * k;                                                                \
        for (long kk = 0; kk < k; kk++) {                                                            \
            v16 b = PANEL_ROW;                                                                       \
            for (int i = 0; i < R; i++) c[i] += splat(xr[i * k + kk]) * b;                           \
        }                                                                                            \
        for (int i = 0; i < R; i++) {                                                                \
            float *out = y + (r0 + i) * n + p * 16;                                                  \
            v16 v = c[i];                                                                            \
            if (bias) v += load(bias + p * 16);                                                      \
            if (accumulate) v += load(out);                                                          \
            store(out, v);                                                                           \
        }                                                                                            \
    } while (0)

// The panel as halves, widened as it is read.
#define NARROW_BLOCK(R) NARROW_BLOCK_OF(R, load_half(w + kk * 16))
// The panel already widened to floats (`wf`, 16·k): the same products in the same order, so the
// same bits, without converting the halves again for every block of rows.
#define NARROW_BLOCK_F32(R) NARROW_BLOCK_OF(R, load(wf + kk * 16))
CLONES
void stylus_linear_packed_narrow(const float *x, long m, long k, const uint16_t *wp, long n, const float *bias, float *y,
                                 int accumulate, long panel_begin, long panel_end) {
    // Four blocks of rows or more: widen each panel once (16·k floats, in L1 or L2) and let every
    // block read floats: 9–15% faster from 36 rows (Zen, weights not in cache), the conversions
    // were that much of a long prompt's linear layers. Below 24 rows the extra pass over the panel
    // costs more than it saves. The buffer starts on a cache line, so no 32-byte load of a panel
    // row straddles two lines.
    const int widen = m >= WIDEN_ROWS && widened_panels(16 * k);
    for (long p = panel_begin; p < panel_end; p++) {
        const uint16_t *w = wp + p * 16 * k;
        if (widen) {
            float *wf = widened;
            for (long kk = 0; kk < k; kk++) store(wf + kk * 16, load_half(w + kk * 16));
            BLOCKS_OF_ROWS(6, NARROW_BLOCK_F32);
        } else {
            BLOCKS_OF_ROWS(6, NARROW_BLOCK);
        }
    }
}

// MARK: Winograd F(2×2, 3×3)

void stylus_winograd_weights(const float *w, long K, long C, long k0, long k1, float *u) {
    const long plane = K * C;
    for (long k = k0; k < k1; k++) {
        for (long c = 0; c < C; c++) {
            const float *g = w + (k * C + c) * 9;
            float t[4][3];  // G g: rows g0, (g0+g1+g2)/2, (g0−g1+g2)/2, g2
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            float *o = u + k * C + c;
            for (int i = 0; i < 4; i++) {  // (G g) G^T, the same on columns
                o[(4 * i + 0) * plane] = t[i][0];
                o[(4 * i + 1) * plane] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                o[(4 * i + 2) * plane] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                o[(4 * i + 3) * plane] = t[i][2];
            }
        }
    }
}

// The 16 transformed values B^T d B of the 4×4 input tile whose top-left is (y0, x0), zeros outside.
ALWAYS void winograd_input_tile(const float *src, long H, long W, long y0, long x0, float out[16]) {
    float d[4][4];
    if (y0 >= 0 && x0 >= 0 && y0 + 4 <= H && x0 + 4 <= W) {
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) d[i][j] = src[(y0 + i) * W + x0 + j];
    } else {
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) {
            long yy = y0 + i, xx = x0 + j;
            d[i][j] = (yy >= 0 && yy < H && xx >= 0 && xx < W) ? src[yy * W + xx] : 0;
        }
    }
    float r[4][4];  // B^T d: rows d0−d2, d1+d2, d2−d1, d1−d3
    for (int j = 0; j < 4; j++) {
        r[0][j] = d[0][j] - d[2][j];
        r[1][j] = d[1][j] + d[2][j];
        r[2][j] = d[2][j] - d[1][j];
        r[3][j] = d[1][j] - d[3][j];
    }
    for (int i = 0; i < 4; i++) {  // (B^T d) B, the same on columns
        out[4 * i + 0] = r[i][0] - r[i][2];
        out[4 * i + 1] = r[i][1] + r[i][2];
        out[4 * i + 2] = r[i][2] - r[i][1];
        out[4 * i + 3] = r[i][1] - r[i][3];
    }
}

// The input transform for channels c0..<c1 and tiles t0..<t0+tb, into vf (float) or, when vf is
// NULL, vb (bf16 bits, nearest even).
static void winograd_input(const float *x, long C, long H, long W, long t0, long tb, long c0, long c1, float *vf,
                           uint16_t *vb) {
    const long tilesX = (W + 1) / 2, perItem = (H + 1) / 2 * tilesX, plane = C * tb;
    for (long c = c0; c < c1; c++) {
        for (long t = t0; t < t0 + tb; t++) {
            const long item = t / perItem, ty = t % perItem / tilesX, tx = t % perItem % tilesX;
            float tile[16];
            winograd_input_tile(x + (item * C + c) * H * W, H, W, 2 * ty - 1, 2 * tx - 1, tile);
            const long at = c * tb + (t - t0);
            if (vf) {
                for (int e = 0; e < 16; e++) vf[e * plane + at] = tile[e];
            } else {
                for (int e = 0; e < 16; e++) vb[e * plane + at] = (uint16_t)bf16_bits(tile[e]);
            }
        }
    }
}

void stylus_winograd_input(const float *x, long C, long H, long W, long t0, long tb, long c0, long c1, float *v) {
    winograd_input(x, C, H, W, t0, tb, c0, c1, v, NULL);
}

void stylus_winograd_input_bf16(const float *x, long C, long H, long W, long t0, long tb, long c0, long c1, uint16_t *v) {
    winograd_input(x, C, H, W, t0, tb, c0, c1, NULL, v);
}

void stylus_winograd_output(const float *m, long K, long H, long W, long t0, long tb, const float *bias, long k0, long k1,
                            float *y) {
    const long tilesX = (W + 1) / 2, perItem = (H + 1) / 2 * tilesX, plane = K * tb;
    for (long k = k0; k < k1; k++) {
        const float b = bias ? bias[k] : 0;
        const float *mk = m + k * tb;
        for (long t = t0; t < t0 + tb; t++) {
            const long item = t / perItem, ty = t % perItem / tilesX, tx = t % perItem % tilesX;
            const float *e = mk + (t - t0);
            float r[2][4];  // A^T M: rows m0+m1+m2, m1−m2−m3
            for (int j = 0; j < 4; j++) {
                float m0 = e[j * plane], m1 = e[(4 + j) * plane], m2 = e[(8 + j) * plane], m3 = e[(12 + j) * plane];
                r[0][j] = m0 + m1 + m2;
                r[1][j] = m1 - m2 - m3;
            }
            float *dst = y + (item * K + k) * H * W;
            for (int i = 0; i < 2; i++) {
                long yy = 2 * ty + i;
                if (yy >= H) break;
                float o0 = r[i][0] + r[i][1] + r[i][2] + b, o1 = r[i][1] - r[i][2] - r[i][3] + b;
                dst[yy * W + 2 * tx] = o0;
                if (2 * tx + 1 < W) dst[yy * W + 2 * tx + 1] = o1;
            }
        }
    }
}

// MARK: int8 scan (retrieval)

// scores[k] = scales[r] · Σ_j q[j]·codes[r·dim + j] for the k-th row r scanned, the dot product
// exact in int32 (|Σ| ≤ dim·127²). The rows are 0..<rows, or, when `list` is not NULL, the listed
// ones (list[0..<rows]: a query restricted to one base model reads only that model's rows).

#define ROW_OF(list, k) ((list) ? (long)(list)[k] : (k))

static void scan_i8_portable(const int8_t *q, const int8_t *codes, const float *scales, const int32_t *list, long rows,
                             long dim, float *scores) {
    for (long k = 0; k < rows; k++) {
        const long r = ROW_OF(list, k);
        const int8_t *row = codes + r * dim;
        int32_t sum = 0;
        for (long j = 0; j < dim; j++) sum += (int32_t)q[j] * row[j];
        scores[k] = (float)sum * scales[r];
    }
}

#if defined(__x86_64__) && defined(__clang__)
// AVX2: codes widened to int16, pairs multiplied and summed by madd. dim % 32 == 0, dim ≤ 4096.
// `qw` is the query widened to int16.
__attribute__((target("avx2")))
static void scan_i8_avx2_wide(const int16_t *qw, const int8_t *codes, const float *scales, const int32_t *list, long rows,
                              long dim, float *scores) {
    for (long k = 0; k < rows; k++) {
        const long r = ROW_OF(list, k);
        const int8_t *row = codes + r * dim;
        __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
        for (long c = 0; c < dim; c += 32) {
            __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + c)));
            __m256i a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + c + 16)));
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, _mm256_loadu_si256((const __m256i *)(qw + c))));
            acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(a1, _mm256_loadu_si256((const __m256i *)(qw + c + 16))));
        }
        __m256i s = _mm256_add_epi32(acc0, acc1);
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
        scores[k] = (float)_mm_cvtsi128_si32(t) * scales[r];
    }
}

// Four widened queries against the same rows: each row's codes are widened once for all four,
// and the four sums reduced together. The sums are the same exact int32 as `scan_i8_avx2_wide`'s.
__attribute__((target("avx2")))
static void scan_i8_avx2_four(const int16_t *const q[4], const int8_t *codes, const float *scales, const int32_t *list,
                              long rows, long dim, float *const scores[4]) {
    for (long k = 0; k < rows; k++) {
        const long r = ROW_OF(list, k);
        const int8_t *row = codes + r * dim;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (long c = 0; c < dim; c += 16) {
            const __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + c)));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x, _mm256_loadu_si256((const __m256i *)(q[0] + c))));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x, _mm256_loadu_si256((const __m256i *)(q[1] + c))));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(x, _mm256_loadu_si256((const __m256i *)(q[2] + c))));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(x, _mm256_loadu_si256((const __m256i *)(q[3] + c))));
        }
        // Pairwise adds leave lane i of each half with partial sums of query i; the halves add to the four sums.
        const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
        const __m128i t = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        const float scale = scales[r];
        scores[0][k] = (float)_mm_extract_epi32(t, 0) * scale;
        scores[1][k] = (float)_mm_extract_epi32(t, 1) * scale;
        scores[2][k] = (float)_mm_extract_epi32(t, 2) * scale;
        scores[3][k] = (float)_mm_extract_epi32(t, 3) * scale;
    }
}

__attribute__((target("avx2")))
static void scan_i8_avx2(const int8_t *q, const int8_t *codes, const float *scales, const int32_t *list, long rows, long dim,
                         float *scores) {
    int16_t qw[4096];
    for (long j = 0; j < dim; j++) qw[j] = q[j];
    scan_i8_avx2_wide(qw, codes, scales, list, rows, dim, scores);
}

// AVX-512 VNNI: vpdpbusd multiplies unsigned by signed bytes, 4 per int32 lane, so the codes are
// read as c + 128 (flip the sign bit) and 128 · Σq is taken off again. dim % 64 == 0.
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void scan_i8_vnni(const int8_t *q, const int8_t *codes, const float *scales, const int32_t *list, long rows, long dim,
                         float *scores) {
    int32_t qsum = 0;
    for (long j = 0; j < dim; j++) qsum += q[j];
    const int32_t offset = 128 * qsum;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    long k = 0;
    for (; k + 4 <= rows; k += 4) {  // 4 rows at a time: 4 independent accumulation chains
        const long r0 = ROW_OF(list, k), r1 = ROW_OF(list, k + 1), r2 = ROW_OF(list, k + 2), r3 = ROW_OF(list, k + 3);
        const int8_t *p0 = codes + r0 * dim, *p1 = codes + r1 * dim, *p2 = codes + r2 * dim, *p3 = codes + r3 * dim;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        for (long c = 0; c < dim; c += 64) {
            __m512i qv = _mm512_loadu_si512(q + c);
            a0 = _mm512_dpbusd_epi32(a0, _mm512_xor_si512(_mm512_loadu_si512(p0 + c), flip), qv);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_xor_si512(_mm512_loadu_si512(p1 + c), flip), qv);
            a2 = _mm512_dpbusd_epi32(a2, _mm512_xor_si512(_mm512_loadu_si512(p2 + c), flip), qv);
            a3 = _mm512_dpbusd_epi32(a3, _mm512_xor_si512(_mm512_loadu_si512(p3 + c), flip), qv);
        }
        scores[k] = (float)(_mm512_reduce_add_epi32(a0) - offset) * scales[r0];
        scores[k + 1] = (float)(_mm512_reduce_add_epi32(a1) - offset) * scales[r1];
        scores[k + 2] = (float)(_mm512_reduce_add_epi32(a2) - offset) * scales[r2];
        scores[k + 3] = (float)(_mm512_reduce_add_epi32(a3) - offset) * scales[r3];
    }
    for (; k < rows; k++) {
        const long r = ROW_OF(list, k);
        const int8_t *p = codes + r * dim;
        __m512i a0 = _mm512_setzero_si512();
        for (long c = 0; c < dim; c += 64)
            a0 = _mm512_dpbusd_epi32(a0, _mm512_xor_si512(_mm512_loadu_si512(p + c), flip), _mm512_loadu_si512(q + c));
        scores[k] = (float)(_mm512_reduce_add_epi32(a0) - offset) * scales[r];
    }
}
#endif

int stylus_scan_i8_best_level(long dim) {
#if defined(__x86_64__) && defined(__clang__)
    __builtin_cpu_init();
    if (dim % 64 == 0 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) return 2;
    if (dim % 32 == 0 && dim <= 4096 && __builtin_cpu_supports("avx2")) return 1;
#endif
    (void)dim;
    return 0;
}

static void scan_one(const int8_t *q, const int8_t *codes, const float *scales, const int32_t *list, long rows, long dim,
                     float *scores, int level) {
#if defined(__x86_64__) && defined(__clang__)
    if (level >= 2 && dim % 64 == 0) { scan_i8_vnni(q, codes, scales, list, rows, dim, scores); return; }
    if (level >= 1 && dim % 32 == 0 && dim <= 4096) { scan_i8_avx2(q, codes, scales, list, rows, dim, scores); return; }
#endif
    (void)level;
    scan_i8_portable(q, codes, scales, list, rows, dim, scores);
}

void stylus_scan_i8(const int8_t *q, const int8_t *codes, const float *scales, long rows, long dim, float *scores, int level) {
    scan_one(q, codes, scales, NULL, rows, dim, scores, level);
}

// Rows per block of the many-query scans: 48 KB of codes at dim 384, so a block read from memory
// by the first query is still in L2 (512 KB per core on Zen 2, 1–2 MB on recent Intel) for the rest.
static long scan_block_rows(long dim) { return dim >= 49152 ? 1 : 49152 / dim; }

static void scan_many(const int8_t *q, long nq, const int8_t *codes, const float *scales, const int32_t *list, long rows,
                      long dim, float *scores, long stride, int level) {
    const long block = scan_block_rows(dim);
#if defined(__x86_64__) && defined(__clang__)
    if (level == 1 && dim % 32 == 0 && dim <= 4096) {
        int16_t *qw = malloc((size_t)(nq * dim) * sizeof(int16_t));  // every query widened once
        if (qw) {
            for (long j = 0; j < nq * dim; j++) qw[j] = q[j];
            for (long k0 = 0; k0 < rows; k0 += block) {
                const long n = rows - k0 < block ? rows - k0 : block;
                // The block's rows: contiguous from k0, or the listed ones from list + k0.
                const int8_t *c = list ? codes : codes + k0 * dim;
                const float *s = list ? scales : scales + k0;
                const int32_t *l = list ? list + k0 : NULL;
                long i = 0;
                for (; i + 4 <= nq; i += 4) {
                    const int16_t *const four[4] = {qw + i * dim, qw + (i + 1) * dim, qw + (i + 2) * dim, qw + (i + 3) * dim};
                    float *const out[4] = {scores + i * stride + k0, scores + (i + 1) * stride + k0,
                                           scores + (i + 2) * stride + k0, scores + (i + 3) * stride + k0};
                    scan_i8_avx2_four(four, c, s, l, n, dim, out);
                }
                for (; i < nq; i++) scan_i8_avx2_wide(qw + i * dim, c, s, l, n, dim, scores + i * stride + k0);
            }
            free(qw);
            return;
        }
    }
#endif
    for (long k0 = 0; k0 < rows; k0 += block) {
        const long n = rows - k0 < block ? rows - k0 : block;
        const int8_t *c = list ? codes : codes + k0 * dim;
        const float *s = list ? scales : scales + k0;
        const int32_t *l = list ? list + k0 : NULL;
        for (long i = 0; i < nq; i++) scan_one(q + i * dim, c, s, l, n, dim, scores + i * stride + k0, level);
    }
}

void stylus_scan_i8_many(const int8_t *q, long nq, const int8_t *codes, const float *scales, long rows, long dim,
                         float *scores, long stride, int level) {
    scan_many(q, nq, codes, scales, NULL, rows, dim, scores, stride, level);
}

void stylus_scan_i8_many_listed(const int8_t *q, long nq, const int8_t *codes, const float *scales, const int32_t *list,
                                long count, long dim, float *scores, long stride, int level) {
    scan_many(q, nq, codes, scales, list, count, dim, scores, stride, level);
}

// MARK: checksum

void stylus_checksum_init(stylus_checksum_state *s) { memset(s, 0, sizeof *s); }

CLONES
void stylus_checksum_update(stylus_checksum_state *s, const void *p, long n) {
    const uint8_t *bytes = p;
    uint64_t a[8], b[8];
    memcpy(a, s->a, sizeof a);
    memcpy(b, s->b, sizeof b);
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        uint32_t w[8];
        memcpy(w, bytes + i, sizeof w);
        for (int l = 0; l < 8; l++) { a[l] += w[l]; b[l] += a[l]; }
    }
    // The tail (only in the last piece): byte by byte into lane 0 with its position.
    for (; i < n; i++) { a[0] += (uint64_t)bytes[i] + 1; b[0] += a[0] * (uint64_t)(i + 1); }
    memcpy(s->a, a, sizeof a);
    memcpy(s->b, b, sizeof b);
    s->length += (uint64_t)n;
}

static uint64_t checksum_mix(uint64_t h) {
    h ^= h >> 33; h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t stylus_checksum_final(const stylus_checksum_state *s, uint64_t seed) {
    uint64_t h = checksum_mix(seed ^ 0x9e3779b97f4a7c15ULL);
    for (int l = 0; l < 8; l++) {
        h = checksum_mix(h ^ s->a[l]) + (uint64_t)l;
        h = checksum_mix(h ^ s->b[l]);
    }
    return checksum_mix(h ^ s->length);
}
