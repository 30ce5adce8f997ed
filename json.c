/*
 * json.c - a push scanner for JSON lines and a writer that matches
 * Python's json.dumps (default arguments, ensure_ascii) byte for byte.
 *
 * The scanner is a byte-at-a-time state machine: feed it any chunk and it
 * resumes where it stopped, so a line never has to be in memory whole. It
 * keeps one bit per nesting level (64 at most) and, deeper than that, only
 * a counter. Values the caller does not want are validated and dropped.
 * A scanner may also learn the shapes of the lines it reads (gs_json_learn):
 * a line whole in the chunk that has a known shape is then stored by a few
 * compares instead of being scanned (see "Line shapes").
 */
#include "grpcstream.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ===================================================================== */
/* Scanner states                                                         */
/* ===================================================================== */

enum {
    J_START,        /* line start: nothing but whitespace yet */
    J_VALUE,        /* a value is expected (after ':' or ',' in an array) */
    J_ARR_FIRST,    /* after '[': a value or ']' */
    J_OBJ_FIRST,    /* after '{': a member name or '}' */
    J_KEY,          /* after ',' in an object: a member name */
    J_COLON,        /* after a member name */
    J_NEXT,         /* after a value inside a container: ',' or the close */
    J_DONE,         /* the top value is complete: whitespace until '\n' */
    J_STR,          /* inside a string */
    J_ESC,          /* after '\' */
    J_HEX,          /* inside \uXXXX */
    J_SURR_BS,      /* after a high surrogate: a '\' may start its low half */
    J_SURR_U,       /* after a high surrogate and '\': 'u' may follow */
    J_NUM_MINUS, J_NUM_ZERO, J_NUM_INT, J_NUM_DOT, J_NUM_FRAC,
    J_NUM_E, J_NUM_ESIGN, J_NUM_EXP,
    J_LIT,          /* inside true / false / null */
    J_DEEP,         /* beyond GS_MAX_DEPTH: counting brackets only */
    J_ERROR         /* invalid: skipping to the end of the line */
};

/* Learning line shapes (gs_json_learn): the scanner counts the values a
 * line begins and notes which of them it stores, by key; learning stops
 * at anything a shape cannot replay. */
#if GS_JSON_SHAPES > 0
#define VALUE_BEGUN(j) ((j)->values++)
#define NOT_A_SHAPE(j) ((j)->learning = 0)
static void note_store(gs_json *j, const gs_json_key *k);
static void shape_learn(gs_json *j);
#define NOTE_STORE(j, k) do { if ((j)->learning) note_store(j, k); } while (0)
#else
#define VALUE_BEGUN(j) ((void)0)
#define NOT_A_SHAPE(j) ((void)0)
#define NOTE_STORE(j, k) ((void)0)
#endif

/* For the few small functions of the hot path that the compiler might
 * otherwise leave as calls. */
#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE static inline
#endif

/* Byte classes inside strings: 0 plain ASCII, 1 ends the plain run. */
static const uint8_t str_stop[256] = {
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1
};

/* Length of the run of bytes at s that need no attention: plain ASCII,
 * and not DEL when `del` is set (the writer escapes it). Sixteen bytes at
 * a time with SSE2, eight where the compiler lets us find the first
 * flagged byte cheaply, then one by one; never a byte past s + n. */
static inline size_t plain_run(const unsigned char *s, size_t n, int del)
{
    size_t i = 0;
#if defined(__SSE2__)
    /* Sixteen at a time: as signed bytes, both control bytes and non-ASCII
     * are below 0x20, so one compare finds either. */
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20), delete = _mm_set1_epi8(0x7F);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned bits;
        if (del) m = _mm_or_si128(m, _mm_cmpeq_epi8(v, delete));
        bits = (unsigned)_mm_movemask_epi8(m);
        if (bits) return i + (size_t)__builtin_ctz(bits);
    }
#endif
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    for (; i + 8 <= n; i += 8) {
        uint64_t w, q, b, d, m;
        memcpy(&w, s + i, 8);
        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');
        d = w ^ (ones * 0x7F);
        /* a zero byte in q, b (or d) is a quote, a backslash (or DEL);
         * (w - 0x20) & ~w flags control bytes; w itself non-ASCII */
        m = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w;
        if (del) m |= (d - ones) & ~d;
        m &= highs;
        if (m) return i + (size_t)(__builtin_ctzll(m) >> 3);
    }
#endif
    while (i < n && !str_stop[s[i]] && !(del && s[i] == 0x7F)) i++;
    return i;
}

/* Copies n bytes with fixed-size moves that may overlap, reading and
 * writing nothing outside s[0..n) and d[0..n): short strings cost no
 * call to memcpy. */
static inline void copy_bytes(char *d, const char *s, size_t n)
{
    if (n >= 16) {
        size_t i;
        for (i = 0; i + 16 < n; i += 16) memcpy(d + i, s + i, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else {
        size_t i;
        for (i = 0; i < n; i++) d[i] = s[i];
    }
}

void gs_json_reset(gs_json *j)
{
    memset(j, 0, sizeof *j);
    j->state = J_START;
    j->want = 1;            /* the top value is always reported */
}

void gs_json_want(gs_json *j, char *sink, size_t cap)
{
    j->want = 1;
    j->sink = sink;
    j->sink_cap = sink ? cap : 0;
    j->into = NULL;
    j->into_key = NULL;
}

void gs_json_want_into(gs_json *j, char *sink, size_t cap, gs_json_value *into)
{
    gs_json_want(j, sink, cap);
    into->kind = 0;
    j->into = into;
}

void gs_json_key_set(gs_json_key *k, const char *name, int tag, gs_json_value *into,
                     char *sink, size_t cap)
{
    size_t len = strlen(name), i;
    k->name = name;
    k->len = (uint8_t)len;
    k->head = 0;
    memcpy(&k->head, name, len < 8 ? len : 8);
    k->tag = (uint8_t)tag;
    k->into = into;
    k->sink = sink;
    k->cap = cap;
    k->sub = NULL;
    k->nsub = 0;
    /* the bytes of the first 8 that are the name's; none when the name
     * is not plain (k->head is not 0: it never matches in place) */
    k->head_mask = len >= 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * len)) - 1;
    for (i = 0; i < len; i++)
        if (str_stop[(unsigned char)name[i]]) k->head_mask = 0;
    if (len > GS_JSON_KEY_MAX) k->head_mask = 0;
}

void gs_json_key_nest(gs_json_key *k, const gs_json_key *sub, unsigned n)
{
    k->sub = sub;
    k->nsub = (uint8_t)n;
}

void gs_json_expect_top(gs_json *j, const gs_json_key *top)
{
    j->top = top;
}

/* Clears the kinds the keys of key k's object stored, and theirs in turn
 * (nested keys go no deeper than GS_JSON_KEYED). */
static void clear_nested(const gs_json_key *k, unsigned depth)
{
    unsigned i;
    for (i = 0; i < k->nsub; i++) {
        if (k->sub[i].into) k->sub[i].into->kind = 0;
        if (k->sub[i].nsub && depth < GS_JSON_KEYED) clear_nested(&k->sub[i], depth + 1);
    }
}

/* Expected key k matched: its value is wanted into k->into. A key that
 * leads to an object and already holds a value was named twice: what its
 * first object stored is forgotten (the consumer clears it for each line,
 * so the common case costs one test). */
ALWAYS_INLINE void want_key(gs_json *j, const gs_json_key *k)
{
    if (k->nsub && k->into->kind) {
        clear_nested(k, 0);
        NOT_A_SHAPE(j);
    }
    gs_json_want_into(j, k->sink, k->cap, k->into);
    j->into_key = k;
}

static uint64_t bit(unsigned depth) { return (uint64_t)1 << (depth - 1); }

/* Keys are kept only for an entered object, so the hot path can take
 * nkeys != 0 to mean one (opening any container clears its depth's). */
void gs_json_expect(gs_json *j, const gs_json_key *keys, unsigned n)
{
    if (j->depth == 0 || j->depth > GS_JSON_KEYED || !(j->entered & bit(j->depth))) return;
    j->keys[j->depth] = keys;
    j->nkeys[j->depth] = (uint8_t)n;
    j->key_next[j->depth] = 0;
}

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\r'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

void gs_json_elements(gs_json *j)
{
    j->entered |= bit(j->depth);
}

void gs_json_report_end(gs_json *j)
{
    j->ends |= bit(j->depth);
}

/* ----- string sink --------------------------------------------------- */

