// oneDNN's C API through dlopen: only bf16 renders load it, and without it the fp32 paths stay.
// Primitives are created once per product shape and kept; products run one at a time (each
// already spreads over every core with oneDNN's OpenMP threads).
#include "stylus_bf16.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define API(name) static __typeof__(name) *p_##name
API(dnnl_set_max_cpu_isa);
API(dnnl_get_effective_cpu_isa);
API(dnnl_engine_create);
API(dnnl_stream_create);
API(dnnl_memory_desc_init_by_strides);
API(dnnl_matmul_desc_init);
API(dnnl_primitive_attr_create);
API(dnnl_primitive_attr_destroy);
API(dnnl_post_ops_create);
API(dnnl_post_ops_append_sum);
API(dnnl_post_ops_destroy);
API(dnnl_primitive_attr_set_post_ops);
API(dnnl_primitive_desc_create);
API(dnnl_primitive_desc_destroy);
API(dnnl_primitive_desc_query);
API(dnnl_primitive_create);
API(dnnl_memory_create);
API(dnnl_memory_destroy);
API(dnnl_primitive_execute);
API(dnnl_stream_wait);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded = 0;
static stylus_bf16_isa loaded_isa = stylus_bf16_isa_unavailable;
static const char *load_error = NULL;
static dnnl_engine_t engine;
static dnnl_stream_t stream;

typedef struct {
    long m, n, k, lda, ldb, ldc;
    int ta, tb, accumulate;
    dnnl_primitive_t primitive;
    const char *implementation;
} entry;
static entry *cache = NULL;
static long cached = 0, capacity = 0;

static stylus_bf16_isa load(stylus_bf16_cap cap, long threads) {
    // OpenMP threads sleep between products instead of spinning: the renderer's own workers
    // run the element-wise layers in between on the same cores. Read by libgomp when it loads.
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    void *lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        load_error = "libdnnl.so.2 (oneDNN) is not installed; on Debian: apt install libdnnl2";
        return stylus_bf16_isa_unavailable;
    }
#define LOAD(name)                                         \
    if (!(p_##name = (__typeof__(name) *)dlsym(lib, #name))) { \
        load_error = "libdnnl.so.2 lacks " #name;          \
        return stylus_bf16_isa_unavailable;                \
    }
    LOAD(dnnl_set_max_cpu_isa) LOAD(dnnl_get_effective_cpu_isa) LOAD(dnnl_engine_create) LOAD(dnnl_stream_create)
    LOAD(dnnl_memory_desc_init_by_strides) LOAD(dnnl_matmul_desc_init) LOAD(dnnl_primitive_attr_create)
    LOAD(dnnl_primitive_attr_destroy) LOAD(dnnl_post_ops_create) LOAD(dnnl_post_ops_append_sum)
    LOAD(dnnl_post_ops_destroy) LOAD(dnnl_primitive_attr_set_post_ops) LOAD(dnnl_primitive_desc_create)
    LOAD(dnnl_primitive_desc_destroy) LOAD(dnnl_primitive_desc_query) LOAD(dnnl_primitive_create)
    LOAD(dnnl_memory_create) LOAD(dnnl_memory_destroy) LOAD(dnnl_primitive_execute) LOAD(dnnl_stream_wait)
#undef LOAD
    // libgomp came in with libdnnl; its thread count is per process.
    void (*set_threads)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (!set_threads) set_threads = (void (*)(int))dlsym(lib, "omp_set_num_threads");
    if (set_threads && threads > 0) set_threads((int)threads);
    if (cap == stylus_bf16_cap_avx512) p_dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx512_core_bf16);
    if (cap == stylus_bf16_cap_amx) p_dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx512_core_amx);
    dnnl_cpu_isa_t isa = p_dnnl_get_effective_cpu_isa();
    stylus_bf16_isa found = (isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx ? stylus_bf16_isa_amx
        : (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16 ? stylus_bf16_isa_avx512
        : stylus_bf16_isa_unavailable;
    if (found == stylus_bf16_isa_unavailable) {
        load_error = "this CPU has neither AVX512-BF16 nor AMX-BF16";
        return found;
    }
    if (p_dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success ||
        p_dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        load_error = "oneDNN could not create a CPU engine";
        return stylus_bf16_isa_unavailable;
    }
    return found;
}

stylus_bf16_isa stylus_bf16_load(stylus_bf16_cap cap, long threads, const char **error) {
    pthread_mutex_lock(&lock);
    if (!loaded) {
        loaded_isa = load(cap, threads);
        loaded = 1;
    }
    stylus_bf16_isa isa = loaded_isa;
    if (error) *error = load_error;
    pthread_mutex_unlock(&lock);
    return isa;
}

static dnnl_status_t describe(dnnl_memory_desc_t *md, long rows, long columns, long ld, int transposed,
                              dnnl_data_type_t type) {
    dnnl_dims_t dims = {rows, columns};
    dnnl_dims_t strides = {transposed ? 1 : ld, transposed ? ld : 1};
    return p_dnnl_memory_desc_init_by_strides(md, 2, dims, type, strides);
}

// The cached primitive for these sizes (made on first use); NULL on failure with *status set.
static entry *primitive(long m, long n, long k, long lda, int ta, long ldb, int tb, long ldc, int accumulate,
                        dnnl_status_t *status) {
    for (long i = 0; i < cached; i++) {
        entry *e = cache + i;
        if (e->m == m && e->n == n && e->k == k && e->lda == lda && e->ldb == ldb && e->ldc == ldc && e->ta == ta &&
            e->tb == tb && e->accumulate == accumulate)
            return e;
    }
    dnnl_memory_desc_t a, b, c;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    if ((*status = describe(&a, m, k, lda, ta, dnnl_bf16)) != dnnl_success) return NULL;
    if ((*status = describe(&b, k, n, ldb, tb, dnnl_bf16)) != dnnl_success) return NULL;
    if ((*status = describe(&c, m, n, ldc, 0, dnnl_f32)) != dnnl_success) return NULL;
    if ((*status = p_dnnl_matmul_desc_init(&desc, &a, &b, NULL, &c)) != dnnl_success) return NULL;
    if ((*status = p_dnnl_primitive_attr_create(&attr)) != dnnl_success) return NULL;
    if (accumulate) {
        if ((*status = p_dnnl_post_ops_create(&ops)) == dnnl_success &&
            (*status = p_dnnl_post_ops_append_sum(ops, 1.0f)) == dnnl_success)
            *status = p_dnnl_primitive_attr_set_post_ops(attr, ops);
        if (ops) p_dnnl_post_ops_destroy(ops);
        if (*status != dnnl_success) {
            p_dnnl_primitive_attr_destroy(attr);
            return NULL;
        }
    }
    *status = p_dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
    p_dnnl_primitive_attr_destroy(attr);
    if (*status != dnnl_success) return NULL;
    const char *implementation = "unknown";
    p_dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &implementation);
    *status = p_dnnl_primitive_create(&p, pd);
    p_dnnl_primitive_desc_destroy(pd);
    if (*status != dnnl_success) return NULL;
    if (cached == capacity) {
        long grown = capacity ? 2 * capacity : 64;
        entry *bigger = realloc(cache, grown * sizeof *cache);
        if (!bigger) {
            *status = dnnl_out_of_memory;
            return NULL;
        }
        cache = bigger;
        capacity = grown;
    }
    // The implementation string belongs to the descriptor: keep a copy.
    char *name = strdup(implementation);
    cache[cached] = (entry){m, n, k, lda, ldb, ldc, ta, tb, accumulate, p, name ? name : "unknown"};
    return cache + cached++;
}

