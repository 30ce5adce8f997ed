/*
 * fuzz_proto.c - the protobuf codec (grpcstream.c: pb_decode, pb_put_msg,
 * pb_size_max) under libFuzzer. grpcstream.c is included whole: its pb_
 * functions are static. Built with a small GS_MAX_VALUE (fuzz/run.sh), so
 * strings over the limit fit in an input.
 *
 * Input: byte 0 is the room for a built "why" text (0..127 bytes, a heap
 * block of exactly that size); the rest is one protobuf message, decoded
 * (from a heap copy of exactly its bytes) by every built-in descriptor and
 * by one with every field type at edge field numbers. Checked:
 *   - pb_decode agrees with an independent reference decoder written from
 *     the codec's documented rules (proto3, last value wins, unknown wire
 *     types 0/1/2/5 skipped, groups refused, a 10th varint byte may hold
 *     only bit 63, strings UTF-8 and at most GS_MAX_VALUE bytes): the same
 *     status, and on GS_OK the same values; a failure has a why that fits
 *     its room;
 *   - round trip: what decodes OK is re-encoded (pb_put_msg, into exactly
 *     pb_size_max bytes) in at most as many bytes as the input, decodes
 *     OK to the same message, and re-encodes to the same bytes.
 */
#ifndef GS_NO_MAIN
#define GS_NO_MAIN
#endif
#include "../grpcstream.c"
#include "fuzz_common.h"

#if GS_MAX_FIELDS < 8
#error "fuzz_proto.c needs GS_MAX_FIELDS >= 8"
#endif

static const gs_field every_type_fields[] = {
    GS_FIELD("a", 1, GS_STRING), GS_FIELD("b", 15, GS_UINT64), GS_FIELD("c", 16, GS_BOOL), GS_FIELD("d", 2047, GS_STRING),
    GS_FIELD("e", 2048, GS_UINT64), GS_FIELD("f", 262144, GS_BOOL), GS_FIELD("g", 536870910, GS_UINT64),
    GS_FIELD("h", 536870911, GS_STRING)
};
static const gs_desc every_type = { "EveryType", every_type_fields, 8 };
static const gs_desc *const descs[] = { &watch_request, &log_entry, &chat_message, &append_response, &every_type };

/* ----- the reference decoder ------------------------------------------- */

typedef struct { const uint8_t *p, *end; } ref_pb_in;

static int ref_pb_varint(ref_pb_in *in, uint64_t *v)
{
    int i;
    *v = 0;
    for (i = 0; i < 10; i++) {
        uint8_t b;
        if (in->p == in->end) return -1;
        b = *in->p++;
        if (i == 9 && b > 1) return -1;    /* more than 64 bits, or an 11th byte */
        *v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) return 0;
    }
    return -1;
}

static int ref_pb_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0, l;
    while (i < n) {
        if (!(l = ref_utf8(s + i, n - i))) return 0;
        i += l;
    }
    return 1;
}

/* The status pb_decode must give, and the values on GS_OK. */
static int ref_pb_decode(const gs_desc *d, const uint8_t *buf, size_t len, gs_msg *m)
{
    ref_pb_in in;
    unsigned i;
    in.p = buf;
    in.end = len ? buf + len : buf;
    m->desc = d;
    for (i = 0; i < d->nfields; i++) {
        if (d->fields[i].type == GS_STRING) m->v[i].s.p = "", m->v[i].s.n = 0;
        else m->v[i].u = 0, m->v[i].b = 0;
    }
    while (in.p < in.end) {
        uint64_t key, v = 0;
        const uint8_t *s = NULL;
        unsigned wire, k;
        int f = -1;
        if (ref_pb_varint(&in, &key) || key >> 3 == 0 || key >> 3 > 536870911u) return GS_INTERNAL;
        wire = (unsigned)(key & 7);
        if (wire == 0) {
            if (ref_pb_varint(&in, &v)) return GS_INTERNAL;
        } else if (wire == 1 || wire == 5) {
            unsigned n = wire == 1 ? 8 : 4;
            if ((size_t)(in.end - in.p) < n) return GS_INTERNAL;
            for (k = 0; k < n; k++) v |= (uint64_t)in.p[k] << (8 * k);
            in.p += n;
        } else if (wire == 2) {
            if (ref_pb_varint(&in, &v) || v > (uint64_t)(in.end - in.p)) return GS_INTERNAL;
            s = in.p;
            in.p += v;
        } else {
            return GS_INTERNAL;
        }
        for (k = 0; k < d->nfields; k++)
            if (d->fields[k].number == key >> 3) f = (int)k;
        if (f < 0) continue;
        if (wire != (d->fields[f].type == GS_STRING ? 2u : 0u)) return GS_INTERNAL;
        switch (d->fields[f].type) {
        case GS_STRING:
            if (v > GS_MAX_VALUE) return GS_RESOURCE_EXHAUSTED;
            if (!ref_pb_utf8(s, (size_t)v)) return GS_INTERNAL;
            m->v[f].s.p = (const char *)s, m->v[f].s.n = (size_t)v;
            break;
        case GS_UINT64: m->v[f].u = v; break;
        case GS_BOOL: m->v[f].b = v != 0; break;
        }
    }
    return GS_OK;
}