static inline void sink_put(gs_json *j, const char *s, size_t n)
{
    if (!j->sink) {
        j->str_len += n;
        return;
    }
    if (j->str_len + n > j->sink_cap) {
        j->str_over = 1;
        n = j->str_len < j->sink_cap ? j->sink_cap - j->str_len : 0;
    }
    memcpy(j->sink + j->str_len, s, n);
    j->str_len += n;
}

/* Code points are stored as UTF-8; a lone surrogate from a \u escape is
 * kept in the same 3-byte form (WTF-8) so the writer can give it back. */
static void sink_code_point(gs_json *j, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp; n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | cp >> 6); b[1] = (char)(0x80 | (cp & 0x3F)); n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12); b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        b[0] = (char)(0xF0 | cp >> 18); b[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (char)(0x80 | (cp >> 6 & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    sink_put(j, b, n);
}

/* ----- values -------------------------------------------------------- */

/* After a value: back in the container, or the line's value is done. */
static void value_done(gs_json *j)
{
    j->state = j->depth ? J_NEXT : J_DONE;
}

/* A wanted scalar is stored where the consumer asked. */
static void store_scalar(gs_json *j)
{
    gs_json_value *v = j->into;
    NOTE_STORE(j, j->into_key);
    j->into = NULL;
    v->kind = j->kind;
    v->over = j->str_over;
    v->len = j->str_len;
    v->num_neg = j->num_neg;
    v->num_int = j->num_int;
    v->num_big = j->num_big;
    v->num_mag = j->num_mag;
}

/* A scalar just ended: store or report it if it was wanted. */
static inline int scalar_done(gs_json *j, uint8_t kind)
{
    int wanted = j->want;
    VALUE_BEGUN(j);
    j->want = 0;
    j->kind = kind;
    value_done(j);
    if (!wanted) return -1;
    if (!j->into) return GS_JSON_VALUE;
    store_scalar(j);
    return -1;
}

static void start_string(gs_json *j, int key)
{
    j->in_key = (uint8_t)key;
    j->str_len = 0;
    j->str_over = 0;
    j->u8_need = 0;
    j->state = J_STR;
    if (key) {
        j->sink = (j->entered & bit(j->depth)) ? j->key : NULL;
        j->sink_cap = GS_JSON_KEY_MAX;
    } else if (!j->want) {
        j->sink = NULL;
    }
}

/* The object that key k leads to (gs_json_key_nest) opens, below
 * GS_MAX_DEPTH: entered, expecting k's keys; reported only if k has a
 * tag. What open_container does for it, with nothing else to decide. */
ALWAYS_INLINE int open_nested(gs_json *j, const gs_json_key *k)
{
    uint64_t b;
    VALUE_BEGUN(j);
    NOTE_STORE(j, k);
    j->want = 0;
    j->into = NULL;
    k->into->kind = GS_JV_OBJECT;
    b = bit(++j->depth);
    j->objects |= b;
    j->entered |= b;
    j->ends &= ~b;
    j->state = J_OBJ_FIRST;
    if (j->depth <= GS_JSON_KEYED) {
        j->keys[j->depth] = k->sub;
        j->nkeys[j->depth] = k->nsub;
        j->key_next[j->depth] = 0;
    }
    if (!k->tag) return -1;
    j->key_tag = k->tag;
    j->kind = GS_JV_OBJECT;
    return GS_JSON_VALUE;
}

/* '{' or '[' opens a container. Returns an event or -1. */
static inline int open_container(gs_json *j, int object)
{
    int wanted = j->want;
    gs_json_value *into = j->into;
    if (into && object && j->into_key && j->into_key->sub && j->depth < GS_MAX_DEPTH)
        return open_nested(j, j->into_key);
    VALUE_BEGUN(j);
    j->want = 0;
    j->into = NULL;
    if (j->depth == GS_MAX_DEPTH) {
        j->too_deep = 1;
        j->deep = 1;
        j->deep_str = j->deep_esc = 0;
        j->state = J_DEEP;
        return -1;
    }
    j->depth++;
    if (object) j->objects |= bit(j->depth);
    else j->objects &= ~bit(j->depth);
    if (into) {                     /* kept as its kind, then skipped */
        NOTE_STORE(j, j->into_key);
        into->kind = object ? GS_JV_OBJECT : GS_JV_ARRAY;
        wanted = 0;
    }
    if (object && wanted) j->entered |= bit(j->depth);
    else j->entered &= ~bit(j->depth);
    j->ends &= ~bit(j->depth);
    if (j->depth <= GS_JSON_KEYED) j->nkeys[j->depth] = 0;
    j->state = object ? J_OBJ_FIRST : J_ARR_FIRST;
    if (!wanted) return -1;
    j->kind = object ? GS_JV_OBJECT : GS_JV_ARRAY;
    return GS_JSON_VALUE;
}

/* '}' or ']'. Returns -1, GS_JSON_END if asked (gs_json_report_end), or
 * -2 on a mismatch. */
static inline int close_container(gs_json *j, int object)
{
    uint64_t b = bit(j->depth);
    int reported = (j->ends & b) != 0;
    if (((j->objects & b) != 0) != object) return -2;
    j->ends &= ~b;
    j->depth--;
    value_done(j);
    return reported ? GS_JSON_END : -1;
}

/* A byte that starts a value. Returns an event, -1, or -2 if invalid. */
static int begin_value(gs_json *j, unsigned char c)
{
    switch (c) {
    case '{': return open_container(j, 1);
    case '[': return open_container(j, 0);
    case '"': start_string(j, 0); return -1;
    case 't': j->lit = "rue";  j->kind = GS_JV_TRUE;  j->state = J_LIT; return -1;
    case 'f': j->lit = "alse"; j->kind = GS_JV_FALSE; j->state = J_LIT; return -1;
    case 'n': j->lit = "ull";  j->kind = GS_JV_NULL;  j->state = J_LIT; return -1;
    default: break;
    }
    if (c != '-' && !is_digit(c)) return -2;
    j->num_neg = c == '-';
    j->num_int = 1;
    j->num_big = 0;
    j->num_mag = 0;
    if (c == '-') j->state = J_NUM_MINUS;
    else if (c == '0') j->state = J_NUM_ZERO;
    else { j->num_mag = (uint64_t)(c - '0'); j->state = J_NUM_INT; }
    return -1;
}

/* A wanted number that is not an integer keeps its text in the sink (a
 * consumer parses it as a float): the integer part is rebuilt from its
 * magnitude when the fraction or exponent starts (str_over when it did
 * not fit 64 bits), the rest is copied as it comes. */
static void num_text(gs_json *j, unsigned char c)
{
    if (j->want && j->sink) sink_put(j, (const char *)&c, 1);
}

static void num_text_start(gs_json *j, unsigned char c)
{
    char digits[21];
    if (!j->want || !j->sink) return;
    j->str_len = 0;
    j->str_over = j->num_big;
    if (j->num_neg) sink_put(j, "-", 1);
    sink_put(j, digits, (size_t)(gs_json_put_u64(digits, j->num_mag) - digits));
    sink_put(j, (const char *)&c, 1);
}

static void num_digit(gs_json *j, unsigned char c)
{
    const uint64_t max10 = UINT64_MAX / 10;     /* 1844674407370955161 */
    uint64_t d = (uint64_t)(c - '0');
    if (j->num_mag > max10 || (j->num_mag == max10 && d > UINT64_MAX % 10)) j->num_big = 1;
    else j->num_mag = j->num_mag * 10 + d;
}

static int expected_member(gs_json *j, const char *name, size_t n, const char *end);

/* A string's closing quote. */
static int string_done(gs_json *j)
{
    if (j->in_key) {
        j->in_key = 0;
        j->state = J_COLON;
        if (!(j->entered & bit(j->depth))) return -1;
        j->key_len = j->str_over ? 0 : j->str_len;
        j->key_over = j->str_over;
        j->want = 0;
        if (j->key_len < 8) memset(j->key + j->key_len, 0, 8);
        if (j->depth <= GS_JSON_KEYED && j->nkeys[j->depth])
            return j->key_over ? -1 : expected_member(j, j->key, j->key_len, j->key + GS_JSON_KEY_MAX);
        j->key_tag = 0;
        return GS_JSON_MEMBER;
    }
    return scalar_done(j, GS_JV_STRING);
}

/* RFC 3629: how many continuation bytes lead byte c takes (0: c is not a
 * lead byte) and the range the first of them must be in; the rest are
 * 0x80..0xBF. This rules out overlong forms, surrogates and > U+10FFFF. */
static unsigned utf8_lead_bounds(unsigned char c, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) return 1;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) *lo = 0xA0;
        if (c == 0xED) *hi = 0x9F;
        return 2;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) *lo = 0x90;
        if (c == 0xF4) *hi = 0x8F;
        return 3;
    }
    return 0;
}

