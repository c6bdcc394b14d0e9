// Hand-vectorised kernels: the renderer's attention and GEGLU, where sgemm calls on 40-wide
// heads spend more time packing operands than multiplying; GELU and softmax, where Swift's
// baseline x86-64 (SSE2) code calls libm's erf and exp lane by lane; the encoder's linear layers
// for short prompts; and retrieval's scan over int8 vectors. The fp32 functions are compiled for
// AVX-512, AVX2+FMA and baseline x86-64 and picked at load time (target_clones); the scan picks
// its path by a level the caller passes. Row-major; all pointers are non-overlapping unless stated.
#ifndef STYLUS_KERNELS_H
#define STYLUS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Attention for `rows` query rows of one head:
///   out[r, 0..<d] = softmax_j(scale · q[r]·k[j]) · v[j]   for j < m.
/// q: rows × d, row stride ldq. kt: the head's keys in panels of 32: key j, component c at
/// kt[(j / 32)·32·d + c·32 + j % 32], for j < stylus_attention_padded_keys(m) (padding keys zero).
/// vp: the head's values, m × dp (row stride dp = stylus_attention_padded_width(d), columns ≥ d zero).
/// scratch: stylus_attention_scratch(rows, m, d) floats. out: rows × d, row stride ldo.
/// Cost grows with rows · m (scores are kept for all rows): call it on blocks of about 64 rows.
void stylus_attention_rows(const float *q, long ldq, const float *kt, const float *vp, long rows, long m, long d,
                           float scale, float *scratch, float *out, long ldo);

/// Attention of one head over one short text, reading Q, K and V in place (rows `ld` floats apart):
///   out[i, 0..<d] = softmax_j(scale · q[i]·k[j]) · v[j]   for i, j < m.
/// For the few-token texts the sentence encoder embeds, where an sgemm call per (text, head) costs
/// more than its product. d must be a multiple of 16; scores: m floats of scratch.
void stylus_attention_short(const float *q, const float *k, const float *v, long ld, long m, long d, float scale,
                            float *scores, float *out, long ldo);

/// Keys rounded up to whole panels of `kt`.
long stylus_attention_padded_keys(long m);

/// Row width of the padded value matrix `vp` for head width d.
long stylus_attention_padded_width(long d);

/// Scratch floats `stylus_attention_rows` needs for `rows` query rows, m keys, head width d.
long stylus_attention_scratch(long rows, long m, long d);

/// The bf16 form of `stylus_attention_rows` (AVX512-BF16; check `stylus_attention_bf16_supported`):
/// q·k and p·v products of bf16 values accumulated in float, softmax in float. `packed` is one
/// head from `stylus_attention_pack_bf16`; scratch holds `stylus_attention_bf16_scratch` floats.
void stylus_attention_rows_bf16(const float *q, long ldq, const uint32_t *packed, long rows, long m, long d, float scale,
                                float *scratch, float *out, long ldo);

/// One head's keys and values (m rows `ld` apart, d wide) as bf16 pairs: key panels of 32 keys ×
/// ⌈d/2⌉ component pairs, then ⌈m/2⌉ key pairs × padded width of values; zero past m and d.
void stylus_attention_pack_bf16(const float *keys, const float *values, long ld, long m, long d, uint32_t *out);

/// 32-bit words `stylus_attention_pack_bf16` writes for m keys of width d.
long stylus_attention_bf16_packed(long m, long d);

/// Scratch floats `stylus_attention_rows_bf16` needs.
long stylus_attention_bf16_scratch(long rows, long m, long d);

/// Whether this CPU runs `stylus_attention_rows_bf16` (AVX512-BF16).
int stylus_attention_bf16_supported(void);

/// GEGLU of `rows` rows: out[r, i] = x[r, i] · gelu(x[r, inner + i]) (erf GELU), x rows are 2·inner
/// wide, out rows inner wide.
void stylus_geglu(const float *x, long rows, long inner, float *out);

/// erf GELU in place: x · ½(1 + erf(x/√2)), erf to within 1.5e-7.
void stylus_gelu(float *x, long count);

/// Softmax of each of `rows` rows of `columns` floats in place; rows start `stride` floats apart.
void stylus_softmax_rows(float *x, long rows, long columns, long stride);

/// Linear layer for a few dozen rows, y = x · Wᵀ + bias (or y += that when `accumulate`), where
/// BLAS spends most of its time packing W on every call. W (n × k) is packed once, as IEEE half
/// bits (half the bytes to stream from memory per call), into panels of 16 output columns: panel
/// p holds W[16p + j][kk] at wp[p·16·k + kk·16 + j]. Sums are in fp32. Computes the outputs of
/// panels [panel_begin, panel_end) for all m rows, 8 rows × 3 panels per register block; bias may
/// be NULL. Fast with AVX-512 (32 vector registers, vcvtph2ps); correct on any x86-64.
void stylus_linear_packed(const float *x, long m, long k, const uint16_t *wp, long n, const float *bias, float *y,
                          int accumulate, long panel_begin, long panel_end);

