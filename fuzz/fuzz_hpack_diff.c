/*
 * fuzz_hpack_diff.c - differential: grpcstream.c's HPACK encoder
 * (hp_encode, here with a dynamic table of GS_HPACK_ENC_TABLE = 4096
 * bytes) against its decoder (hp_decode), on header lists built from the
 * input. grpcstream.c is included whole: its hp_ functions are static.
 *
 * Input: byte 0 sets the encoder's table size, min(byte * 16, 4096)
 * (hp_enc_init; the decoder starts at HTTP/2's 4096). Then ops, by their
 * first byte c:
 *   c >= 0xE0   a size update to min(next byte * 16, 4096) at the start
 *               of the current block (the encoder's table too)
 *   c >= 0xC0   ends the current block: encode it into a heap buffer of
 *               exactly the room promised (6 bytes per size update,
 *               hp_encode_max per field), decode it in pieces of the next
 *               byte's size (0: whole), compare
 *   else        a field: how = c & 3 (0 no index, 1 and 3 index, 2 never
 *               index), Huffman if c & 4, then
 *                 c & 0x20  the name and value of an earlier field (the
 *                           next byte picks it), or else
 *                 name      c & 8: a static table entry's name (the next
 *                           byte picks it); else a length byte and bytes
 *                 value     a length byte and bytes; c & 0x10: repeated
 *                           to more than GS_MAX_HEADER bytes
 * The end of the input ends the last block. Checked, block by block:
 *   - hp_encode writes within the room it promises (ASan);
 *   - the decoder gives exactly the list: names and values (one longer
 *     than GS_MAX_HEADER: its length, the over flag, its first
 *     GS_MAX_HEADER bytes), never_indexed exactly where asked, no error,
 *     the block ending between fields;
 *   - the encoder's table is the decoder's newest entries (the decoder
 *     may hold more: its maximum is never smaller, and an entry larger
 *     than the encoder's maximum empties the encoder's table only).
 */
#ifndef GS_HPACK_ENC_TABLE
#define GS_HPACK_ENC_TABLE 4096
#endif
#ifndef GS_NO_MAIN
#define GS_NO_MAIN
#endif
#include "../grpcstream.c"
#include "fuzz_common.h"

#if GS_HPACK_ENC_TABLE < 4096 || GS_HPACK_TABLE < 4096
#error "fuzz_hpack_diff.c needs GS_HPACK_ENC_TABLE and GS_HPACK_TABLE >= 4096"
#endif

#define MAX_FIELDS 4096
#define MAX_UPDATES 64
#define LONG_VALUE (GS_MAX_HEADER + 100)

typedef struct {
    const char *name, *value;
    size_t nlen, vlen;
    int how, huffman;
} field;

static field fields[MAX_FIELDS];
static char *longs[MAX_FIELDS];
static size_t nfields, nlongs, block_start;
static uint32_t updates[MAX_UPDATES];
static unsigned nupdates;
static gs_hpack_enc enc;
static gs_hpack_dec dec;

/* As tests/hpack_cli.c: the encoder's side of a size update (6.3). */
static uint8_t *hp_encode_size_update(gs_hpack_enc *e, uint8_t *d, uint32_t size)
{
    hp_tab_set_max(hp_enc_view(e), size < e->tab.cap ? size : e->tab.cap);
    return hp_put_int(d, 0x20, 5, size);
}

static size_t take(const uint8_t *data, size_t size, size_t *off, size_t want, const char **p)
{
    *p = (const char *)data + *off;
    if (want > size - *off) want = size - *off;
    *off += want;
    return want;
}

static uint8_t next_byte(const uint8_t *data, size_t size, size_t *off)
{
    return *off < size ? data[(*off)++] : 0;
}

static void same_string(const char *what, size_t i, const uint8_t *got, uint32_t got_len, int over,
                        const char *want, size_t want_len)
{
    FUZZ_CHECK(got_len == want_len, "field %zu: %s of %u bytes, want %zu", i, what, got_len, want_len);
    FUZZ_CHECK(over == (want_len > GS_MAX_HEADER), "field %zu: %s over flag %d", i, what, over);
    FUZZ_CHECK(fuzz_memeq(got, want, want_len < GS_MAX_HEADER ? want_len : GS_MAX_HEADER),
               "field %zu: %s differs", i, what);
}

/* The encoder's entries are the decoder's newest ones. */
static void check_tables(void)
{
    static uint8_t x[GS_MAX_HEADER], y[GS_MAX_HEADER];
    gs_hpack_view ve = hp_enc_view(&enc), vd = hp_dec_view(&dec);
    uint32_t i;
    FUZZ_CHECK(enc.tab.count <= dec.tab.count && enc.tab.size <= dec.tab.size,
               "encoder table (%u entries, %u bytes) beyond the decoder's (%u, %u)", enc.tab.count,
               enc.tab.size, dec.tab.count, dec.tab.size);
    for (i = 0; i < enc.tab.count; i++) {
        const gs_hpack_entry *a = hp_tab_get(ve, i), *b = hp_tab_get(vd, i);
        FUZZ_CHECK(a->nlen == b->nlen && a->vlen == b->vlen, "entry %u: lengths differ", i);
        hp_ring_get(ve, a->off, x, a->nlen);
        hp_ring_get(vd, b->off, y, b->nlen);
        FUZZ_CHECK(fuzz_memeq(x, y, a->nlen), "entry %u: names differ", i);
        hp_ring_get(ve, hp_tab_value_off(ve, a), x, a->vlen);
        hp_ring_get(vd, hp_tab_value_off(vd, b), y, b->vlen);
        FUZZ_CHECK(fuzz_memeq(x, y, a->vlen), "entry %u: values differ", i);
    }
}

