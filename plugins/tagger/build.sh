#!/bin/sh
# Rebuilds plugins/tagger.wasm from tagger.c with Debian's clang-14 and lld
# (`apt-get install -y clang lld`). CI does not run this: the built file is committed.
#   --target=wasm32     a plain wasm32 module, no WASI, no libc
#   -mbulk-memory       __builtin_memcpy becomes memory.copy (no memcpy import)
#   --no-entry          a library: no _start
#   --export=...        the ABI's two functions (wasm-ld exports `memory` by default)
#   --strip-all         no names or debug sections in the committed file
set -eu
cd "$(dirname "$0")/../.."
clang --target=wasm32 -O2 -ffreestanding -nostdlib -mbulk-memory \
  -Wall -Wextra -Werror \
  -Wl,--no-entry -Wl,--export=alloc -Wl,--export=handle -Wl,--strip-all \
  -o plugins/tagger.wasm plugins/tagger/tagger.c
chmod 644 plugins/tagger.wasm