/* A lead byte inside a string: the scanner owes its continuation bytes. */
static int utf8_lead(gs_json *j, unsigned char c)
{
    j->u8_need = (uint8_t)utf8_lead_bounds(c, &j->u8_lo, &j->u8_hi);
    return j->u8_need ? -1 : -2;
}

int gs_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s, *end = u + n;
    while (u < end) {
        uint8_t lo, hi;
        unsigned need, i;
        if (*u < 0x80) { u++; continue; }
        need = utf8_lead_bounds(*u, &lo, &hi);
        if (!need || (size_t)(end - u) <= need) return 0;
        for (i = 1; i <= need; i++, lo = 0x80, hi = 0xBF)
            if (u[i] < lo || u[i] > hi) return 0;
        u += need + 1;
    }
    return 1;
}

static int hex_value(unsigned char c)
{
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A complete \uXXXX escape. */
static void escape_done(gs_json *j)
{
    uint32_t cp = j->hex;
    if (j->high) {
        uint32_t high = j->high;
        j->high = 0;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            sink_code_point(j, 0x10000 + ((high - 0xD800) << 10) + (cp - 0xDC00));
            j->state = J_STR;
            return;
        }
        sink_code_point(j, high);
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        j->high = cp;
        j->state = J_SURR_BS;
        return;
    }
    sink_code_point(j, cp);
    j->state = J_STR;
}

/* A pending high surrogate that no low half follows stands alone. */
static void flush_high(gs_json *j)
{
    sink_code_point(j, j->high);
    j->high = 0;
}

static int short_escape(gs_json *j, unsigned char c)
{
    char out;
    switch (c) {
    case '"': out = '"'; break;
    case '\\': out = '\\'; break;
    case '/': out = '/'; break;
    case 'b': out = '\b'; break;
    case 'f': out = '\f'; break;
    case 'n': out = '\n'; break;
    case 'r': out = '\r'; break;
    case 't': out = '\t'; break;
    case 'u': j->hex = 0; j->hex_n = 0; j->state = J_HEX; return -1;
    default: return -2;
    }
    sink_put(j, &out, 1);
    j->state = J_STR;
    return -1;
}

/* Ends the line at its '\n', nl. A '\n' always does, whatever the state. */
static int line_end(gs_json *j, const char *nl)
{
    if (j->state == J_START) j->status = GS_JL_BLANK;
    else if (j->state == J_DONE) j->status = GS_JL_OK;
    else j->status = GS_JL_ERROR;
    j->state = J_START;
    j->depth = 0;
    j->want = 1;            /* the top value is always reported */
    j->sink = NULL;         /* ...but stored nowhere */
    j->sink_cap = 0;
    j->into = NULL;
    j->high = 0;
#if GS_JSON_SHAPES > 0
    if (j->learning && nl == j->line_end && j->status == GS_JL_OK && !j->too_deep) shape_learn(j);
    j->learning = 0;
#else
    (void)nl;
#endif
    return GS_JSON_LINE;
}

/* Counting mode beyond GS_MAX_DEPTH: strings are skipped, brackets
 * counted. The line is reported too_deep, so nothing here is used. */
static const char *scan_deep(gs_json *j, const char *p, const char *end)
{
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n') return p;
        if (j->deep_str) {
            if (j->deep_esc) j->deep_esc = 0;
            else if (c == '\\') j->deep_esc = 1;
            else if (c == '"') j->deep_str = 0;
        } else if (c == '"') {
            j->deep_str = 1;
        } else if (c == '[' || c == '{') {
            j->deep++;
        } else if (c == ']' || c == '}') {
            if (--j->deep == 0) {
                value_done(j);
                return p + 1;
            }
        }
    }
    return p;
}

/* ----- whole tokens ---------------------------------------------------- */

/* Most strings and integers of a line lie whole in the chunk. These take
 * one at once, leaving the scanner exactly as the byte-by-byte path would
 * (which still handles a token cut by the chunk's end, escapes and
 * non-ASCII), so a line scans the same however it is cut. */

/* The length of the plain string whose opening quote is at p, if its
 * closing quote is in the chunk with only plain ASCII before it; else -1. */
ALWAYS_INLINE long plain_string(const char *p, const char *end)
{
    size_t run;
#if defined(__SSE2__)
    if (end - p >= 17) {            /* most are short: one 16-byte look */
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 1));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                              _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                                 _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits) {
            run = (size_t)__builtin_ctz(bits);
            return p[1 + run] == '"' ? (long)run : -1;
        }
    }
#endif
    run = plain_run((const unsigned char *)p + 1, (size_t)(end - p - 1), 0);
    if (run + 1 >= (size_t)(end - p) || p[1 + run] != '"') return -1;
    return (long)run;
}

/* A whole plain string value s[0..n) into sink (cap bytes; NULL: only
 * counted), as sink_put would put it: returns the length kept and sets
 * *over when it was cut. sink_copy moves n <= cap bytes; s + 16 <= end
 * allows a short run its fixed-size move. */
static inline void sink_copy(char *sink, size_t cap, const char *s, size_t n, const char *end)
{
    if (n <= 16 && end - s >= 16 && cap >= 16) memcpy(sink, s, 16);
    else copy_bytes(sink, s, n);
}

static inline size_t sink_whole(char *sink, size_t cap, const char *s, size_t n,
                                const char *end, uint8_t *over)
{
    *over = 0;
    if (!sink) return n;
    if (n > cap) {
        *over = 1;
        n = cap;
    }
    sink_copy(sink, cap, s, n, end);
    return n;
}

static inline void string_whole(gs_json *j, const char *s, size_t n, const char *end)
{
    j->str_len = sink_whole(j->sink, j->sink_cap, s, n, end, &j->str_over);
}

/* An integer whole in the chunk at p: a '-' or not, then 0 or up to 19
 * digits (which fit 64 bits) not starting with 0, then a byte that ends
 * it. Returns where it ends, with *neg and *mag; NULL when the byte path
 * must decide (a longer or cut-off number, a fraction or an exponent, a
 * leading zero, no digit). */
ALWAYS_INLINE const char *whole_int(const char *p, const char *end, int *neg, uint64_t *mag)
{
    const char *digits;
    uint64_t m = 0;
    *neg = p < end && *p == '-';
    digits = p += *neg;
    if (p == end || !is_digit((unsigned char)*p)) return NULL;
    if (*p == '0') {
        p++;
    } else {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    UINTPTR_MAX > 0xFFFFFFFFu       /* (on a 32-bit core, digit by digit costs less) */
        if (end - p >= 8) {         /* up to 8 digits at once */
            const uint64_t ones = 0x0101010101010101u;
            uint64_t w, t, not_digit;
            unsigned k;
            memcpy(&w, p, 8);
            t = w ^ ones * '0';     /* a digit's byte is its value, below 10 */
            not_digit = (((t & ones * 0x7F) + ones * 0x76) | t) & ones * 0x80;
            k = not_digit ? (unsigned)__builtin_ctzll(not_digit) >> 3 : 8;
            t <<= 8 * (8 - k);      /* the k digits, most significant first, */
            t = t * 10 + (t >> 8);  /* after 8 - k zeros: paired, then summed */
            m = (((t & 0x000000FF000000FFu) * (100 + (1000000ull << 32))) +
                 (((t >> 16) & 0x000000FF000000FFu) * (1 + (10000ull << 32)))) >> 32;
            p += k;
        }
#endif
        while (p < end && is_digit((unsigned char)*p)) m = m * 10 + (uint64_t)((unsigned char)*p++ - '0');
    }
    if (p == end || p - digits > 19 || is_digit((unsigned char)*p) || *p == '.' || *p == 'e' ||
        *p == 'E') return NULL;
    *mag = m;
    return p;
}

/* The first 8 bytes of name[0..n), zero-padded, as gs_json_key_set
 * keeps them; read at once when 8 bytes are in the chunk. */
static inline uint64_t name_head(const char *name, size_t n, const char *end)
{
    uint64_t head = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (end - name >= 8) {
        memcpy(&head, name, 8);
        return n >= 8 ? head : head & (((uint64_t)1 << (8 * n)) - 1);
    }
#else
    (void)end;
#endif
    memcpy(&head, name, n < 8 ? n : 8);
    return head;
}

/* Whether expected key k is name[0..n), whose first 8 bytes are head. */
static inline int key_is(const gs_json_key *k, uint64_t head, const char *name, size_t n)
{
    size_t i;
    if (k->head != head || k->len != n) return 0;
    for (i = 8; i < n; i++)
        if (k->name[i] != name[i]) return 0;
    return 1;
}

