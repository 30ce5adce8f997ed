/*
 * fuzz_hpack.c - the HPACK decoder (grpcstream.c: hp_dec_init,
 * hp_block_begin, hp_decode, hp_block_end) under libFuzzer, fed arbitrary
 * bytes. grpcstream.c is included whole: its hp_ functions are static.
 *
 * Input: records, each a 2-byte head h0 h1 and then a header block:
 *   (h0 & 7) << 8 | h1  the block's length (cut at the input's end)
 *   h0 >> 3 & 7         how decoder A is fed it: whole, or in heap copies
 *                       of 1, 2, 3, 5, 8, 13 or 64 bytes
 *   h0 & 0x40           first a new table maximum, min(h1 * 16,
 *                       GS_HPACK_TABLE), as SETTINGS would (hp_dec_set_max)
 *   h0 & 0x80           the block's header list limit is h1 * 8 (else none)
 * Decoder B gets the same blocks, whole when A's are cut and a byte at a
 * time when A's are whole. After a compression error both start anew
 * (hp_dec_init: a new connection). Checked:
 *   - A and B report the same fields (name, value, lengths, flags), the
 *     same errors (and why), compared by a hash of them, and end every
 *     block with equal tables: the result does not depend on where the
 *     input is cut;
 *   - after every call: the table's size is the sum of its entries' sizes,
 *     at most its maximum and its storage; its entries lie end to end in
 *     the ring, the newest ending at head; count <= slots;
 *   - a field: name_over / value_over exactly when longer than
 *     GS_MAX_HEADER; list_size is the sum of name + value + 32 over the
 *     block and list_over says whether it passed the limit; a literal with
 *     incremental indexing that fits the maximum is the newest entry;
 *   - HP_MORE only with the piece used up; an error is sticky (consumes
 *     nothing, hp_block_end fails too) and says why.
 */
#ifndef GS_NO_MAIN
#define GS_NO_MAIN
#endif
#include "../grpcstream.c"
#include "fuzz_common.h"

/* What a decoder reported for a block: a count and an FNV-1a hash of
 * every field's lengths, flags and bytes, and of every error's why. */
typedef struct { uint64_t n, h; } fz_log;

static void log_add(fz_log *l, const void *s, size_t n)
{
    const uint8_t *b = (const uint8_t *)s;
    size_t i;
    for (i = 0; i < n; i++) l->h = (l->h ^ b[i]) * 0x100000001b3ull;
    l->n += n;
}

static gs_hpack_dec dec_a, dec_b;
static fz_log log_a, log_b;
static uint8_t name_buf[GS_MAX_HEADER], value_buf[GS_MAX_HEADER];

static void check_table(gs_hpack_dec *d)
{
    gs_hpack_view v = hp_dec_view(d);
    const gs_hpack_table *t = &d->tab;
    uint64_t size = 0;
    uint32_t i, end = t->head;
    FUZZ_CHECK(t->count <= t->slots && t->size <= t->max && t->size <= t->cap,
               "table: count %u slots %u size %u max %u cap %u", t->count, t->slots, t->size, t->max, t->cap);
    for (i = 0; i < t->count; i++) {
        const gs_hpack_entry *e = hp_tab_get(v, i);
        FUZZ_CHECK(e && e->off < t->cap, "entry %u: offset", i);
        FUZZ_CHECK(((uint32_t)e->off + e->nlen + e->vlen) % t->cap == end,
                   "entry %u does not end where entry %u starts", i, i - 1);
        end = e->off;
        size += (uint64_t)e->nlen + e->vlen + HP_ENTRY;
    }
    FUZZ_CHECK(size == t->size, "table size %u, entries add up to %llu", t->size, (unsigned long long)size);
}

/* A decoded field: checks, then logs it. */
static void on_field(gs_hpack_dec *d, fz_log *l, uint64_t *list)
{
    uint32_t flags = (uint32_t)d->name_over | (uint32_t)d->value_over << 1 | (uint32_t)d->never_indexed << 2;
    uint64_t need = (uint64_t)d->name_len + d->value_len + HP_ENTRY;
    FUZZ_CHECK(d->name_over == (d->name_len > GS_MAX_HEADER) && d->value_over == (d->value_len > GS_MAX_HEADER),
               "over flags %u/%u for lengths %u/%u", d->name_over, d->value_over, d->name_len, d->value_len);
    FUZZ_CHECK(d->never_indexed == (d->rep == HP_R_NEVER), "never_indexed %u", d->never_indexed);
    *list += need;
    FUZZ_CHECK(d->list_size == *list && d->list_over == (*list > d->list_limit),
               "list_size %llu (want %llu), list_over %u, limit %u", (unsigned long long)d->list_size,
               (unsigned long long)*list, d->list_over, d->list_limit);
    if (d->rep == HP_R_INC && need <= d->tab.max) {
        gs_hpack_view v = hp_dec_view(d);
        const gs_hpack_entry *e = hp_tab_get(v, 0);
        FUZZ_CHECK(e && e->nlen == d->name_len && e->vlen == d->value_len, "indexed field is not the newest entry");
        hp_ring_get(v, e->off, name_buf, e->nlen);
        hp_ring_get(v, hp_tab_value_off(v, e), value_buf, e->vlen);
        FUZZ_CHECK(fuzz_memeq(name_buf, d->name, e->nlen) && fuzz_memeq(value_buf, d->value, e->vlen),
                   "newest entry's bytes differ from the field");
    }
    log_add(l, "F", 1);
    log_add(l, &d->name_len, 4);
    log_add(l, &d->value_len, 4);
    log_add(l, &flags, 4);
    log_add(l, d->name, d->name_over ? GS_MAX_HEADER : d->name_len);
    log_add(l, d->value, d->value_over ? GS_MAX_HEADER : d->value_len);
}

