/* fuzz: the shape of every harness.
 *
 *   // fuzz-sources: src/config.c src/toml.c        (first line: what it links)
 *   #include "fuzz/fuzz.h"
 *   LW_FUZZ_ENTRY(config) { ... use data, size ...; return 0; }
 *
 * Built by `zig build fuzz` (Debian's clang, libFuzzer, ASan+UBSan), the entry is
 * LLVMFuzzerTestOneInput. Built into the unit suite (LW_FUZZ_NO_MAIN), the entry is
 * lw_fuzz_<name>, registered at start-up, and tests/test_fuzz_corpus.c replays every
 * file of fuzz/corpus/<name>/ through it under the sanitizers. */
#ifndef LW_FUZZ_H
#define LW_FUZZ_H

#include <stddef.h>
#include <stdint.h>

typedef int (*lw_fuzz_fn)(const uint8_t *data, size_t size);

#ifdef LW_FUZZ_NO_MAIN
void lw_fuzz_register(const char *name, lw_fuzz_fn fn);
#define LW_FUZZ_ENTRY(name)                                                        \
    static int lw_fuzz_##name(const uint8_t *data, size_t size);                   \
    __attribute__((constructor)) static void lw_fuzz_register_##name(void)         \
    {                                                                              \
        lw_fuzz_register(#name, lw_fuzz_##name);                                   \
    }                                                                              \
    static int lw_fuzz_##name(const uint8_t *data, size_t size)
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#define LW_FUZZ_ENTRY(name) int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif

#endif
