/* pq_bench: bench/encode.c built the way the product ships (ReleaseSafe:
 * UBSan traps, assertions, stack protector), as every tests/tools program is.
 * `bench/encode --safe` runs it in place of the ReleaseFast zig-out/bench/encode
 * to show what the sanitizer checks cost. Same flags and output as
 * bench/encode.c. */
#include "bench/encode.c"
