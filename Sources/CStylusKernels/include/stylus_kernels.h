// Hand-vectorised fp32 kernels for the renderer's attention and GEGLU, where sgemm calls on
// 40-wide heads spend more time packing operands than multiplying, and where Swift's baseline
// x86-64 (SSE2) code makes exp the bottleneck. Each function is compiled for AVX-512, AVX2+FMA
// and baseline x86-64 and picked at load time (target_clones). Row-major; all pointers are
// non-overlapping unless stated.
#ifndef STYLUS_KERNELS_H
#define STYLUS_KERNELS_H

#include <stddef.h>

/// Attention for `rows` query rows of one head:
///   out[r, 0..<d] = softmax_j(scale · q[r]·k[j]) · v[j]   for j < m.
/// q: rows × d, row stride ldq. kt: the head's keys in panels of 32: key j, component c at
/// kt[(j / 32)·32·d + c·32 + j % 32], for j < stylus_attention_padded_keys(m) (padding keys zero).
/// vp: the head's values, m × dp (row stride dp = stylus_attention_padded_width(d), columns ≥ d zero).
/// scratch: stylus_attention_scratch(rows, m, d) floats. out: rows × d, row stride ldo.
/// Cost grows with rows · m (scores are kept for all rows): call it on blocks of about 64 rows.
void stylus_attention_rows(const float *q, long ldq, const float *kt, const float *vp, long rows, long m, long d,
                           float scale, float *scratch, float *out, long ldo);

/// Keys rounded up to whole panels of `kt`.
long stylus_attention_padded_keys(long m);

/// Row width of the padded value matrix `vp` for head width d.
long stylus_attention_padded_width(long d);

/// Scratch floats `stylus_attention_rows` needs for `rows` query rows, m keys, head width d.
long stylus_attention_scratch(long rows, long m, long d);

/// GEGLU of `rows` rows: out[r, i] = x[r, i] · gelu(x[r, inner + i]) (erf GELU), x rows are 2·inner
/// wide, out rows inner wide.
void stylus_geglu(const float *x, long rows, long inner, float *out);

// Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions with padding 1 (NCHW). A transform
// position ξ = 4·row + column of the 4×4 tile domain. Tiles are numbered over the whole batch:
// t = item · tilesPerItem + ty · tilesX + tx, covering output rows 2ty, 2ty+1 and columns 2tx, 2tx+1.

/// u[ξ][k][c] = (G g G^T)[ξ] for output channels k0..<k1, g = w[k][c] (3×3), u has K·C per ξ.
void stylus_winograd_weights(const float *w, long K, long C, long k0, long k1, float *u);

/// v[ξ][c][t − t0] = (B^T d B)[ξ] for channels c0..<c1 and tiles t0..<t0+tb, d the tile's 4×4
/// input patch (zero outside the image). x: the batch, C × H × W per item; v has C·tb per ξ.
void stylus_winograd_input(const float *x, long C, long H, long W, long t0, long tb, long c0, long c1, float *v);

/// y[item][k][2ty+i][2tx+j] = (A^T m A)[i][j] + bias[k] for channels k0..<k1 and tiles t0..<t0+tb
/// (outputs past H × W dropped); m[ξ][k][t − t0] has K·tb per ξ; bias may be NULL.
void stylus_winograd_output(const float *m, long K, long H, long W, long t0, long tb, const float *bias, long k0, long k1,
                            float *y);

#endif