/* Encodes fields[block_start..nfields) after the size updates, decodes
 * them in pieces of `piece` bytes and compares. */
static void run_block(size_t piece)
{
    size_t room = 6 * (size_t)nupdates, i, got = block_start, off = 0, len;
    uint8_t *buf, *d;
    unsigned u;
    for (i = block_start; i < nfields; i++) room += hp_encode_max(fields[i].nlen, fields[i].vlen);
    buf = malloc(room ? room : 1);
    if (!buf) abort();
    d = buf;
    for (u = 0; u < nupdates; u++) d = hp_encode_size_update(&enc, d, updates[u]);
    for (i = block_start; i < nfields; i++) {
        const field *f = &fields[i];
        d = hp_encode(&enc, d, f->name, f->nlen, f->value, f->vlen, f->how, f->huffman);
    }
    len = (size_t)(d - buf);
    FUZZ_CHECK(len <= room, "encoded %zu bytes, room %zu", len, room);

    hp_block_begin(&dec, UINT32_MAX);
    do {
        size_t k = piece && len - off > piece ? piece : len - off;
        const uint8_t *p = buf + off, *end = p + k;
        int r;
        while ((r = hp_decode(&dec, &p, end)) == HP_FIELD) {
            const field *f = &fields[got];
            FUZZ_CHECK(got < nfields, "decoded more fields than the %zu encoded", nfields - block_start);
            same_string("name", got, dec.name, dec.name_len, dec.name_over, f->name, f->nlen);
            same_string("value", got, dec.value, dec.value_len, dec.value_over, f->value, f->vlen);
            FUZZ_CHECK(dec.never_indexed == (f->how == HP_NEVER_INDEX), "field %zu: never_indexed %u, how %d",
                       got, dec.never_indexed, f->how);
            got++;
        }
        FUZZ_CHECK(r == HP_MORE, "decoder error on our own encoding: %s", dec.why);
        off += k;
    } while (off < len);
    FUZZ_CHECK(hp_block_end(&dec) == 0, "block ends inside a field: %s", dec.why);
    FUZZ_CHECK(got == nfields, "decoded %zu fields of %zu", got - block_start, nfields - block_start);
    check_tables();
    free(buf);
    block_start = nfields;
    nupdates = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int hows[4] = { HP_NO_INDEX, HP_INDEX, HP_NEVER_INDEX, HP_INDEX };
    size_t off = 1, i;
    uint32_t table;
    if (size == 0) return 0;
    table = (uint32_t)data[0] * 16 < 4096 ? (uint32_t)data[0] * 16 : 4096;
    hp_enc_init(&enc, table);
    hp_dec_init(&dec);
    nfields = nlongs = block_start = 0;
    nupdates = 0;
    while (off < size) {
        uint8_t c = data[off++];
        field *f;
        if (c >= 0xE0) {
            uint32_t s = (uint32_t)next_byte(data, size, &off) * 16;
            if (nupdates < MAX_UPDATES && nfields == block_start) updates[nupdates++] = s < 4096 ? s : 4096;
            continue;
        }
        if (c >= 0xC0) {
            run_block(next_byte(data, size, &off));
            continue;
        }
        if (nfields == MAX_FIELDS) break;
        f = &fields[nfields];
        f->how = hows[c & 3];
        f->huffman = (c & 4) != 0;
        if (c & 0x20) {
            const field *e;
            uint8_t k = next_byte(data, size, &off);
            if (!nfields) continue;
            e = &fields[k % nfields];
            f->name = e->name, f->nlen = e->nlen, f->value = e->value, f->vlen = e->vlen;
        } else {
            if (c & 8) {
                const gs_hpack_static *s = &hp_static[next_byte(data, size, &off) % HP_STATIC];
                f->name = s->name, f->nlen = s->nlen;
            } else {
                f->nlen = take(data, size, &off, next_byte(data, size, &off), &f->name);
            }
            f->vlen = take(data, size, &off, next_byte(data, size, &off), &f->value);
            if ((c & 0x10) && f->vlen) {
                char *l = malloc(LONG_VALUE + f->vlen);
                size_t n = 0;
                if (!l) abort();
                while (n < LONG_VALUE) memcpy(l + n, f->value, f->vlen), n += f->vlen;
                longs[nlongs++] = l;
                f->value = l, f->vlen = n;
            }
        }
        nfields++;
    }
    run_block(0);
    for (i = 0; i < nlongs; i++) free(longs[i]);
    return 0;
}