int stylus_bf16_gemm(long m, long n, long k, const uint16_t *a, long lda, int transpose_a, const uint16_t *b,
                     long ldb, int transpose_b, float *c, long ldc, int accumulate) {
    if (m <= 0 || n <= 0) return 0;
    pthread_mutex_lock(&lock);
    if (loaded_isa == stylus_bf16_isa_unavailable) {
        pthread_mutex_unlock(&lock);
        return -1;
    }
    dnnl_status_t status = dnnl_success;
    entry *e = primitive(m, n, k, lda, transpose_a != 0, ldb, transpose_b != 0, ldc, accumulate != 0, &status);
    if (e) {
        dnnl_memory_desc_t da, db, dc;
        dnnl_memory_t ma = NULL, mb = NULL, mc = NULL;
        describe(&da, m, k, lda, transpose_a != 0, dnnl_bf16);
        describe(&db, k, n, ldb, transpose_b != 0, dnnl_bf16);
        describe(&dc, m, n, ldc, 0, dnnl_f32);
        if ((status = p_dnnl_memory_create(&ma, &da, engine, (void *)a)) == dnnl_success &&
            (status = p_dnnl_memory_create(&mb, &db, engine, (void *)b)) == dnnl_success &&
            (status = p_dnnl_memory_create(&mc, &dc, engine, c)) == dnnl_success) {
            dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
            status = p_dnnl_primitive_execute(e->primitive, stream, 3, args);
            if (status == dnnl_success) status = p_dnnl_stream_wait(stream);
        }
        if (ma) p_dnnl_memory_destroy(ma);
        if (mb) p_dnnl_memory_destroy(mb);
        if (mc) p_dnnl_memory_destroy(mc);
    }
    pthread_mutex_unlock(&lock);
    return status == dnnl_success ? 0 : (int)status;
}

const char *stylus_bf16_implementation(long m, long n, long k, int transpose_a, int transpose_b) {
    const char *name = NULL;
    pthread_mutex_lock(&lock);
    for (long i = cached - 1; i >= 0 && !name; i--) {
        entry *e = cache + i;
        if (e->m == m && e->n == n && e->k == k && e->ta == (transpose_a != 0) && e->tb == (transpose_b != 0))
            name = e->implementation;
    }
    pthread_mutex_unlock(&lock);
    return name;
}