static int on_error(gs_hpack_dec *d, fz_log *l, const uint8_t *p, const uint8_t *end)
{
    const uint8_t *q = p;
    FUZZ_CHECK(d->why && *d->why, "an error without why");
    FUZZ_CHECK(hp_decode(d, &q, end) == HP_ERR_COMPRESSION && q == p, "error not sticky");
    FUZZ_CHECK(hp_block_end(d) == HP_ERR_COMPRESSION, "hp_block_end after an error");
    log_add(l, "E", 1);
    log_add(l, d->why, strlen(d->why));
    return -1;
}

/* Decodes one block in pieces of `piece` bytes (0: whole), each a heap
 * copy of exactly its bytes. Returns 0, or -1 after an error. */
static int decode_block(gs_hpack_dec *d, fz_log *l, const uint8_t *b, size_t n, size_t piece, uint32_t limit)
{
    size_t off = 0;
    uint64_t list = 0;
    hp_block_begin(d, limit);
    do {
        size_t k = piece && n - off > piece ? piece : n - off;
        uint8_t *copy = malloc(k ? k : 1);
        const uint8_t *p = copy, *end = copy + k;
        int r;
        if (!copy) abort();
        if (k) memcpy(copy, b + off, k);
        while ((r = hp_decode(d, &p, end)) == HP_FIELD) {
            check_table(d);
            on_field(d, l, &list);
        }
        check_table(d);
        if (r != HP_MORE) {
            FUZZ_CHECK(r == HP_ERR_COMPRESSION, "hp_decode returned %d", r);
            r = on_error(d, l, p, end);
            free(copy);
            return r;
        }
        FUZZ_CHECK(p == end, "HP_MORE with %zu bytes left", (size_t)(end - p));
        free(copy);
        off += k;
    } while (off < n);
    if (hp_block_end(d) != 0) return on_error(d, l, NULL, NULL);
    log_add(l, "B", 1);
    return 0;
}

static void same_tables(gs_hpack_dec *a, gs_hpack_dec *b)
{
    static uint8_t x[GS_MAX_HEADER], y[GS_MAX_HEADER];
    gs_hpack_view va = hp_dec_view(a), vb = hp_dec_view(b);
    uint32_t i;
    FUZZ_CHECK(a->tab.size == b->tab.size && a->tab.max == b->tab.max && a->tab.count == b->tab.count,
               "tables differ: size %u/%u max %u/%u count %u/%u", a->tab.size, b->tab.size, a->tab.max,
               b->tab.max, a->tab.count, b->tab.count);
    for (i = 0; i < a->tab.count; i++) {
        const gs_hpack_entry *ea = hp_tab_get(va, i), *eb = hp_tab_get(vb, i);
        FUZZ_CHECK(ea->nlen == eb->nlen && ea->vlen == eb->vlen, "entry %u: lengths differ", i);
        hp_ring_get(va, ea->off, x, ea->nlen);
        hp_ring_get(vb, eb->off, y, eb->nlen);
        FUZZ_CHECK(fuzz_memeq(x, y, ea->nlen), "entry %u: names differ", i);
        hp_ring_get(va, hp_tab_value_off(va, ea), x, ea->vlen);
        hp_ring_get(vb, hp_tab_value_off(vb, eb), y, eb->vlen);
        FUZZ_CHECK(fuzz_memeq(x, y, ea->vlen), "entry %u: values differ", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t pieces[8] = { 0, 1, 2, 3, 5, 8, 13, 64 };
    size_t off = 0;
    hp_dec_init(&dec_a);
    hp_dec_init(&dec_b);
    while (size - off >= 2) {
        uint8_t h0 = data[off], h1 = data[off + 1];
        size_t len = (size_t)(h0 & 7) << 8 | h1, piece = pieces[h0 >> 3 & 7];
        uint32_t limit = h0 & 0x80 ? (uint32_t)h1 * 8 : UINT32_MAX;
        int ra, rb;
        off += 2;
        if (len > size - off) len = size - off;
        if (h0 & 0x40) {
            uint32_t max = (uint32_t)h1 * 16 < GS_HPACK_TABLE ? (uint32_t)h1 * 16 : GS_HPACK_TABLE;
            hp_dec_set_max(&dec_a, max);
            hp_dec_set_max(&dec_b, max);
            check_table(&dec_a);
        }
        log_a.n = log_b.n = 0;
        log_a.h = log_b.h = 0xcbf29ce484222325ull;
        ra = decode_block(&dec_a, &log_a, data + off, len, piece, limit);
        rb = decode_block(&dec_b, &log_b, data + off, len, piece ? 0 : 1, limit);
        FUZZ_CHECK(ra == rb && log_a.n == log_b.n && log_a.h == log_b.h,
                   "pieces of %zu and %zu bytes decode differently (%d/%d, %llu/%llu bytes reported)", piece,
                   piece ? (size_t)0 : (size_t)1, ra, rb, (unsigned long long)log_a.n,
                   (unsigned long long)log_b.n);
        same_tables(&dec_a, &dec_b);
        if (ra < 0) {
            hp_dec_init(&dec_a);
            hp_dec_init(&dec_b);
        }
        off += len;
    }
    return 0;
}