/* ----- checks ---------------------------------------------------------- */

static void same_msg(const gs_msg *a, const gs_msg *b, const char *what)
{
    unsigned i;
    FUZZ_CHECK(a->desc == b->desc, "%s: descriptors differ", what);
    for (i = 0; i < a->desc->nfields; i++) {
        const gs_field *f = &a->desc->fields[i];
        switch (f->type) {
        case GS_STRING:
            FUZZ_CHECK(a->v[i].s.p && b->v[i].s.p && a->v[i].s.n == b->v[i].s.n &&
                       fuzz_memeq(a->v[i].s.p, b->v[i].s.p, a->v[i].s.n),
                       "%s: %s.%s differs (%zu vs %zu bytes)", what, a->desc->name, f->name, a->v[i].s.n,
                       b->v[i].s.n);
            break;
        case GS_UINT64:
            FUZZ_CHECK(a->v[i].u == b->v[i].u, "%s: %s.%s %llu vs %llu", what, a->desc->name, f->name,
                       (unsigned long long)a->v[i].u, (unsigned long long)b->v[i].u);
            break;
        case GS_BOOL:
            FUZZ_CHECK(!a->v[i].b == !b->v[i].b, "%s: %s.%s %d vs %d", what, a->desc->name, f->name,
                       a->v[i].b, b->v[i].b);
            break;
        }
    }
}

static void one(const gs_desc *d, const char *buf, size_t len, char *why_buf, size_t why_cap)
{
    gs_msg m, ref, again;
    const char *why = NULL;
    size_t max = pb_size_max(d), n1, n2;
    char *e1, *e2;
    int status = pb_decode(d, buf, len, &m, &why, why_buf, why_cap);
    int want = ref_pb_decode(d, (const uint8_t *)buf, len, &ref);
    FUZZ_CHECK(status == want, "%s: pb_decode %d, reference %d (%s)", d->name, status, want, why ? why : "");
    if (status != GS_OK) {
        FUZZ_CHECK(why && *why, "%s: status %d without why", d->name, status);
        if (why == why_buf) FUZZ_CHECK(strlen(why) < why_cap, "%s: why overflows its room", d->name);
        return;
    }
    same_msg(&m, &ref, "pb_decode vs reference");

    e1 = malloc(max ? max : 1);
    e2 = malloc(max ? max : 1);
    if (!e1 || !e2) abort();
    n1 = (size_t)(pb_put_msg(e1, &m) - e1);
    FUZZ_CHECK(n1 <= max && n1 <= len, "%s: re-encoded in %zu bytes (input %zu, max %zu)", d->name, n1, len, max);
    why = NULL;
    status = pb_decode(d, e1, n1, &again, &why, why_buf, why_cap);
    FUZZ_CHECK(status == GS_OK, "%s: re-encoding does not decode: %d %s", d->name, status, why ? why : "");
    same_msg(&m, &again, "round trip");
    n2 = (size_t)(pb_put_msg(e2, &again) - e2);
    FUZZ_CHECK(n2 == n1 && fuzz_memeq(e1, e2, n1), "%s: second encoding differs", d->name);
    free(e1);
    free(e2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t why_cap, len, i;
    char *buf, *why_buf;
    if (size == 0) return 0;
    why_cap = data[0] & 127;
    len = size - 1;
    buf = malloc(len ? len : 1);
    why_buf = malloc(why_cap ? why_cap : 1);
    if (!buf || !why_buf) abort();
    if (len) memcpy(buf, data + 1, len);
    for (i = 0; i < LEN(descs); i++) one(descs[i], len ? buf : NULL, len, why_buf, why_cap);
    free(buf);
    free(why_buf);
    return 0;
}