/* Which expected key of the object at this depth is name[0..n): its
 * index, or -1. The search starts after the key matched last: lines of
 * one kind name their members in one order, so it mostly hits at once. */
static inline int key_index(const gs_json *j, const char *name, size_t n, const char *end)
{
    unsigned depth = j->depth, at = j->key_next[depth], count = j->nkeys[depth], i;
    const gs_json_key *keys = j->keys[depth];
    uint64_t head;
    if (n > GS_JSON_KEY_MAX) return -1;
    head = name_head(name, n, end);
    if (at < count && key_is(&keys[at], head, name, n)) return (int)at;
    for (i = 0; i < count; i++)
        if (i != at && key_is(&keys[i], head, name, n)) return (int)i;
    return -1;
}

/* Whether the member name whose opening quote is at p is expected key k,
 * whole in the chunk, compared in place without first scanning for its
 * end: a plain name (gs_json_key_set) whose bytes are there, then a
 * quote, is the whole name, as plain_string would have found it. */
ALWAYS_INLINE int key_here(const gs_json_key *k, const char *p, const char *end)
{
    size_t n = k->len, i;
    uint64_t head;
    if (end - p < (long)n + 2 || p[1 + n] != '"') return 0;
    if (end - p >= 9) memcpy(&head, p + 1, 8);      /* the name and what follows */
    else head = name_head(p + 1, n, end);
    if ((head & k->head_mask) != k->head) return 0;
    for (i = 8; i < n; i++)
        if (k->name[i] != p[1 + i]) return 0;
    return 1;
}

/* Key i matched: the next search starts after it. */
static inline const gs_json_key *key_matched(gs_json *j, int i)
{
    j->key_next[j->depth] = (uint8_t)(i + 1);
    return &j->keys[j->depth][i];
}

/* A member name of an object with expected keys: a scalar member is
 * stored where its key says, unreported; one with a tag is reported;
 * any other member is skipped. */
static int expected_member(gs_json *j, const char *name, size_t n, const char *end)
{
    int i = key_index(j, name, n, end);
    const gs_json_key *k;
    if (i < 0) return -1;
    k = key_matched(j, i);
    if (k->into) {
        want_key(j, k);
        return -1;
    }
    j->key_tag = k->tag;
    return GS_JSON_MEMBER;
}

static inline const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (unsigned char)*p <= ' ' && is_ws((unsigned char)*p)) p++;
    return p;
}

/* After the name of expected member k, which has `into`, at p: a colon,
 * then a plain string or an integer ending in the chunk, stored at once
 * as the byte-by-byte path would store them. Returns where the value
 * ends, or NULL with nothing changed when it is anything else. */
static inline const char *scalar_whole(gs_json *j, const gs_json_key *k, const char *p,
                                       const char *end)
{
    const char *q = p < end && *p == ':' ? p : skip_ws(p, end);   /* compact first */
    if (q == end || *q != ':') return NULL;
    if (++q < end && (unsigned char)*q <= ' ') q = skip_ws(q, end);
    if (q == end) return NULL;
    if (*q == '"') {
        long m = plain_string(q, end);
        if (m < 0) return NULL;
        j->sink = k->sink;
        j->sink_cap = k->sink ? k->cap : 0;
        string_whole(j, q + 1, (size_t)m, end);
        j->kind = GS_JV_STRING;
        q += m + 2;
    } else {
        int neg;
        uint64_t mag;
        const char *r = whole_int(q, end, &neg, &mag);
        if (!r) return NULL;
        j->num_neg = (uint8_t)neg;
        j->num_int = 1;
        j->num_big = 0;
        j->num_mag = mag;
        j->kind = GS_JV_NUMBER;
        q = r;
    }
    VALUE_BEGUN(j);
    j->want = 0;
    j->into = k->into;
    j->into_key = k;
    store_scalar(j);
    j->state = J_NEXT;
    return q;
}

/* A member name reported: copied to key (key_tag is set). */
static int key_report(gs_json *j, const char *name, size_t n)
{
    j->key_over = n > GS_JSON_KEY_MAX;
    j->key_len = j->key_over ? 0 : n;
    memcpy(j->key, name, j->key_len);
    if (j->key_len < 8) memset(j->key + j->key_len, 0, 8);
    return GS_JSON_MEMBER;
}

/* A whole plain member name name[0..n): what string_done would do with
 * it, without copying it unless it is reported. */
static int key_whole(gs_json *j, const char *name, size_t n, const char *end)
{
    j->state = J_COLON;
    if (!(j->entered & bit(j->depth))) return -1;
    j->want = 0;
    if (j->depth <= GS_JSON_KEYED && j->nkeys[j->depth]) {
        if (expected_member(j, name, n, end) < 0) return -1;
    } else {
        j->key_tag = 0;
    }
    return key_report(j, name, n);
}

/* Digits of an integer from p on: the magnitude kept as num_digit keeps
 * it. Returns where they stop (end if the chunk does). */
static inline const char *int_digits(gs_json *j, const char *p, const char *end)
{
    const uint64_t small = UINT64_MAX / 10;     /* below this, no overflow */
    uint64_t mag = j->num_mag;
    for (; p < end && is_digit((unsigned char)*p); p++) {
        if (mag < small) {
            mag = mag * 10 + (uint64_t)((unsigned char)*p - '0');
        } else {
            j->num_mag = mag;
            num_digit(j, (unsigned char)*p);
            mag = j->num_mag;
        }
    }
    j->num_mag = mag;
    return p;
}

/* ===================================================================== */
/* Line shapes                                                            */
/* ===================================================================== */

/* A line the scanner read whole in one chunk, with no event before its
 * end (as the JSON-lines front end's requests are read), is learned as a
 * shape: its bytes, the place of each string and integer in them (parts),
 * and, for each value the scanner stored, the key it went by. A later line
 * of the same bytes takes the scanner through the same states, matches the
 * same keys and stores the same values; so it is compared with the shape a
 * run of bytes at a time, and only when it matches through its '\n' are
 * its values stored, as the scanner would store them. At the first
 * difference the line is left, untouched, to the scanner.
 *
 * A line that is a known shape but for the contents of some parts (its
 * skeleton, the bytes around its parts, is the same) makes those parts
 * holes: a hole matches any plain string (no escape, control byte or
 * non-ASCII) or integer (as whole_int reads them), which leaves the
 * scanner's path as it was. Lines of one kind thus need a hole only where
 * they differ (a msg_id, a text), and the rest is compared, not scanned.
 *
 * GS_JSON_SHAPES of them are kept, tried most used first; a new skeleton
 * replaces the least used. Not learned: a line longer than
 * GS_JSON_SHAPE_BYTES, cut by the chunk, invalid, too deep, with an
 * event, with more than GS_JSON_SHAPE_PARTS parts or stores, naming a
 * nested key twice, or storing twice into one value or sink. */

#if GS_JSON_SHAPES > 0
/* What a store stores. */
enum {
    S_KIND,         /* a container's or literal's kind */
    S_STRING,       /* a constant string, from the shape's text */
    S_INTEGER,      /* a constant integer */
    S_HOLE_STRING,  /* a hole's string, from the line */
    S_HOLE_INTEGER, /* a hole's integer */
    S_OPS
};
typedef char op_end_fits[sizeof ((gs_json_shape *)0)->op_end == S_OPS ? 1 : -1];

static void store_int(gs_json_value *v, int neg, uint64_t mag)
{
    v->num_mag = mag;
    v->num_neg = (uint8_t)neg;
    v->num_int = 1;
    v->num_big = 0;
    v->kind = GS_JV_NUMBER;
}

/* What one hole of a matching line held. */
typedef struct {
    const char *s;          /* a string's bytes */
    uint64_t n;             /* their length, or an integer's magnitude */
    int neg;
} shape_value;

void gs_json_learn(gs_json *j, gs_json_shapes *s)
{
    unsigned i;
    j->shapes = s;
    j->learning = 0;
    if (!s) return;
    s->used = 0;                    /* (the shapes' memory is not touched) */
    for (i = 0; i < GS_JSON_SHAPES; i++) {
        s->order[i] = (uint8_t)i;
        s->hits[i] = 0;
    }
}

static void note_store(gs_json *j, const gs_json_key *k)
{
    if (!k || j->nstored == GS_JSON_SHAPE_PARTS) {
        j->learning = 0;
        return;
    }
    j->shapes->stored[j->nstored].value = j->values;
    j->shapes->stored[j->nstored++].key = k;
}

/* A line starts at p: it is learned if it is whole in the chunk and fits. */
static void learn_begin(gs_json *j, const char *p, const char *end)
{
    size_t n = (size_t)(end - p);
    j->line = p;
    j->line_end = memchr(p, '\n', n < GS_JSON_SHAPE_BYTES ? n : GS_JSON_SHAPE_BYTES);
    j->learning = j->line_end != NULL;
    j->values = 0;
    j->nstored = 0;
}

