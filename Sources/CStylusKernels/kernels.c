#include "stylus_kernels.h"

#include <string.h>

// One source, three instruction sets: the loops are written on 16-lane vectors (one AVX-512
// register, two AVX2 ones, four SSE ones) and the loader picks the best clone for the CPU.
#if defined(__x86_64__) && defined(__linux__) && defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

typedef float v16 __attribute__((ext_vector_type(16)));
typedef int i16 __attribute__((ext_vector_type(16)));

#define ALWAYS static inline __attribute__((always_inline))

// Helpers are macros, not functions: a 16-lane vector passed to a function would need one ABI
// per instruction set.
#define load(p) ({ v16 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define store(p, v) ({ v16 s_ = (v); memcpy((p), &s_, sizeof s_); })
#define splat(x) ((v16)(float)(x))

/// exp for x ≤ 88: 2^n · p(r), x = n·ln2 + r, |r| ≤ ln2/2, p degree 7 (relative error ≈ 1e-7).
/// Inputs below −87.3 give ≈ 0 (they are clamped).
#define vexp(xin) ({                                                                                 \
    v16 x_ = (xin);                                                                                  \
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
    p_ * (v16)((ni_ + 127) << 23);                                                                   \
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

/// Softmax numerators of one row in place (exp(x − max)); returns their sum. The row has 16
/// spare floats past m.
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
        for (long t = m; t < j + 16; t++) row[t] = -__builtin_inff();
        v16 e = vexp(load(row + j) - mx);
        for (long t = j; t < m; t++) { row[t] = e[t - j]; total += e[t - j]; }
    }
    return total;
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

CLONES
void stylus_geglu(const float *x, long rows, long inner, float *out) {
    for (long r = 0; r < rows; r++) {
        const float *value = x + r * 2 * inner, *gate = value + inner;
        float *o = out + r * inner;
        long i = 0;
        for (; i + 16 <= inner; i += 16) {
            v16 g = load(gate + i);
            store(o + i, load(value + i) * (g * 0.5f * (1 + verf(g * 0.70710678118654752f))));
        }
        if (i < inner) {
            float gt[16] = {0}, vt[16] = {0}, ot[16];
            memcpy(gt, gate + i, (size_t)(inner - i) * sizeof(float));
            memcpy(vt, value + i, (size_t)(inner - i) * sizeof(float));
            v16 g = load(gt);
            store(ot, load(vt) * (g * 0.5f * (1 + verf(g * 0.70710678118654752f))));
            memcpy(o + i, ot, (size_t)(inner - i) * sizeof(float));
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

void stylus_winograd_input(const float *x, long C, long H, long W, long t0, long tb, long c0, long c1, float *v) {
    const long tilesX = (W + 1) / 2, perItem = (H + 1) / 2 * tilesX, plane = C * tb;
    for (long c = c0; c < c1; c++) {
        float *vc = v + c * tb;
        for (long t = t0; t < t0 + tb; t++) {
            const long item = t / perItem, ty = t % perItem / tilesX, tx = t % perItem % tilesX;
            const float *src = x + (item * C + c) * H * W;
            const long y0 = 2 * ty - 1, x0 = 2 * tx - 1;
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
            float *o = vc + (t - t0);
            for (int i = 0; i < 4; i++) {  // (B^T d) B, the same on columns
                o[(4 * i + 0) * plane] = r[i][0] - r[i][2];
                o[(4 * i + 1) * plane] = r[i][1] + r[i][2];
                o[(4 * i + 2) * plane] = r[i][2] - r[i][1];
                o[(4 * i + 3) * plane] = r[i][1] - r[i][3];
            }
        }
    }
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
