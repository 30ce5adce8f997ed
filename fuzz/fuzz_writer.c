/*
 * fuzz_writer.c - the json.dumps writer (json.c) under libFuzzer.
 *
 * The input is a byte string s. gs_json_put_str(s) goes into a heap block
 * of exactly 6 * n + 2 bytes (ASan catches a longer write). Checked:
 *   - the output is pure ASCII without raw control characters or DEL, and
 *     is in json.dumps form;
 *   - it equals an independent encoder's output byte for byte (UTF-8 and
 *     WTF-8 as code points, any other byte as U+FFFD, as json.c says);
 *   - scanned back by gs_json_* (in chunks, the string wanted into an
 *     exactly sized sink) it gives the input back when the input is valid
 *     UTF-8, and in general what the reference decoding gives;
 *   - gs_json_put_u64 / gs_json_put_int of the first 8 bytes match printf.
 */
#include "../grpcstream.h"
#include "fuzz_common.h"

#include <inttypes.h>

static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t l = ref_utf8(s + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out, *ref, *line, *sink;
    unsigned char *expect;
    size_t cap = 6 * size + 2, out_len, ref_len, i, line_len, expect_len;
    const char *p, *end;
    gs_json j;
    int got_member = 0, got_value = 0, got_line = 0;
    fuzz_rng rng;
    static const uint8_t empty[1];

    /* An empty input may come as a NULL pointer: nothing below may then
     * pass it to memcmp or to the writer (UBSan: null argument). */
    if (size == 0) data = empty;

    /* numbers */
    if (size >= 8) {
        uint64_t v;
        char a[32], b[32];
        memcpy(&v, data, 8);
        *gs_json_put_u64(a, v) = '\0';
        snprintf(b, sizeof b, "%" PRIu64, v);
        FUZZ_CHECK(strcmp(a, b) == 0, "put_u64: %s vs %s", a, b);
        *gs_json_put_int(a, 1, v) = '\0';
        if (v) snprintf(b, sizeof b, "-%" PRIu64, v);
        FUZZ_CHECK(strcmp(a, b) == 0, "put_int(neg): %s vs %s", a, b);
    }

    out = malloc(cap);
    ref = malloc(cap);
    if (!out || !ref) abort();
    out_len = (size_t)(gs_json_put_str(out, (const char *)data, size) - out);
    FUZZ_CHECK(out_len <= cap, "wrote %zu bytes, room %zu", out_len, cap);
    for (i = 0; i < out_len; i++)
        FUZZ_CHECK((unsigned char)out[i] >= 0x20 && (unsigned char)out[i] < 0x7F,
                   "byte 0x%02x at %zu of the output", (unsigned char)out[i], i);
    FUZZ_CHECK(dumps_line("{\"\": \"\"}", 8), "self-test");
    {
        /* json.dumps form, as an object member so dumps_line applies */
        char *obj = malloc(out_len + 8);
        if (!obj) abort();
        memcpy(obj, "{\"s\": ", 6);
        memcpy(obj + 6, out, out_len);
        obj[6 + out_len] = '}';
        FUZZ_CHECK(dumps_line(obj, out_len + 7), "output not in json.dumps form: %.*s",
                   (int)(out_len > 200 ? 200 : out_len), out);
        free(obj);
    }
    ref_len = (size_t)(ref_put_str(ref, data, size) - ref);
    FUZZ_CHECK(ref_len == out_len && fuzz_memeq(ref, out, out_len),
               "writer differs from the reference:\n  got  %.*s\n  want %.*s",
               (int)(out_len > 300 ? 300 : out_len), out, (int)(ref_len > 300 ? 300 : ref_len), ref);

    /* scan it back */
    expect = malloc(3 * size + 1);      /* U+FFFD is 3 bytes for 1 */
    if (!expect) abort();
    expect_len = ref_roundtrip(expect, data, size);
    if (valid_utf8(data, size))
        FUZZ_CHECK(expect_len == size && fuzz_memeq(expect, data, size), "reference round trip");

    line_len = out_len + 8;
    line = malloc(line_len);
    sink = malloc(expect_len ? expect_len : 1);
    if (!line || !sink) abort();
    memcpy(line, "{\"s\": ", 6);
    memcpy(line + 6, out, out_len);
    line[6 + out_len] = '}';
    line[7 + out_len] = '\n';
    gs_json_reset(&j);
    rng_seed(&rng, size ? data[0] : 0);
    p = line;
    end = line + line_len;
    while (p < end) {
        size_t take = rng_next(&rng) % 16 + 1;
        const char *cend = p + take > end ? end : p + take;
        while (p < cend) {
            int ev = gs_json_next(&j, &p, cend);
            if (ev == GS_JSON_MORE) break;
            if (ev == GS_JSON_MEMBER) {
                FUZZ_CHECK(j.key_len == 1 && j.key[0] == 's', "unexpected member");
                got_member = 1;
                gs_json_want(&j, sink, expect_len);
            } else if (ev == GS_JSON_VALUE && got_member) {
                FUZZ_CHECK(j.kind == GS_JV_STRING, "kind %u", j.kind);
                FUZZ_CHECK(!j.str_over, "str_over: scanned back longer than %zu", expect_len);
                FUZZ_CHECK(j.str_len == expect_len && fuzz_memeq(sink, expect, expect_len),
                           "round trip differs (%zu bytes vs %zu expected)", j.str_len, expect_len);
                got_value = 1;
            } else if (ev == GS_JSON_LINE) {
                FUZZ_CHECK(j.status == GS_JL_OK, "scanner rejects the writer's output");
                got_line = 1;
            }
        }
    }
    FUZZ_CHECK(got_member && got_value && got_line, "events missing");
    free(out);
    free(ref);
    free(expect);
    free(line);
    free(sink);
    return 0;
}