/// The same product in register blocks of up to 6 rows × 1 panel, for CPUs with 16 vector
/// registers (AVX2 + F16C), where the 8 × 3 blocks above would spill.
void stylus_linear_packed_narrow(const float *x, long m, long k, const uint16_t *wp, long n, const float *bias, float *y,
                                 int accumulate, long panel_begin, long panel_end);

/// Packs W (n × k, row-major fp32, n a multiple of 16) for `stylus_linear_packed`: n·k halves,
/// rounded to nearest.
void stylus_pack_linear(const float *w, long n, long k, uint16_t *wp);

/// Rounds n floats to IEEE halves (nearest even; beyond ±65504 becomes ±inf): LoRA merges into
/// weights kept in half precision.
void stylus_narrow_half(const float *x, long n, uint16_t *out);

/// Rounds n finite floats to bfloat16 (nearest even).
void stylus_narrow_bf16(const float *x, long n, uint16_t *out);

/// Retrieval's dense scan over int8 vectors: scores[r] = scales[r] · Σ_j q[j]·codes[r·dim + j]
/// for `rows` rows of `dim` codes (the sum exact in int32). `level` picks the code path: 2 AVX-512
/// VNNI, 1 AVX2, 0 portable C; a level the CPU or dim does not allow must not be passed (use
/// `stylus_scan_i8_best_level`).
void stylus_scan_i8(const int8_t *q, const int8_t *codes, const float *scales, long rows, long dim, float *scores, int level);

/// `stylus_scan_i8` for `nq` queries (q: nq × dim codes) over the same rows, the scores of query i
/// at scores + i·stride (the same values). The rows are read from memory once for all the queries,
/// in blocks that stay in cache while each query scans them, instead of once per query.
void stylus_scan_i8_many(const int8_t *q, long nq, const int8_t *codes, const float *scales, long rows, long dim,
                         float *scores, long stride, int level);

/// `stylus_scan_i8_many` over the `count` rows listed in `list` (row numbers of codes and scales):
/// the score of query i for the k-th listed row at scores[i·stride + k]. A query restricted to one
/// base model scans only that model's rows.
void stylus_scan_i8_many_listed(const int8_t *q, long nq, const int8_t *codes, const float *scales, const int32_t *list,
                                long count, long dim, float *scores, long stride, int level);

/// The fastest `stylus_scan_i8` level this CPU runs for vectors of `dim` codes.
int stylus_scan_i8_best_level(long dim);

// Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions with padding 1 (NCHW). A transform
// position ξ = 4·row + column of the 4×4 tile domain. Tiles are numbered over the whole batch:
// t = item · tilesPerItem + ty · tilesX + tx, covering output rows 2ty, 2ty+1 and columns 2tx, 2tx+1.

/// u[ξ][k][c] = (G g G^T)[ξ] for output channels k0..<k1, g = w[k][c] (3×3), u has K·C per ξ.
void stylus_winograd_weights(const float *w, long K, long C, long k0, long k1, float *u);

/// v[ξ][c][t − t0] = (B^T d B)[ξ] for channels c0..<c1 and tiles t0..<t0+tb, d the tile's 4×4
/// input patch (zero outside the image). x: the batch, C × H × W per item; v has C·tb per ξ.
void stylus_winograd_input(const float *x, long C, long H, long W, long t0, long tb, long c0, long c1, float *v);

/// `stylus_winograd_input` with v rounded to bfloat16 bits (nearest even), for bf16 products.
void stylus_winograd_input_bf16(const float *x, long C, long H, long W, long t0, long tb, long c0, long c1, uint16_t *v);

/// y[item][k][2ty+i][2tx+j] = (A^T m A)[i][j] + bias[k] for channels k0..<k1 and tiles t0..<t0+tb
/// (outputs past H × W dropped); m[ξ][k][t − t0] has K·tb per ξ; bias may be NULL.
void stylus_winograd_output(const float *m, long K, long H, long W, long t0, long tb, const float *bias, long k0, long k1,
                            float *y);

#endif

/// A 64-bit checksum of n bytes for detecting damaged files (not a cryptographic hash): eight
/// lanes of Fletcher sums over little-endian 32-bit words (each lane a running sum and a sum of
/// sums, so a change of any byte and of the order of words shows), the tail bytes, the length and
/// `seed` mixed at the end. Runs at memory speed. `stylus_checksum64(p, n, s)` over a buffer equals
/// chaining it over consecutive pieces whose lengths are multiples of 32 bytes, passing the
/// previous state: see `stylus_checksum_state`.
typedef struct { uint64_t a[8], b[8]; uint64_t length; } stylus_checksum_state;
void stylus_checksum_init(stylus_checksum_state *s);
/// Adds `n` bytes (a multiple of 32 except for the last piece) to the state.
void stylus_checksum_update(stylus_checksum_state *s, const void *p, long n);
uint64_t stylus_checksum_final(const stylus_checksum_state *s, uint64_t seed);