/* ----- learning -------------------------------------------------------- */

/* A hash of bytes, for skeletons (8 at a time: multiply and fold). */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (; n; b += 8, n -= n < 8 ? n : 8) {
        uint64_t w = 0;
        memcpy(&w, b, n < 8 ? n : 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15u;
        h ^= h >> 29;
    }
    return h;
}

static void shape_text(gs_json_shape *sh, const char *s, size_t n)
{
    memcpy(sh->text + sh->len, s, n);
    sh->len = (uint16_t)(sh->len + n);
}

/* A value stored by key; the caller fills in what op needs. Returns it,
 * or NULL when there are too many. */
static gs_json_store *shape_store_add(gs_json_shape *sh, const gs_json_key *key, int op)
{
    gs_json_store *st;
    if (sh->nstores == GS_JSON_SHAPE_PARTS) return NULL;
    st = &sh->stores[sh->nstores++];
    memset(st, 0, sizeof *st);
    st->key = key;
    st->into = key->into;
    st->sink = key->sink;
    st->cap = key->sink ? key->cap : 0;
    st->op = (uint8_t)op;
    return st;
}

/* Past the string whose opening quote is at s, in a line found valid. */
static const char *string_end(const char *s)
{
    for (s++; *s != '"'; s++)
        if (*s == '\\') s++;
    return s + 1;
}

/* What a line's token at s is, for shape_build; *e is set past it. */
enum { T_TEXT, T_STRING, T_INTEGER, T_KIND };

static int shape_token(const char *s, const char *end, const char **e, int *kind)
{
    unsigned char c = (unsigned char)*s;
    *e = s + 1;
    if (c == '"') {
        const char *after;
        *e = string_end(s);
        after = skip_ws(*e, end);
        return after < end && *after == ':' ? T_TEXT : T_STRING;   /* a member name: text */
    }
    if (c == '-' || is_digit(c)) {
        while (*e < end && (is_digit((unsigned char)**e) || **e == '.' || **e == 'e' ||
                            **e == 'E' || **e == '+' || **e == '-')) (*e)++;
        return T_INTEGER;           /* (or any number: then it must be a hole) */
    }
    if (c == '{' || c == '[') {
        *kind = c == '{' ? GS_JV_OBJECT : GS_JV_ARRAY;
        return T_KIND;
    }
    if (c == 't' || c == 'f' || c == 'n') {
        *e = s + (c == 'f' ? 5 : 4);
        *kind = c == 't' ? GS_JV_TRUE : c == 'f' ? GS_JV_FALSE : GS_JV_NULL;
        return T_KIND;
    }
    return T_TEXT;                  /* punctuation, space */
}

/* String or integer token s[0..e) of the line as part `part`: a hole if
 * its bit is set in `holes`, or if it cannot be a constant (a string that
 * is not plain, a number that is not an integer whole_int reads). */
static int shape_part(gs_json_shape *sh, const gs_json *j, const char *s, const char *e,
                      int integer, uint64_t holes, const gs_json_key *key)
{
    gs_json_part *pt;
    const char *v = s + !integer, *v_end = e - !integer;     /* within the quotes */
    int neg = 0, constant;
    uint64_t mag = 0;
    gs_json_store *st;
    if (sh->nparts == GS_JSON_SHAPE_PARTS) return -1;
    pt = &sh->parts[sh->nparts];
    constant = integer ? whole_int(s, j->line_end + 1, &neg, &mag) == e
                       : plain_run((const unsigned char *)v, (size_t)(v_end - v), 0) ==
                             (size_t)(v_end - v);
    pt->hole = !constant || (holes >> sh->nparts & 1);
    if (pt->hole) {
        if (!integer) shape_text(sh, "\"", 1);
        pt->at = sh->len;
        pt->len = 0;
        sh->holes[sh->nholes].at = sh->len;
        sh->holes[sh->nholes++].integer = (uint8_t)integer;
        sh->hole_mask |= (uint64_t)1 << sh->nparts;
        if (!integer) shape_text(sh, "\"", 1);
    } else {
        pt->at = (uint16_t)(sh->len + (v - s));
        pt->len = (uint16_t)(v_end - v);
        shape_text(sh, s, (size_t)(e - s));
    }
    pt->from = (uint16_t)(v - j->line);
    pt->integer = (uint8_t)integer;
    sh->skeleton = hash_bytes(sh->skeleton, integer ? "#" : "\"\"", integer ? 1 : 2);
    if (key) {
        st = shape_store_add(sh, key, pt->hole ? (integer ? S_HOLE_INTEGER : S_HOLE_STRING)
                                               : (integer ? S_INTEGER : S_STRING));
        if (!st) return -1;
        st->hole = (uint8_t)(sh->nholes - pt->hole);
        st->at = pt->at;
        st->len = pt->len;
        if (st->sink && st->len > st->cap) {    /* a constant string cut as sink_whole cuts */
            st->len = (uint16_t)st->cap;
            st->over = 1;
        }
        st->mag = mag;
        st->neg = (uint8_t)neg;
    }
    sh->nparts++;
    return 0;
}

/* Orders a shape's stores by what they do, so shape_store runs a short
 * loop for each (op_end[op]: where op's stores end). That may change the
 * order of stores to different places only: a line that stores twice in
 * one value or sink is no shape. Returns 0, or -1 for such a line. */
static int stores_by_op(gs_json_shape *sh)
{
    unsigned i, k, op;
    for (i = 1; i < sh->nstores; i++) {
        gs_json_store st = sh->stores[i];
        for (k = 0; k < i; k++)
            if (sh->stores[k].into == st.into || (st.sink && sh->stores[k].sink == st.sink))
                return -1;
        for (k = i; k > 0 && sh->stores[k - 1].op > st.op; k--) sh->stores[k] = sh->stores[k - 1];
        sh->stores[k] = st;
    }
    for (op = 0, k = 0; op < S_OPS; op++) {
        while (k < sh->nstores && sh->stores[k].op == op) k++;
        sh->op_end[op] = (uint8_t)k;
    }
    return 0;
}

/* The line just read, found valid, as a shape in *sh, with the parts
 * `holes` names (bit i: part i) as holes. Its values are counted in the
 * order the scanner began them (VALUE_BEGUN), so the stores it noted fall
 * on their values. Returns 0, or -1 when it does not fit a shape. */
static int shape_build(const gs_json *j, gs_json_shape *sh, uint64_t holes)
{
    const char *s = j->line, *end = j->line_end, *e;
    const char *run = s;            /* text not yet added */
    unsigned value = 0, next = 0;
    sh->len = 0;
    sh->nholes = sh->nparts = sh->nstores = 0;
    sh->skeleton = 0xcbf29ce484222325u;
    sh->hole_mask = 0;
    for (; s < end; s = e) {
        int kind = 0, t = shape_token(s, end, &e, &kind);
        const gs_json_key *key = NULL;
        if (t == T_TEXT) continue;
        shape_text(sh, run, (size_t)(s - run));
        sh->skeleton = hash_bytes(sh->skeleton, run, (size_t)(s - run));
        run = e;
        if (next < j->nstored && j->shapes->stored[next].value == ++value)
            key = j->shapes->stored[next++].key;
        if (key) sh->skeleton = hash_bytes(sh->skeleton, &key, sizeof key);
        if (t != T_KIND) {
            if (shape_part(sh, j, s, e, t == T_INTEGER, holes, key) < 0) return -1;
            continue;
        }
        shape_text(sh, s, (size_t)(e - s));     /* its text stays; stored: its kind */
        sh->skeleton = hash_bytes(sh->skeleton, s, (size_t)(e - s));
        if (key) {
            gs_json_store *st = shape_store_add(sh, key, S_KIND);
            if (!st) return -1;
            st->kind = (uint8_t)kind;
        }
    }
    shape_text(sh, run, (size_t)(end - run));
    sh->skeleton = hash_bytes(sh->skeleton, run, (size_t)(end - run));
    shape_text(sh, "\n", 1);
    return next == j->nstored ? stores_by_op(sh) : -1;
}

/* The parts of shape sh that the line built as *line has different bytes
 * in (both have the same skeleton). */
static uint64_t parts_changed(const gs_json *j, const gs_json_shape *sh, const gs_json_shape *line)
{
    uint64_t changed = 0;
    unsigned i;
    for (i = 0; i < sh->nparts; i++) {
        const gs_json_part *a = &sh->parts[i], *b = &line->parts[i];
        if (a->hole || b->hole || a->len != b->len ||
            memcmp(sh->text + a->at, j->line + b->from, a->len) != 0)
            changed |= (uint64_t)1 << i;
    }
    return changed;
}

