// A small pool of worker threads for the numeric kernels' parallel loops (StylusML's
// `Kernels.parallelFor`). Workers spin briefly between jobs instead of sleeping at once: an
// encoder pass over one short prompt is ~40 parallel steps of 30–150 µs, and waking a parked
// thread for each (as Dispatch does) cost more than the second core gained.
#ifndef STYLUS_PARALLEL_H
#define STYLUS_PARALLEL_H

typedef void (*stylus_part_fn)(void *context, long part);

/// Calls fn(context, p) for every p in 0..<parts, spread over the calling thread and up to
/// threads − 1 pool workers (started on first use, with `threads` from that call); returns when
/// all parts are done. One job runs at a time: a call made while another runs (from another
/// thread, or from inside a part) runs its parts on the calling thread.
void stylus_parallel_run(long threads, long parts, stylus_part_fn fn, void *context);

#endif
