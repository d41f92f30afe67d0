/*
 * tagger: the example stage plugin of llm-relay (see README.md beside this file).
 *
 * Freestanding C, no libc: the gateway gives a plugin no imports at all. The ABI
 * (src/stage/wasm.rs has the full contract):
 *   - `memory`                     the linear memory (wasm-ld exports it by default);
 *   - `alloc(len) -> ptr`          a buffer of `len` bytes the gateway writes the input into;
 *   - `handle(ptr, len) -> i64`    (out_ptr << 32) | out_len of the output in memory.
 * Every call runs in a fresh instance, so a bump allocator that never frees is enough.
 *
 * Behaviour: an input containing `#deny-by-tagger` anywhere is denied; otherwise the
 * request gets a system message inserted as the first element of its "messages" array;
 * an input without such an array is allowed unchanged.
 */

typedef unsigned int u32;
typedef unsigned long long u64;

#define PAGE 65536u

extern unsigned char __heap_base; /* first free byte after the stack and data (wasm-ld) */

static u32 heap_top;

__attribute__((export_name("alloc"))) unsigned char *alloc(u32 len) {
    if (heap_top == 0) {
        heap_top = (u32)&__heap_base;
    }
    u32 start = (heap_top + 7u) & ~7u;
    u32 end = start + len;
    if (end < start) {
        __builtin_trap(); /* wrapped around 4 GiB */
    }
    u32 have = (u32)__builtin_wasm_memory_size(0) * PAGE;
    if (end > have) {
        u32 pages = (end - have + PAGE - 1u) / PAGE;
        if (__builtin_wasm_memory_grow(0, pages) == (unsigned long)-1) {
            __builtin_trap(); /* over the gateway's memory limit */
        }
    }
    heap_top = end;
    return (unsigned char *)start;
}

/* ---- a minimal JSON scanner: only what it takes to find two members ---- */

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static u32 skip_ws(const unsigned char *s, u32 i, u32 n) {
    while (i < n && is_ws(s[i])) {
        i++;
    }
    return i;
}

/* s[i] is '"'; returns the index after the closing quote, or n when unterminated. */
static u32 skip_string(const unsigned char *s, u32 i, u32 n) {
    i++;
    while (i < n) {
        if (s[i] == '\\') {
            i += 2;
        } else if (s[i] == '"') {
            return i + 1;
        } else {
            i++;
        }
    }
    return n;
}

/* Skips one value (string, object, array or scalar) starting at s[i]. */
static u32 skip_value(const unsigned char *s, u32 i, u32 n) {
    if (i >= n) {
        return n;
    }
    if (s[i] == '"') {
        return skip_string(s, i, n);
    }
    if (s[i] == '{' || s[i] == '[') {
        u32 depth = 0;
        while (i < n) {
            unsigned char c = s[i];
            if (c == '"') {
                i = skip_string(s, i, n);
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                depth--;
                if (depth == 0) {
                    return i + 1;
                }
            }
            i++;
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_ws(s[i])) {
        i++;
    }
    return i;
}

static int same(const unsigned char *a, const char *b, u32 len) {
    for (u32 k = 0; k < len; k++) {
        if (a[k] != (unsigned char)b[k]) {
            return 0;
        }
    }
    return 1;
}

/*
 * s[obj] is '{': returns the index of the value of the LAST member named `key` (raw key
 * bytes, no unescaping) of that object, not of nested ones; n when there is none or the
 * object is malformed.
 */
static u32 find_member(const unsigned char *s, u32 obj, u32 n, const char *key, u32 key_len) {
    u32 found = n;
    u32 i = skip_ws(s, obj + 1, n);
    if (i < n && s[i] == '}') {
        return n;
    }
    while (i < n) {
        if (s[i] != '"') {
            return n;
        }
        u32 key_start = i + 1;
        u32 after_key = skip_string(s, i, n);
        if (after_key >= n) {
            return n;
        }
        int match = after_key - 1 - key_start == key_len && same(s + key_start, key, key_len);
        i = skip_ws(s, after_key, n);
        if (i >= n || s[i] != ':') {
            return n;
        }
        i = skip_ws(s, i + 1, n);
        if (match) {
            found = i;
        }
        i = skip_ws(s, skip_value(s, i, n), n);
        if (i >= n) {
            return n;
        }
        if (s[i] == '}') {
            return found;
        }
        if (s[i] != ',') {
            return n;
        }
        i = skip_ws(s, i + 1, n);
    }
    return n;
}

static int contains(const unsigned char *s, u32 n, const char *needle, u32 m) {
    if (m > n) {
        return 0;
    }
    for (u32 i = 0; i + m <= n; i++) {
        if (s[i] == (unsigned char)needle[0] && same(s + i, needle, m)) {
            return 1;
        }
    }
    return 0;
}

/* ---- output ---- */

#define LIT(s) s, (u32)(sizeof(s) - 1)

static u64 pack(const unsigned char *out, u32 len) { return ((u64)(u32)out << 32) | (u64)len; }

static u64 literal(const char *text, u32 len) {
    unsigned char *out = alloc(len);
    __builtin_memcpy(out, text, len);
    return pack(out, len);
}

static const char DENY_MARK[] = "#deny-by-tagger";
static const char DENY[] =
    "{\"action\":\"deny\",\"status\":403,"
    "\"message\":\"the tagger plugin refuses requests marked #deny-by-tagger\"}";
static const char ALLOW[] = "{\"action\":\"allow\"}";
static const char MODIFY_HEAD[] = "{\"action\":\"modify\",\"request\":";
static const char SYSTEM[] = "{\"role\":\"system\",\"content\":\"Tagged by the tagger plugin.\"}";

__attribute__((export_name("handle"))) u64 handle(const unsigned char *s, u32 n) {
    if (contains(s, n, LIT(DENY_MARK))) {
        return literal(LIT(DENY));
    }
    u32 root = skip_ws(s, 0, n);
    if (root >= n || s[root] != '{') {
        return literal(LIT(ALLOW));
    }
    u32 req = find_member(s, root, n, LIT("request"));
    if (req >= n || s[req] != '{') {
        return literal(LIT(ALLOW));
    }
    u32 req_end = skip_value(s, req, n);
    u32 msgs = find_member(s, req, n, LIT("messages"));
    if (msgs >= n || s[msgs] != '[' || req_end > n || req_end <= msgs) {
        return literal(LIT(ALLOW));
    }
    u32 open = msgs + 1; /* just after '[' */
    u32 first = skip_ws(s, open, n);
    int empty = first < n && s[first] == ']';

    u32 head = sizeof(MODIFY_HEAD) - 1;
    u32 sys = sizeof(SYSTEM) - 1;
    u32 len = head + (open - req) + sys + (empty ? 0 : 1) + (req_end - open) + 1;
    unsigned char *out = alloc(len);
    unsigned char *p = out;
    __builtin_memcpy(p, MODIFY_HEAD, head);
    p += head;
    __builtin_memcpy(p, s + req, open - req);
    p += open - req;
    __builtin_memcpy(p, SYSTEM, sys);
    p += sys;
    if (!empty) {
        *p++ = ',';
    }
    __builtin_memcpy(p, s + open, req_end - open);
    p += req_end - open;
    *p++ = '}';
    return pack(out, len);
}