/* The line just read becomes a shape: a known one with the same skeleton
 * gets holes where the two differ; a new one replaces the shape least
 * used, and every count is halved so that old use fades. */
static void shape_learn(gs_json *j)
{
    gs_json_shapes *ss = j->shapes;
    gs_json_shape *line = &ss->spare;
    unsigned i, victim = 0;
    if (shape_build(j, line, 0) < 0) return;
    for (i = 0; i < ss->used; i++) {
        gs_json_shape *sh = &ss->shape[i];
        uint64_t holes;
        if (sh->skeleton != line->skeleton || sh->nparts != line->nparts) continue;
        holes = sh->hole_mask | parts_changed(j, sh, line);
        if (holes != sh->hole_mask && shape_build(j, line, holes) == 0) *sh = *line;
        return;
    }
    if (ss->used < GS_JSON_SHAPES) {
        victim = ss->order[ss->used++];     /* order[] holds each index once */
    } else {
        for (i = 0; i < GS_JSON_SHAPES; i++) {
            if (ss->hits[i] < ss->hits[victim]) victim = i;
            ss->hits[i] -= ss->hits[i] / 2;
        }
    }
    ss->shape[victim] = *line;
    ss->hits[victim] = 1;
}

/* ----- matching -------------------------------------------------------- */

/* Whether p[0..n) is the text t[0..n), p's bytes ending at end: with
 * SSE2, 16 bytes at a time (the text has 16 readable bytes past any of
 * its positions). */
ALWAYS_INLINE int same_text(const char *p, const char *end, const char *t, size_t n)
{
#if defined(__SSE2__)
    if ((size_t)(end - p) >= n + 16) {
        /* the differences of whole 16-byte blocks gathered, then the last
         * (part of a) block: one test for the run */
        __m128i diff = _mm_setzero_si128();
        size_t i = 0;
        for (; n - i > 16; i += 16)
            diff = _mm_or_si128(diff, _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + i)),
                                                    _mm_loadu_si128((const __m128i *)(const void *)(t + i))));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(diff, _mm_setzero_si128())) != 0xFFFF) return 0;
        return (~(unsigned)_mm_movemask_epi8(
                    _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)),
                                   _mm_loadu_si128((const __m128i *)(const void *)(t + i)))) &
                ((1u << (n - i)) - 1)) == 0;
    }
#endif
    return (size_t)(end - p) >= n && memcmp(p, t, n) == 0;
}

/* Whether the line at p is shape sh through its '\n', before end: 1, its
 * holes' values in got[] and *pp past the '\n'; 0 if it is not; -1 if it
 * is as far as a hole whose value is not a plain string or an integer
 * (most likely the shape's line, with an escape or a fraction there). */
static int shape_match(const gs_json_shape *sh, const char *p, const char *end,
                       shape_value *got, const char **pp)
{
    unsigned i, at = 0;
    for (i = 0; i < sh->nholes; i++, got++) {
        unsigned to = sh->holes[i].at;
        if (!same_text(p, end, sh->text + at, to - at)) return 0;
        p += to - at;
        at = to;
        if (sh->holes[i].integer) {
            p = whole_int(p, end, &got->neg, &got->n);
            if (!p) return -1;
        } else {
            size_t n = plain_run((const unsigned char *)p, (size_t)(end - p), 0);
            if (n == (size_t)(end - p) || p[n] != '"') return -1;
            got->s = p;
            got->n = n;
            p += n;
        }
    }
    if (!same_text(p, end, sh->text + at, sh->len - at)) return 0;
    *pp = p + (sh->len - at);
    return 1;
}

/* A matched line's values, stored as the scanner stores them. */
static void shape_store(const gs_json_shape *sh, const shape_value *got, const char *end)
{
    const gs_json_store *st = sh->stores, *stop;
    const char *text_end = sh->text + sizeof sh->text;  /* 16 readable past any place */
    uint8_t over;
    for (stop = sh->stores + sh->op_end[S_KIND]; st < stop; st++) st->into->kind = st->kind;
    for (stop = sh->stores + sh->op_end[S_STRING]; st < stop; st++) {
        if (st->sink)               /* its length and over were worked out once */
            sink_copy(st->sink, st->cap, sh->text + st->at, st->len, text_end);
        st->into->len = st->len;
        st->into->over = st->over;
        st->into->kind = GS_JV_STRING;
    }
    for (stop = sh->stores + sh->op_end[S_INTEGER]; st < stop; st++)
        store_int(st->into, st->neg, st->mag);
    for (stop = sh->stores + sh->op_end[S_HOLE_STRING]; st < stop; st++) {
        const shape_value *g = &got[st->hole];
        st->into->len = sink_whole(st->sink, st->cap, g->s, (size_t)g->n, end, &over);
        st->into->over = over;
        st->into->kind = GS_JV_STRING;
    }
    for (stop = sh->stores + sh->op_end[S_HOLE_INTEGER]; st < stop; st++)
        store_int(st->into, got[st->hole].neg, got[st->hole].n);
}

/* The line at p, if it is a learned shape: they are tried most used
 * first. Returns 1 if so (it is stored and *pp is past it); else 0, or -1
 * when it is a shape but for a hole's value (no other shape is tried, and
 * the line is not worth learning again). */
static int shape_line(gs_json *j, const char **pp, const char *end)
{
    gs_json_shapes *ss = j->shapes;
    shape_value got[GS_JSON_SHAPE_PARTS];
    unsigned k;
    for (k = 0; k < ss->used; k++) {
        unsigned i = ss->order[k];
        int m = shape_match(&ss->shape[i], *pp, end, got, pp);
        if (m < 0) return -1;
        if (m == 0) continue;
        shape_store(&ss->shape[i], got, end);
        j->shaped++;
        j->status = GS_JL_OK;
        j->too_deep = 0;
        ss->hits[i]++;
        if (k > 0 && ss->hits[i] > ss->hits[ss->order[k - 1]]) {    /* up one place */
            ss->order[k] = ss->order[k - 1];
            ss->order[k - 1] = (uint8_t)i;
        }
        return 1;
    }
    return 0;
}
#endif

/* ===================================================================== */
/* The scanner loop                                                       */
/* ===================================================================== */

/* The hot states (whitespace, punctuation, plain strings) jump straight
 * to one another with goto, so a compact line costs no table dispatch per
 * byte; the rare ones (escapes, numbers, literals, deep, error) go one
 * byte at a time through slow_step(). */

#define ADVANCE(st, label)                                   \
    do {                                                     \
        j->state = (st);                                     \
        if (++p == end) goto more;                           \
        c = (unsigned char)*p;                               \
        goto label;                                          \
    } while (0)
/* Whitespace and '\n' are both at most ' ': compact JSON pays one compare. */
#define SKIP_WS()                                            \
    if (c <= ' ') {                                          \
        while (is_ws(c)) {                                   \
            if (++p == end) goto more;                       \
            c = (unsigned char)*p;                           \
        }                                                    \
        if (c == '\n') goto newline;                         \
    }

/* One byte in a rare state. Returns an event, -1 (go on) or -2 (invalid).
 * *consumed is 0 when the byte must be read again in the new state. */
