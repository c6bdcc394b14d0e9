#include "stylus_parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

// Workers spin this long for the next job before they sleep: one short prompt runs ~40 parallel
// steps a few dozen microseconds apart, and waking a sleeping thread costs about as much as a step.
#define SPIN_NANOSECONDS 200000L

// The job in progress is one 64-bit ticket: generation (32 bits) | parts (16) | next part (16).
// A thread claims a part by compare-and-swap on the whole ticket, so it can only ever claim a part
// of the generation it read, and the job's function and context (written before the ticket was
// published) stay valid until every claimed part has finished.
#define TICKET(generation, parts, next) (((uint64_t)(generation) << 32) | ((uint64_t)(parts) << 16) | (uint64_t)(next))
#define GENERATION(t) ((uint32_t)((t) >> 32))
#define PARTS(t) ((long)(((t) >> 16) & 0xFFFF))
#define NEXT(t) ((long)((t) & 0xFFFF))

static struct {
    pthread_mutex_t busy;  // held by the caller whose job is running; other callers run serially
    pthread_mutex_t lock;  // guards sleeping and waking
    pthread_cond_t wake;
    _Atomic uint64_t ticket;
    _Atomic long done;
    _Atomic int sleepers;
    stylus_part_fn fn;
    void *context;
    uint32_t generation;  // last published (caller side, under `busy`)
    _Atomic long workers;  // read by callers that skip pthread_once (one thread asked for)
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static pthread_once_t started = PTHREAD_ONCE_INIT;
static _Atomic long requested_threads = 1;  // concurrent first callers may all write it

static inline void pause_briefly(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/// Claims and runs parts of generation `generation` until none are left.
static void run_parts(uint32_t generation) {
    uint64_t t = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    while (GENERATION(t) == generation && NEXT(t) < PARTS(t)) {
        if (atomic_compare_exchange_weak_explicit(&pool.ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire)) {
            pool.fn(pool.context, NEXT(t));
            atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
            t = atomic_load_explicit(&pool.ticket, memory_order_acquire);
        }
    }
}

static void *worker(void *unused) {
    (void)unused;
    uint32_t seen = GENERATION(atomic_load_explicit(&pool.ticket, memory_order_acquire));
    for (;;) {
        int64_t idle_since = now_ns();
        uint32_t generation;
        while ((generation = GENERATION(atomic_load_explicit(&pool.ticket, memory_order_acquire))) == seen) {
            if (now_ns() - idle_since < SPIN_NANOSECONDS) {
                for (int i = 0; i < 64; i++) pause_briefly();
                continue;
            }
            pthread_mutex_lock(&pool.lock);
            atomic_fetch_add(&pool.sleepers, 1);
            while (GENERATION(atomic_load(&pool.ticket)) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.lock);
            idle_since = now_ns();
        }
        seen = generation;
        run_parts(generation);
    }
    return NULL;
}

static void start_workers(void) {
    long threads = atomic_load_explicit(&requested_threads, memory_order_relaxed);
    for (long i = 1; i < threads; i++) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&thread, &attributes, worker, NULL) == 0) atomic_fetch_add_explicit(&pool.workers, 1, memory_order_relaxed);
        pthread_attr_destroy(&attributes);
    }
}

void stylus_parallel_run(long threads, long parts, stylus_part_fn fn, void *context) {
    if (parts <= 0) return;
    if (threads > 1 && parts > 1 && parts <= 0xFFFF) {
        atomic_store_explicit(&requested_threads, threads, memory_order_relaxed);  // read once, by the first call's pthread_once
        pthread_once(&started, start_workers);
    }
    if (parts == 1 || parts > 0xFFFF || atomic_load_explicit(&pool.workers, memory_order_relaxed) == 0
        || pthread_mutex_trylock(&pool.busy) != 0) {
        // One part, no workers, or the pool is running another job (possibly this one's caller,
        // when a part asks for parallelism itself): run here.
        for (long p = 0; p < parts; p++) fn(context, p);
        return;
    }
    pool.fn = fn;
    pool.context = context;
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    uint32_t generation = ++pool.generation;
    pthread_mutex_lock(&pool.lock);
    atomic_store_explicit(&pool.ticket, TICKET(generation, parts, 0), memory_order_release);
    if (atomic_load(&pool.sleepers) > 0) pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    run_parts(generation);
    // Wait for parts the workers are still running (yielding now and then, in case one of them was
    // preempted on a busy machine).
    for (long spins = 1; atomic_load_explicit(&pool.done, memory_order_acquire) < parts; spins++) {
        pause_briefly();
        if (spins % 256 == 0) sched_yield();
    }
    pthread_mutex_unlock(&pool.busy);
}