static int slow_step(gs_json *j, unsigned char c, int *consumed)
{
    *consumed = 1;
    switch (j->state) {
    case J_STR:                     /* a UTF-8 continuation byte is owed */
        if (c < j->u8_lo || c > j->u8_hi) return -2;
        j->u8_lo = 0x80;
        j->u8_hi = 0xBF;
        j->u8_need--;
        sink_put(j, (const char *)&c, 1);
        return -1;
    case J_ESC:
        return short_escape(j, c);
    case J_HEX: {
        int v = hex_value(c);
        if (v < 0) return -2;
        j->hex = j->hex << 4 | (uint32_t)v;
        if (++j->hex_n == 4) escape_done(j);
        return -1;
    }
    case J_SURR_BS:
        if (c == '\\') { j->state = J_SURR_U; return -1; }
        flush_high(j);
        j->state = J_STR;
        *consumed = 0;              /* the byte belongs to the string */
        return -1;
    case J_SURR_U:
        if (c == 'u') { j->hex = 0; j->hex_n = 0; j->state = J_HEX; return -1; }
        flush_high(j);
        return short_escape(j, c);
    case J_NUM_MINUS:
        if (c == '0') j->state = J_NUM_ZERO;
        else if (is_digit(c)) { num_digit(j, c); j->state = J_NUM_INT; }
        else return -2;
        return -1;
    case J_NUM_INT:
        if (is_digit(c)) { num_digit(j, c); return -1; }
        /* fall through */
    case J_NUM_ZERO:
        if (c != '.' && c != 'e' && c != 'E') break;
        j->num_int = 0;
        j->state = c == '.' ? J_NUM_DOT : J_NUM_E;
        num_text_start(j, c);
        return -1;
    case J_NUM_DOT:
        if (!is_digit(c)) return -2;
        j->state = J_NUM_FRAC;
        num_text(j, c);
        return -1;
    case J_NUM_FRAC:
        if (is_digit(c)) { num_text(j, c); return -1; }
        if (c == 'e' || c == 'E') { j->state = J_NUM_E; num_text(j, c); return -1; }
        break;
    case J_NUM_E:
        if (c == '+' || c == '-') j->state = J_NUM_ESIGN;
        else if (is_digit(c)) j->state = J_NUM_EXP;
        else return -2;
        num_text(j, c);
        return -1;
    case J_NUM_ESIGN:
        if (!is_digit(c)) return -2;
        j->state = J_NUM_EXP;
        num_text(j, c);
        return -1;
    case J_NUM_EXP:
        if (is_digit(c)) { num_text(j, c); return -1; }
        break;
    case J_LIT:
        if (c != (unsigned char)*j->lit) return -2;
        if (*++j->lit == '\0') return scalar_done(j, j->kind);
        return -1;
    default:
        return -2;
    }
    *consumed = 0;                  /* a number ended: re-read the byte */
    return scalar_done(j, GS_JV_NUMBER);
}

static int scan(gs_json *j, const char **pp, const char *end)
{
    const char *p = *pp;
    const gs_json_key *k;           /* an expected member just matched */
    unsigned char c;
    int ev;

resume:
    if (p == end) goto more;
    c = (unsigned char)*p;
    switch (j->state) {
    case J_START:
        j->too_deep = 0;
        if (j->top) want_key(j, j->top);
        goto value;
    case J_VALUE: goto value;
    case J_ARR_FIRST: goto arr_first;
    case J_OBJ_FIRST: goto obj_first;
    case J_KEY: goto key;
    case J_COLON: goto colon;
    case J_NEXT: goto next;
    case J_DONE: goto done;
    case J_STR: if (j->u8_need == 0) goto str; break;
    case J_NUM_INT: goto num_int;
    case J_DEEP: goto deep;
    case J_ERROR: goto error;
    default: break;
    }
slow:                               /* a rare state: one byte at a time */
    for (;;) {
        int consumed;
        if (c == '\n' && j->state != J_NUM_INT && j->state != J_NUM_ZERO &&
            j->state != J_NUM_FRAC && j->state != J_NUM_EXP)
            goto newline;           /* cut off inside an escape or literal */
        ev = slow_step(j, c, &consumed);
        if (ev == -2) goto invalid;
        if (consumed) p++;
        if (ev >= 0) goto emit;
        if (j->state < J_ESC && !(j->state == J_STR && j->u8_need)) goto resume;
        if (p == end) goto more;
        c = (unsigned char)*p;
    }

value:
    SKIP_WS();
    switch (c) {
    case '"': {
        long n = plain_string(p, end);
        if (n >= 0) {               /* whole in the chunk */
            if (!j->want) j->sink = NULL;
            string_whole(j, p + 1, (size_t)n, end);
            ev = scalar_done(j, GS_JV_STRING);
            p += n + 2;
            goto value_ended;
        }
        start_string(j, 0);
        ADVANCE(J_STR, str);
    }
    case '{':
    case '[':
        if (c == '{' && j->into && j->into_key && j->into_key->sub && j->depth < GS_MAX_DEPTH)
            ev = open_nested(j, j->into_key);   /* a line's object, mostly */
        else
            ev = open_container(j, c == '{');
        p++;
        if (ev >= 0) goto emit;
        if (p == end) goto more;
        c = (unsigned char)*p;
        if (j->state == J_OBJ_FIRST) goto obj_first;
        goto resume;
    default:
        ev = begin_value(j, c);
        if (ev == -2) goto invalid;
        p++;
        if (j->state == J_NUM_INT) goto num_int;
        goto resume;
    }

num_int:                            /* p is at a digit or the integer's end */
    p = int_digits(j, p, end);
    if (p == end) goto more;
    c = (unsigned char)*p;
    if (c == '.' || c == 'e' || c == 'E') goto slow;
    ev = scalar_done(j, GS_JV_NUMBER);
value_ended:                        /* after a scalar: p is past it */
    if (ev >= 0) goto emit;
    if (p == end) goto more;
    c = (unsigned char)*p;
    if (j->state == J_NEXT) goto next;
    goto done;

arr_first:
    SKIP_WS();
    if (c == ']') goto close;
    if (j->entered & bit(j->depth)) goto element;
    goto value;

obj_first:
    SKIP_WS();
    if (c == '}') goto close;
    /* fall through */
key:
    SKIP_WS();
    if (c != '"') goto invalid;
    if (j->depth <= GS_JSON_KEYED && j->key_next[j->depth] < j->nkeys[j->depth] &&
        key_here(&j->keys[j->depth][j->key_next[j->depth]], p, end)) {
        /* the member the last one's successor names, compared in place */
        k = key_matched(j, j->key_next[j->depth]);
        p += k->len + 2;
        j->state = J_COLON;
        j->want = 0;
        goto expected;
    }
    {
        long n = plain_string(p, end);
        if (n >= 0) {               /* whole in the chunk */
            const char *name = p + 1;
            p += n + 2;
            if (j->depth <= GS_JSON_KEYED && j->nkeys[j->depth]) {
                /* expected: matched in place; a scalar it keeps is
                 * mostly whole in the chunk too */
                int i = key_index(j, name, (size_t)n, end);
                j->state = J_COLON;
                j->want = 0;
                if (i < 0) goto after_key;      /* skipped */
                k = key_matched(j, i);
                goto expected;
            }
            ev = key_whole(j, name, (size_t)n, end);
            if (ev >= 0) goto emit;
after_key:
            if (p == end) goto more;
            c = (unsigned char)*p;
            goto colon;
        }
    }
    start_string(j, 1);
    ADVANCE(J_STR, str);

expected:                           /* key k matched; p is past its name */
    if (k->sub && k->into && end - p >= 2 && p[0] == ':' && p[1] == '{' && j->depth < GS_MAX_DEPTH) {
        /* compact "name":{ of a key that leads to an object */
        want_key(j, k);
        p += 2;
        ev = open_nested(j, k);
        if (ev >= 0) goto emit;
        if (p == end) goto more;
        c = (unsigned char)*p;
        goto obj_first;
    }
    if (k->into) {
        /* a key that leads to an object otherwise takes the byte path */
        const char *q = k->sub ? NULL : scalar_whole(j, k, p, end);
        if (q) {
            p = q;
            if (p == end) goto more;
            c = (unsigned char)*p;
            if (c == ',') ADVANCE(J_KEY, key);  /* expected keys are an object's */
            goto next;
        }
        want_key(j, k);
    } else {
        j->key_tag = k->tag;
        ev = key_report(j, p - k->len - 1, k->len);
        if (ev >= 0) goto emit;
    }
    if (p == end) goto more;
    c = (unsigned char)*p;
    goto colon;
    start_string(j, 1);
    ADVANCE(J_STR, str);

colon:
    SKIP_WS();
    if (c != ':') goto invalid;
    ADVANCE(J_VALUE, value);

next:
    SKIP_WS();
    if (c == ',') {
        if (j->objects & bit(j->depth)) ADVANCE(J_KEY, key);
        if (j->entered & bit(j->depth)) {
            p++;
            goto element;
        }
        ADVANCE(J_VALUE, value);
    }
    if (c != '}' && c != ']') goto invalid;
    /* fall through */
close:
    ev = close_container(j, c == '}');
    if (ev == -2) goto invalid;
    p++;
    if (ev >= 0) goto emit;
    if (p == end) goto more;
    c = (unsigned char)*p;
    if (j->state == J_NEXT) goto next;  /* still in a container */
    goto done;

element:                            /* of an array whose elements are reported */
    j->state = J_VALUE;
    ev = GS_JSON_ELEMENT;
    goto emit;

done:
    SKIP_WS();
    goto invalid;

str: {
    /* Fast path: a run of plain ASCII goes to the sink at once. */
    size_t run = plain_run((const unsigned char *)p, (size_t)(end - p), 0);
    if (run <= 16 && end - p >= 16 && j->sink && j->str_len + 16 <= j->sink_cap) {
        /* a short run in one fixed-size move: the bytes past it are in
         * the chunk and land in the sink's unused room */
        memcpy(j->sink + j->str_len, p, 16);
        j->str_len += run;
    } else if (run) {
        sink_put(j, p, run);
    }
    p += run;
    if (p == end) goto more;
    c = (unsigned char)*p;
    if (c == '"') {
        ev = string_done(j);
        p++;
        if (ev >= 0) goto emit;
        if (p == end) goto more;
        c = (unsigned char)*p;
        if (j->state == J_COLON) goto colon;    /* after a key */
        if (j->state == J_NEXT) goto next;      /* after a value */
        goto resume;
    }
    if (c == '\\') ADVANCE(J_ESC, resume_byte);
    if (c < 0x20) goto invalid;
    if (utf8_lead(j, c) == -2) goto invalid;
    sink_put(j, (const char *)p, 1);
    p++;
    goto resume;
}

resume_byte:                        /* c is already loaded */
    goto resume;

deep:
    p = scan_deep(j, p, end);
    if (p < end && *p == '\n' && j->state == J_DEEP) {
        j->state = J_ERROR;
        goto newline;
    }
    goto resume;

invalid:                            /* the offending byte is read again, */
    j->state = J_ERROR;             /* so a '\n' still ends the line */
error: {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) { p = end; goto more; }
    p = nl;
}
newline:
    *pp = p + 1;
    return line_end(j, p);

emit:
    NOT_A_SHAPE(j);
    *pp = p;
    return ev;

more:
    *pp = p;
    return GS_JSON_MORE;
}

/* A line starts with a look at the shapes learned, before the scanner. */
int gs_json_next(gs_json *j, const char **pp, const char *end)
{
#if GS_JSON_SHAPES > 0
    if (j->state == J_START && j->shapes && *pp < end) {
        int m = shape_line(j, pp, end);
        if (m > 0) return GS_JSON_LINE;
        if (m == 0) learn_begin(j, *pp, end);
    }
#endif
    return scan(j, pp, end);
}

/* ===================================================================== */
/* Writer                                                                 */
/* ===================================================================== */

static const char hex_digits[] = "0123456789abcdef";

static char *put_u_escape(char *d, uint32_t u)
{
    d[0] = '\\'; d[1] = 'u';
    d[2] = hex_digits[u >> 12 & 0xF]; d[3] = hex_digits[u >> 8 & 0xF];
    d[4] = hex_digits[u >> 4 & 0xF];  d[5] = hex_digits[u & 0xF];
    return d + 6;
}

/* Decodes one UTF-8 (or WTF-8) sequence at s; sets *len. Bytes that do
 * not form one are taken one at a time as U+FFFD. */
static uint32_t decode_utf8(const unsigned char *s, size_t n, size_t *len)
{
    unsigned need, i;
    uint32_t cp;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) { need = 1; cp = s[0] & 0x1Fu; }
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) { need = 2; cp = s[0] & 0x0Fu; }
    else if (s[0] >= 0xF0 && s[0] <= 0xF4) { need = 3; cp = s[0] & 0x07u; }
    else { *len = 1; return 0xFFFD; }
    if (need >= n) { *len = 1; return 0xFFFD; }
    for (i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) { *len = 1; return 0xFFFD; }
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
        *len = 1;
        return 0xFFFD;
    }
    *len = need + 1;
    return cp;
}

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The high bit of each byte of w that the writer must escape: a quote, a
 * backslash, a control byte, DEL or non-ASCII (as plain_run's words). */
static inline uint64_t needs_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\'), d = w ^ (ones * 0x7F);
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((d - ones) & ~d) |
            ((w - ones * 0x20) & ~w) | w) & highs;
}

#if defined(__SSE2__)
/* The bytes of v the writer must escape, as a movemask. */
static inline unsigned needs_escape16(__m128i v)
{
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                          _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                             _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F)),
                                          _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Whether s[0..n), 4 <= n <= 32, needs no escaping: checked in two words
 * (or, from 16 bytes, two SSE2 vectors) that may overlap, never reading
 * outside s[0..n). */
static inline int short_plain(const unsigned char *s, size_t n)
{
    uint64_t a, b;
    if (n >= 16) {
#if defined(__SSE2__)
        return !(needs_escape16(_mm_loadu_si128((const __m128i *)(const void *)s)) |
                 needs_escape16(_mm_loadu_si128((const __m128i *)(const void *)(s + n - 16))));
#else
        return 0;
#endif
    }
    if (n >= 8) {
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
    } else {
        uint32_t lo, hi;
        memcpy(&lo, s, 4);
        memcpy(&hi, s + n - 4, 4);
        a = lo | (uint64_t)hi << 32;
        b = a;
    }
    return !(needs_escape(a) | needs_escape(b));
}
#define SHORT_PLAIN(s, n) ((n) >= 4 && (n) <= 32 && short_plain(s, n))
#else
#define SHORT_PLAIN(s, n) 0
#endif

char *gs_json_put_str(char *d, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    const unsigned char *end = s + n;
    *d++ = '"';
    if (SHORT_PLAIN(s, n)) {        /* most ids and short texts: checked in bulk */
        copy_bytes(d, str, n);
        d[n] = '"';
        return d + n + 1;
    }
    while (s < end) {
        if (end - s < 16) {         /* short: checked and copied in one pass */
            while (s < end && !str_stop[*s] && *s != 0x7F) *d++ = (char)*s++;
        } else {
            size_t run = plain_run(s, (size_t)(end - s), 1);
            copy_bytes(d, (const char *)s, run);
            d += run;
            s += run;
        }
        if (s == end) break;
        if (*s < 0x80) {
            unsigned char c = *s++;
            *d++ = '\\';
            switch (c) {
            case '"': *d++ = '"'; break;
            case '\\': *d++ = '\\'; break;
            case '\n': *d++ = 'n'; break;
            case '\r': *d++ = 'r'; break;
            case '\t': *d++ = 't'; break;
            case '\b': *d++ = 'b'; break;
            case '\f': *d++ = 'f'; break;
            default: d = put_u_escape(d - 1, c); break;
            }
        } else {
            size_t len;
            uint32_t cp = decode_utf8(s, (size_t)(end - s), &len);
            s += len;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                d = put_u_escape(d, 0xD800 + (cp >> 10));
                d = put_u_escape(d, 0xDC00 + (cp & 0x3FF));
            } else {
                d = put_u_escape(d, cp);
            }
        }
    }
    *d++ = '"';
    return d;
}

size_t gs_json_str_size(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    const unsigned char *end = s + n;
    size_t size = 2;
    while (s < end) {
        size_t run = plain_run(s, (size_t)(end - s), 1);
        size += run;
        s += run;
        if (s == end) break;
        if (*s < 0x80) {
            unsigned char c = *s++;
            size += c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' ||
                    c == '\b' || c == '\f' ? 2 : 6;
        } else {
            size_t len;
            uint32_t cp = decode_utf8(s, (size_t)(end - s), &len);
            s += len;
            size += cp >= 0x10000 ? 12 : 6;
        }
    }
    return size;
}

static const char two_digits[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Below 10^8 (msg_ids, counts, seqs) the digits are counted first and
 * written in place with 32-bit arithmetic. */
ALWAYS_INLINE char *put_u32_small(char *d, uint32_t x)
{
    /* the digit count in two or three compares */
    unsigned len = x < 10000 ? (x < 100 ? (x < 10 ? 1 : 2) : (x < 1000 ? 3 : 4))
                             : (x < 1000000 ? (x < 100000 ? 5 : 6) : (x < 10000000 ? 7 : 8));
    char *e = d + len;
    while (x >= 100) {
        uint32_t r = x % 100;
        x /= 100;
        e -= 2;
        memcpy(e, two_digits + 2 * r, 2);
    }
    if (x >= 10) memcpy(e - 2, two_digits + 2 * x, 2);
    else e[-1] = (char)('0' + x);
    return d + len;
}

char *gs_json_put_u64(char *d, uint64_t v)
{
    char tmp[20];
    int n = 20;
    if (v < 100000000) return put_u32_small(d, (uint32_t)v);
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        tmp[--n] = two_digits[2 * r + 1];
        tmp[--n] = two_digits[2 * r];
    }
    if (v >= 10) {
        tmp[--n] = two_digits[2 * v + 1];
        tmp[--n] = two_digits[2 * v];
    } else {
        tmp[--n] = (char)('0' + v);
    }
    memcpy(d, tmp + n, (size_t)(20 - n));
    return d + (20 - n);
}

char *gs_json_put_int(char *d, int neg, uint64_t mag)
{
    if (neg && mag) *d++ = '-';
    if (mag < 100000000) return put_u32_small(d, (uint32_t)mag);
    return gs_json_put_u64(d, mag);
}
